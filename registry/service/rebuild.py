"""Rebuilding everything derived from the envelopes: Merkle nodes and the query tables.

The envelopes in ``log_entries`` are the truth; ``prov rebuild`` recomputes the rest from them
under the writer lock, in one transaction, after ``prov verify --full`` reported a damaged
derived table. It cannot launder tampering: the signed checkpoints anchor the log, so an edited
envelope still fails verification after a rebuild, while derived rows that were edited come back
as the envelopes say.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select

from provenance import merkle
from provenance.dsse import Envelope
from provenance.errors import ProvenanceError
from provenance.logentry import leaf_input
from provenance.records import validate_record
from registry import db
from registry.db.derive import derive
from registry.db.merkle_log import node_key
from registry.db.tables import T_ENTRIES, T_KEYS, T_LINKS, T_LOCATIONS, T_NODES, T_RECORDS, T_TAGS
from registry.service.writer import write_derived

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["rebuild"]

_BATCH = 2000


def rebuild(reg: Registry) -> dict[str, Any]:
    """Recompute Merkle nodes and derived tables from the envelopes; returns counts."""
    e = T_ENTRIES
    with db.write_tx(reg.engine) as conn:
        for table in (T_RECORDS, T_LINKS, T_TAGS, T_KEYS, T_LOCATIONS, T_NODES):
            conn.execute(delete(table))
        leaves: dict[int, bytes] = {}
        skipped: list[int] = []
        records = entries = 0
        seq_of: dict[str, int] = {}  # links only point backwards: every target is seen first
        last = conn.execute(select(func.max(e.c.seq))).scalar()
        for start in range(0, -1 if last is None else int(last) + 1, _BATCH):
            # One range at a time: a million envelopes never sit in memory together.
            rows = conn.execute(
                select(e.c.seq, e.c.record_id, e.c.envelope, e.c.logged_at)
                .where(e.c.seq >= start, e.c.seq < start + _BATCH)
                .order_by(e.c.seq)
            ).all()
            batch = []
            for seq, rid, env, logged_at in rows:
                seq = int(seq)
                entries += 1
                seq_of[rid] = seq
                leaves[seq] = merkle.leaf_hash(leaf_input(bytes(env), rid, logged_at, seq))
                try:
                    record = json.loads(Envelope.from_bytes(bytes(env)).payload)
                    validate_record(record)
                except (ProvenanceError, ValueError):
                    skipped.append(seq)  # verify --full reports it; nothing can be derived
                    continue
                batch.append(derive(rid, seq, record, seq_of))
            if batch:
                write_derived(conn, batch)
                records += len(batch)
        nodes = _write_nodes(conn, leaves)
    return {"entries": entries, "records": records, "nodes": nodes, "skipped": skipped}


def _write_nodes(conn: Connection, leaves: dict[int, bytes]) -> int:
    """Every complete subtree over consecutive leaves (a gap leaves its ancestors out)."""
    level, current, count = 0, leaves, 0
    t = T_NODES
    while current:
        rows = [{"node": node_key(level, i), "hash": h} for i, h in sorted(current.items())]
        for i in range(0, len(rows), _BATCH):
            conn.execute(insert(t), rows[i : i + _BATCH])
        count += len(rows)
        current = {
            i // 2: merkle.node_hash(h, current[i + 1])
            for i, h in current.items()
            if i % 2 == 0 and i + 1 in current
        }
        level += 1
    return count
