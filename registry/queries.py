"""Read-side queries of the service: show, log, checkpoints and proofs.

Each takes the open :class:`~registry.service.Registry`; the registry exposes them as methods.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from provenance.checkpoint import SignedNote
from provenance.dsse import Envelope
from provenance.errors import ProvenanceError, RefError
from provenance.records import id_prefix
from provenance.timefmt import parse_time, utcnow
from registry import db
from registry.derive import key_trusted
from registry.errors import InputError, NotFoundError
from registry.tables import KeyRow, LocationRow, LogEntry, RecordRow, TagRow
from retention.policy import retention_of

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = [
    "checkpoint",
    "consistency_proof",
    "inclusion_proof",
    "log",
    "policies",
    "resolve_in",
    "show",
]

T_ENTRIES = LogEntry.__table__  # type: ignore[attr-defined]
T_RECORDS = RecordRow.__table__  # type: ignore[attr-defined]
T_KEYS = KeyRow.__table__  # type: ignore[attr-defined]
T_LOCATIONS = LocationRow.__table__  # type: ignore[attr-defined]
T_TAGS = TagRow.__table__  # type: ignore[attr-defined]


_LOCATION_FIELDS = ("store", "uri", "version", "present", "attestation")


def show(reg: Registry, ref: str, now: datetime | None = None) -> dict[str, Any]:
    """A record with its envelope, verified signatures, log position, locations, retention."""
    with db.read_tx(reg.engine) as conn:
        rid = resolve_in(conn, ref)
        ((seq, env_bytes, logged_at),) = db.query(
            conn,
            "SELECT seq, envelope, logged_at FROM log_entries WHERE record_id = :r",
            {"r": rid},
        )
        envelope = Envelope.from_bytes(bytes(env_bytes))
        record = json.loads(envelope.payload)
        keys, in_force = _trust_and_policies(reg, conn)
        from registry.retain import holds_in_force, tombstones

        holds = holds_in_force(conn, rid).get(rid, [])
        tombstone = tombstones(conn, rid).get(rid)
        locations = [
            dict(zip(_LOCATION_FIELDS, (*r[:3], bool(r[3]), r[4]), strict=True))
            for r in db.query(
                conn,
                "SELECT store, uri, version, present, attestation_id FROM locations "
                "WHERE record_id = :r ORDER BY store, uri",
                {"r": rid},
            )
        ]
    signatures = []
    for s in envelope.signatures:
        key = keys.get(s.keyid)
        valid = False
        if key is not None and key["role"] == "signer" and key_trusted(key, seq):
            try:
                envelope.verify(s.keyid, base64.b64decode(key["public_key"]))
                valid = True
            except ProvenanceError:
                valid = False
        signatures.append({"keyid": s.keyid, "valid": valid})
    retention = retention_of(record, parse_time(logged_at), in_force)
    return {
        "id": rid,
        "record": record,
        "envelope": envelope.to_json(),
        "seq": int(seq),
        "logged_at": logged_at,
        "signatures": signatures,
        "locations": locations,
        "retention": retention.to_json(now or utcnow()) | {"holds": holds, "tombstone": tombstone},
    }


def _trust_and_policies(
    reg: Registry, conn: Connection
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The keys table and the policies in force, read again only when the log has grown
    (they change only by appends): ``show`` is the API's most frequent request."""
    ((last,),) = db.query(conn, "SELECT MAX(seq) FROM log_entries", {})
    size = -1 if last is None else int(last)
    cached = reg._read_cache
    if cached is None or cached[0] != size:
        keys = {r["keyid"]: dict(r) for r in conn.execute(select(T_KEYS)).mappings()}
        cached = reg._read_cache = (size, keys, policies(reg, conn))
    return cached[1], cached[2]


def policies(reg: Registry, conn: Connection) -> list[tuple[str, dict[str, Any]]]:
    ids = conn.execute(select(T_RECORDS.c.id).where(T_RECORDS.c.kind == "policy")).scalars()
    out = []
    for pid in ids:
        entry = reg._entry(conn, pid)
        if entry:
            out.append((pid, entry.record))
    return out


