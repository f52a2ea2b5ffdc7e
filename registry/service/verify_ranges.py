"""``prov verify --full``: the per-record checks, split so both cores do the work.

A log is cut into ranges of sequence numbers. Each range is checked on its own, in a worker
process with its own database connection (:func:`check_range`): the envelope decodes, the record
hashes to its id and is canonical and valid, the entry hashes to its stored leaf, every signature
verifies with the key its key id names (key ids are hashes of the keys, so that lookup cannot be
forged), links point to records logged earlier, and the order-free derived tables (records, links,
tags) hold exactly what the records say. Only what depends on log order comes back to the main
process: which key signed what, and the key and location records, from which
:class:`TrustReplay` decides which keys the log trusted at each position.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from provenance import merkle
from provenance.canonical import parse_canonical
from provenance.dsse import Envelope
from provenance.errors import ProvenanceError, SignatureError
from provenance.keys import verify_signature
from provenance.logentry import leaf_input
from provenance.records import record_id, validate_record
from registry import db
from registry.db.derive import Derived, DerivedTables, derive, key_trusted, link_key
from registry.db.tables import T_ENTRIES, T_LINKS, T_NODES, T_RECORDS, T_TAGS

__all__ = ["RangeResult", "TrustReplay", "check_range", "check_range_in_worker", "problem"]


Signatures = tuple[tuple[str, bool | None], ...]


def problem(
    kind: str, detail: str, seq: int | None = None, rid: str | None = None
) -> dict[str, Any]:
    """One entry of ``prov verify``'s ``problems`` list."""
    p: dict[str, Any] = {"problem": kind, "detail": detail}
    if seq is not None:
        p["seq"] = seq
    if rid is not None:
        p["id"] = rid
    return p


@dataclass
class RangeResult:
    """What one range's check found, and what the main process needs to replay trust."""

    problems: list[dict[str, Any]] = field(default_factory=list)
    #: (seq, record id, [(key id, signature valid; None if the key is unknown)]) per record
    #: whose envelope decoded.
    signed: list[tuple[int, str, Signatures]] = field(default_factory=list)
    #: Records that change order-dependent tables: keys, revocations, storage locations.
    ordered: list[Derived] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"records": 0, "links": 0, "tags": 0})
    entries: int = 0
    signatures: int = 0


def _in_chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def check_range(
    conn: Connection, start: int, end: int, pubkeys: Mapping[str, bytes]
) -> RangeResult:
    """Check the log entries with ``start <= seq < end``."""
    out = RangeResult()
    leaves = {
        int(n): bytes(h)
        for n, h in conn.execute(
            select(T_NODES.c.node, T_NODES.c.hash).where(
                T_NODES.c.node >= start, T_NODES.c.node < end
            )
        )
    }
    rows = conn.execute(
        select(T_ENTRIES.c.seq, T_ENTRIES.c.record_id, T_ENTRIES.c.envelope, T_ENTRIES.c.logged_at)
        .where(T_ENTRIES.c.seq >= start, T_ENTRIES.c.seq < end)
        .order_by(T_ENTRIES.c.seq)
    )
    derived: list[Derived] = []
    expected, last_logged_at = start, ""
    for seq, rid, env_bytes, logged_at in rows:
        seq = int(seq)
        if seq != expected:
            out.problems.append(
                problem(
                    "log-gap", f"entries {expected}..{seq - 1} are missing (deleted?)", expected
                )
            )
        expected = seq + 1
        if logged_at < last_logged_at:
            out.problems.append(
                problem(
                    "logged-at-backwards",
                    f"logged at {logged_at}, before the entry ahead of it ({last_logged_at})",
                    seq,
                    rid,
                )
            )
        last_logged_at = max(logged_at, last_logged_at)
        out.entries += 1
        d = _check_entry(out, seq, rid, bytes(env_bytes), logged_at, leaves.get(seq), pubkeys)
        if d is not None:
            derived.append(d)
    if expected != end:
        out.problems.append(
            problem("log-gap", f"entries {expected}..{end - 1} are missing (deleted?)", expected)
        )
    _check_links(conn, out, derived)
    _compare_range(conn, out, derived, start, end)
    out.ordered = [d for d in derived if d.key or d.revokes or d.location]
    return out


def _check_entry(
    out: RangeResult,
    seq: int,
    rid: str,
    env_bytes: bytes,
    logged_at: str,
    stored_leaf: bytes | None,
    pubkeys: Mapping[str, bytes],
) -> Derived | None:
    if stored_leaf is None:
        out.problems.append(problem("missing-leaf", "no leaf hash stored for this entry", seq, rid))
    elif merkle.leaf_hash(leaf_input(env_bytes, rid, logged_at, seq)) != stored_leaf:
        out.problems.append(
            problem(
                "leaf-mismatch",
                "the entry (envelope, id, logged_at or seq) does not hash to its logged leaf",
                seq,
                rid,
            )
        )
    try:  # the envelope's bytes are bound by the leaf hash checked above
        envelope = Envelope.from_bytes(env_bytes)
    except ProvenanceError as e:
        out.problems.append(problem("bad-envelope", str(e), seq, rid))
        return None
    payload = envelope.payload
    if record_id(payload) != rid:
        out.problems.append(
            problem(
                "id-mismatch", f"payload hashes to {record_id(payload)}, not to its id", seq, rid
            )
        )
    message = envelope.pae()
    sigs = []
    for s in envelope.signatures:
        pub = pubkeys.get(s.keyid)
        valid: bool | None = None
        if pub is not None:
            try:
                verify_signature(pub, s.sig, message)
                valid = True
            except SignatureError:
                valid = False
        sigs.append((s.keyid, valid))
    out.signatures += len(sigs)
    out.signed.append((seq, rid, tuple(sigs)))
    try:
        record, canonical = parse_canonical(payload)
        if not canonical:
            raise ProvenanceError("payload is not canonical JSON")
        validate_record(record)
        return derive(rid, seq, record, {})  # link targets' positions: _check_links
    except (ProvenanceError, ValueError) as e:
        out.problems.append(problem("invalid-record", str(e), seq, rid))
        return None


def _check_links(conn: Connection, out: RangeResult, derived: Sequence[Derived]) -> None:
    targets = sorted({ln["dst"] for d in derived for ln in d.links})
    seq_of: dict[str, int] = {}
    for chunk in _in_chunks(targets):
        seq_of.update(
            (rid, int(seq))
            for rid, seq in conn.execute(
                select(T_ENTRIES.c.record_id, T_ENTRIES.c.seq).where(
                    T_ENTRIES.c.record_id.in_(chunk)
                )
            )
        )
    for d in derived:
        seq = d.record["seq"]
        for ln in d.links:
            target = seq_of.get(ln["dst"])
            ln["dst_seq"] = -1 if target is None else target
            if target is None or target >= seq:
                out.problems.append(
                    problem(
                        "link-forward",
                        f"links to {ln['dst']}, which is not logged before it",
                        seq,
                        d.record["id"],
                    )
                )


def _compare_range(
    conn: Connection, out: RangeResult, derived: Sequence[Derived], start: int, end: int
) -> None:
    want = DerivedTables()
    for d in derived:
        want.records[d.record["id"]] = d.record
        want.links.update(link_key(ln) for ln in d.links)
        want.tags.update({(t["record_id"], t["key"]): t["value"] for t in d.tags})
    out.counts = {"records": len(want.records), "links": len(want.links), "tags": len(want.tags)}
    cols = [c.name for c in T_RECORDS.columns]
    have_records = {}
    for row in conn.execute(
        select(T_RECORDS).where(T_RECORDS.c.seq >= start, T_RECORDS.c.seq < end)
    ).all():
        r = dict(zip(cols, row, strict=True))
        r["seq"] = int(r["seq"])
        r["size"] = None if r["size"] is None else int(r["size"])
        have_records[r["id"]] = r
    ids = sorted(want.records)
    have_links: set[tuple[str, str, str, int, int]] = set()
    have_tags: dict[tuple[str, str], str] = {}
    for chunk in _in_chunks(ids):
        have_links.update(
            link_key(row)
            for row in conn.execute(select(T_LINKS).where(T_LINKS.c.src.in_(chunk))).mappings()
        )
        have_tags.update(
            ((rid, k), v)
            for rid, k, v in conn.execute(
                select(T_TAGS.c.record_id, T_TAGS.c.key, T_TAGS.c.value).where(
                    T_TAGS.c.record_id.in_(chunk)
                )
            )
        )
    compare_rows(out.problems, "records", have_records, want.records, lambda k: k)
    compare_rows(
        out.problems,
        "links",
        dict.fromkeys(have_links, True),
        dict.fromkeys(want.links, True),
        lambda k: k[0],
    )
    compare_rows(out.problems, "tags", have_tags, want.tags, lambda k: k[0])


def compare_rows(
    problems: list[dict[str, Any]],
    table: str,
    have: Mapping[Any, Any],
    want: Mapping[Any, Any],
    rid_of: Any,
) -> None:
    """Report every row that is extra, missing or different in a derived table."""
    if have == want:
        return
    for key in sorted(have.keys() | want.keys(), key=repr):
        if key not in want:
            what = "is not in any record"
        elif key not in have:
            what = "is missing"
        elif have[key] != want[key]:
            what = f"differs from its record: {have[key]} instead of {want[key]}"
        else:
            continue
        problems.append(
            problem("derived-mismatch", f"table {table}: row {key} {what}", rid=rid_of(key))
        )


_worker_engine: Engine | None = None


def init_worker(url: str) -> None:
    """Process-pool initializer: each worker opens its own connection pool."""
    global _worker_engine
    _worker_engine = db.connect(url)


def check_range_in_worker(start: int, end: int, pubkeys: Mapping[str, bytes]) -> RangeResult:
    assert _worker_engine is not None, "init_worker was not called"
    with db.read_tx(_worker_engine) as conn:
        return check_range(conn, start, end, pubkeys)


class TrustReplay:
    """Replays the log in order: which keys were trusted when, and where bytes were stored."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.tables = DerivedTables()
        self.problems = problems

    def apply(self, result: RangeResult) -> None:
        ordered = {d.record["seq"]: d for d in result.ordered}
        for seq, rid, sigs in result.signed:
            d = ordered.get(seq)
            if d is not None:  # a key counts from its own record on (the genesis signs itself)
                self.tables.apply(d)
            self._signatures(seq, rid, sigs)

    def _signatures(self, seq: int, rid: str, sigs: Signatures) -> None:
        trusted = bad = 0
        for keyid, valid in sigs:
            key = self.tables.keys.get(keyid)
            if key is None or key["role"] != "signer" or not key_trusted(key, seq):
                continue  # a signature by a key the log did not trust then does not count
            if valid:
                trusted += 1
                continue
            bad += 1
            detail = (
                f"signature by key {keyid[:12]} does not verify"
                if valid is False
                else f"key {keyid[:12]} is missing from the keys table: signature not checked"
            )
            self.problems.append(problem("bad-signature", detail, seq, rid))
        if not trusted and not bad:
            self.problems.append(
                problem(
                    "untrusted-signature",
                    "no signature by a signer key that the log trusted at this position",
                    seq,
                    rid,
                )
            )