def log(
    reg: Registry,
    kind: str | None = None,
    name: str | None = None,
    limit: int | None = None,
    tag: tuple[str, str | None] | None = None,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Records newest first (``prov log``); ``name`` is a glob; ``tag`` is (key, value), a
    None value matching any; ``before`` is a cursor: only records logged before that seq."""
    q = select(
        T_RECORDS.c.id,
        T_RECORDS.c.kind,
        T_RECORDS.c.name,
        T_RECORDS.c.seq,
        T_ENTRIES.c.logged_at,
    ).join(T_ENTRIES, T_ENTRIES.c.seq == T_RECORDS.c.seq)
    if kind:
        q = q.where(T_RECORDS.c.kind == kind)
    if name:
        like = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = like.replace("*", "%").replace("?", "_")
        q = q.where(T_RECORDS.c.name.like(like, escape="\\"))
    if tag:
        has = select(T_TAGS.c.record_id).where(T_TAGS.c.key == tag[0])
        if tag[1] is not None:
            has = has.where(T_TAGS.c.value == tag[1])
        q = q.where(T_RECORDS.c.id.in_(has))
    if before is not None:
        q = q.where(T_RECORDS.c.seq < before)
    q = q.order_by(T_RECORDS.c.seq.desc())
    if limit:
        q = q.limit(limit)
    with db.read_tx(reg.engine) as conn:
        return [dict(r) | {"seq": int(r["seq"])} for r in conn.execute(q).mappings()]


def checkpoint(reg: Registry) -> dict[str, Any]:
    """The latest signed checkpoint (``prov checkpoint --json``)."""
    with db.read_tx(reg.engine) as conn:
        latest = reg.merkle.latest_checkpoint(conn)
    if latest is None:
        raise NotFoundError("the log has no checkpoint yet")
    note = SignedNote.parse(latest[1])
    return {
        "origin": note.checkpoint.origin,
        "tree_size": note.checkpoint.size,
        "root": note.checkpoint.root.hex(),
        "note": latest[1],
        "public_key": reg._signer(reg.config.log_key).public_b64,
    }


def _size(reg: Registry, conn: Connection, size: int | None) -> int:
    current = reg.merkle.size(conn)
    if size is None:
        return current
    if not 0 < size <= current:
        raise InputError(f"tree size must be between 1 and {current}, got {size}")
    return size


def inclusion_proof(reg: Registry, ref: str, size: int | None = None) -> dict[str, Any]:
    """RFC 9162 inclusion proof of a record in the tree of ``size`` (default: current)."""
    rid = reg.resolve(ref)
    with db.read_tx(reg.engine) as conn:
        seq = int(
            conn.execute(select(T_ENTRIES.c.seq).where(T_ENTRIES.c.record_id == rid)).scalar_one()
        )
        n = _size(reg, conn, size)
        if seq >= n:
            raise InputError(f"record {rid[7:19]} is leaf {seq}, not in a tree of size {n}")
        proof = reg.merkle.inclusion(conn, seq, n)
        leaf = reg.merkle.leaf(conn, seq)
        root = reg.merkle.root(conn, n)
    return {
        "id": rid,
        "leaf_index": seq,
        "tree_size": n,
        "leaf_hash": leaf.hex(),
        "hashes": [h.hex() for h in proof],
        "root": root.hex(),
    }


def consistency_proof(reg: Registry, old: int, new: int | None = None) -> dict[str, Any]:
    """RFC 9162 consistency proof between two tree sizes."""
    with db.read_tx(reg.engine) as conn:
        n = _size(reg, conn, new)
        if not 0 < old <= n:
            raise InputError(f"old size must be between 1 and {n}, got {old}")
        proof = reg.merkle.consistency(conn, old, n)
        old_root, new_root = reg.merkle.root(conn, old), reg.merkle.root(conn, n)
    return {
        "old_size": old,
        "new_size": n,
        "old_root": old_root.hex(),
        "new_root": new_root.hex(),
        "hashes": [h.hex() for h in proof],
    }


def resolve_in(conn: Connection, ref: str) -> str:
    """:meth:`Registry.resolve <registry.service.Registry.resolve>` inside a caller's
    transaction.

    Raises:
        NotFoundError: malformed, unknown or ambiguous.
    """
    try:
        prefix = id_prefix(ref)
    except RefError as e:
        raise NotFoundError(str(e)) from None
    lo = "sha256:" + prefix
    ids = [
        r[0]
        for r in db.query(
            conn,
            "SELECT record_id FROM log_entries WHERE record_id >= :lo AND record_id <= :hi "
            "LIMIT 10",
            {"lo": lo, "hi": lo + "g"},
        )
    ]
    if not ids:
        raise NotFoundError(f"no record {ref}")
    if len(ids) > 1:
        raise NotFoundError(f"{ref} is ambiguous: " + ", ".join(i[7:19] for i in ids))
    return str(ids[0])
