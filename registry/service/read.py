"""Reading the registry: records by reference and digest, ``show``, ``log``, checkpoints and
proofs, and the read-side state of retention (holds in force, tombstones, present locations).

Functions take the open :class:`~registry.service.Registry` (or a connection inside a caller's
transaction); the registry exposes them as methods. Nothing here writes.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from provenance.checkpoint import SignedNote
from provenance.digests import Digest
from provenance.dsse import Envelope
from provenance.errors import ProvenanceError, RefError
from provenance.keys import key_id
from provenance.records import id_prefix, short_id
from provenance.timefmt import parse_time, utcnow
from registry import db
from registry.db.derive import key_trusted
from registry.db.tables import T_ENTRIES, T_KEYS, T_RECORDS, T_TAGS
from registry.errors import InputError, NotFoundError
from registry.results import Registered
from registry.workspace.hashing import lookup_target
from retention.holds import active_holds
from retention.policy import retention_of

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = [
    "authenticated_keys",
    "checkpoint",
    "consistency_proof",
    "entry",
    "envelope_size",
    "get",
    "holds_in_force",
    "inclusion_proof",
    "log",
    "lookup",
    "lookup_digest",
    "payload",
    "policies",
    "present",
    "resolve",
    "resolve_in",
    "show",
    "tombstones",
]

_HOLD_EVENTS = """
    SELECT r.id, l.dst, e.envelope FROM records r
    JOIN links l ON l.src = r.id AND l.rel = 'about'
    JOIN log_entries e ON e.seq = r.seq
    WHERE r.kind = 'attestation' AND r.name IN ('legal-hold', 'hold-release') {about}
    ORDER BY r.seq"""
_TOMBSTONED = """
    SELECT l.dst, r.id FROM records r JOIN links l ON l.src = r.id AND l.rel = 'about'
    WHERE r.kind = 'tombstone' {about}"""
_PRESENT = """
    SELECT store, uri FROM locations WHERE record_id = :rid AND present = :yes
    ORDER BY store, uri"""
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
    signatures = [
        {"keyid": s.keyid, "valid": _counts(envelope, s.keyid, keys.get(s.keyid), int(seq))}
        for s in envelope.signatures
    ]
    logged = parse_time(logged_at)
    retention = retention_of(record, logged, in_force)
    return {
        "id": rid,
        "record": record,
        "envelope": envelope.to_json(),
        "seq": int(seq),
        "logged_at": logged_at,
        # How far the record's own date precedes its entry in the log: a writer chooses its
        # created_at, and retention counts from it (a back-dated record expires early).
        "backdated_s": max(0, int((logged - parse_time(record["created_at"])).total_seconds())),
        "signatures": signatures,
        "locations": locations,
        "retention": retention.to_json(now or utcnow()) | {"holds": holds, "tombstone": tombstone},
    }


def authenticated_keys(conn: Connection) -> dict[str, dict[str, Any]]:
    """The ``keys`` rows that their ``key`` records in the log bear out, by key id.

    The ``keys`` table is derived, so a row inserted or edited there must not make a forged
    signature or checkpoint count. A row counts only when the log entry it names is a ``key``
    record for that public key and role, logged at the row's position, and signed by a signer
    key that counts at that position (the genesis key, at 0, by itself). Revocations are read
    from the table; ``prov verify --full`` replays them, and every other row, from the log.
    """
    rows = {r["record_id"]: dict(r) for r in conn.execute(select(T_KEYS)).mappings()}
    found = db.query_in(
        conn, "SELECT seq, record_id, envelope FROM log_entries WHERE record_id IN ({})", rows
    )
    trusted: dict[str, dict[str, Any]] = {}
    for seq, rid, env in sorted(found, key=lambda f: int(f[0])):
        row, seq = rows[rid], int(seq)
        try:
            envelope = Envelope.from_bytes(bytes(env))
            record = json.loads(envelope.payload)
            attrs = record["attributes"]
            public = base64.b64decode(attrs["public_key"])
        except (ProvenanceError, ValueError, KeyError, TypeError):
            continue
        if (
            record.get("kind") != "key"
            or attrs.get("role") != row["role"]
            or attrs.get("public_key") != row["public_key"]
            or key_id(public) != row["keyid"]
            or int(row["registered_seq"]) != seq
        ):
            continue
        signers = dict(trusted)
        if seq == 0:
            signers[row["keyid"]] = row  # the genesis key signs itself
        if any(_counts(envelope, s.keyid, signers.get(s.keyid), seq) for s in envelope.signatures):
            trusted[row["keyid"]] = row
    return trusted


def _counts(envelope: Envelope, keyid: str, key: dict[str, Any] | None, seq: int) -> bool:
    """Whether the signature by ``keyid`` counts at ``seq``: a signer key trusted then, and it
    verifies."""
    if key is None or key["role"] != "signer" or not key_trusted(key, seq):
        return False
    try:
        envelope.verify(keyid, base64.b64decode(key["public_key"]))
    except ProvenanceError:
        return False
    return True


def _trust_and_policies(
    reg: Registry, conn: Connection
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The keys table and the policies in force, read again only when the log has grown
    (they change only by appends): ``show`` is the API's most frequent request."""
    ((last,),) = db.query(conn, "SELECT MAX(seq) FROM log_entries", {})
    size = -1 if last is None else int(last)
    cached = reg.read_cache
    if cached is None or cached[0] != size:
        cached = reg.read_cache = (size, authenticated_keys(conn), policies(conn))
    return cached[1], cached[2]


def policies(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
    """The retention policies in force: (id, record)."""
    ids = conn.execute(select(T_RECORDS.c.id).where(T_RECORDS.c.kind == "policy")).scalars()
    return [(pid, found.record) for pid in ids if (found := entry(conn, pid))]


def entry(conn: Connection, rid: str) -> Registered | None:
    """A logged record by its full id (``existing`` set: it was there before), or None."""
    found = db.query(
        conn,
        "SELECT seq, envelope, logged_at FROM log_entries WHERE record_id = :rid",
        {"rid": rid},
    )
    if not found:
        return None
    seq, envelope, logged_at = found[0]
    return Registered(rid, int(seq), payload(envelope), str(logged_at), existing=True)


def payload(envelope: bytes) -> dict[str, Any]:
    """The record an envelope (as stored) signs."""
    return json.loads(Envelope.from_bytes(bytes(envelope)).payload)  # type: ignore[no-any-return]


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
        "public_key": reg.writer.signer(reg.config.log_key).public_b64,
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
            raise InputError(f"record {short_id(rid)} is leaf {seq}, not in a tree of size {n}")
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
        raise NotFoundError(f"{ref} is ambiguous: " + ", ".join(short_id(i) for i in ids))
    return str(ids[0])


def envelope_size(reg: Registry, ref: str) -> int:
    """The bytes of the largest envelope ``ref`` may name, as logged (a length the database
    knows without reading them): how much reading and encoding the record will cost. One
    indexed read outside a transaction; 0 for a reference that names nothing (``show`` then
    says why)."""
    try:
        lo = "sha256:" + id_prefix(ref)
    except RefError:
        return 0
    row = db.fetch_one(
        reg.engine,
        "SELECT max(length(envelope)) FROM log_entries WHERE record_id >= :lo AND record_id <= :hi",
        {"lo": lo, "hi": lo + "g"},
    )
    return int(row[0]) if row and row[0] is not None else 0


def resolve(reg: Registry, ref: str) -> str:
    """A record id from a full id or a unique prefix of at least 6 hex digits.

    Raises:
        NotFoundError: malformed, unknown or ambiguous.
    """
    with db.read_tx(reg.engine) as conn:
        return resolve_in(conn, ref)


def get(reg: Registry, ref: str) -> Registered:
    """One record as it stands in the log."""
    rid = resolve(reg, ref)
    with db.read_tx(reg.engine) as conn:
        found = entry(conn, rid)
    assert found is not None
    found.existing = False
    return found


def lookup(reg: Registry, target: str) -> list[dict[str, Any]]:
    """Records whose bytes are a file's, a directory's, or a digest (``sha256:``/``md5:``).

    Raises:
        InputError: neither an existing path nor a well-formed digest.
    """
    algorithm, hex_digest = lookup_target(target, lambda p: reg.hasher(p, store=False))
    return lookup_digest(reg, algorithm, hex_digest)


def lookup_digest(reg: Registry, algorithm: str, hex_digest: str) -> list[dict[str, Any]]:
    """Records whose bytes have this digest (``GET /v1/lookup``): never reads a file.

    Raises:
        InputError: not ``sha256`` or ``md5`` with a hex digest of its length.
    """
    try:
        digest = Digest.parse(f"{algorithm}:{hex_digest}")
    except ProvenanceError as e:
        raise InputError(str(e)) from None
    column = T_RECORDS.c.sha256 if digest.algorithm == "sha256" else T_RECORDS.c.md5
    with db.read_tx(reg.engine) as conn:
        rows = conn.execute(
            select(T_RECORDS.c.id, T_RECORDS.c.kind, T_RECORDS.c.name)
            .where(column == digest.hex)
            .order_by(T_RECORDS.c.seq)
        ).mappings()
        return [dict(r) for r in rows]


# ---------------------------------------------------------------------------- retention state


def holds_in_force(conn: Connection, about: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Holds in force: record id -> each hold's id, reason, principal and time."""
    where, params = ("AND l.dst = :about", {"about": about}) if about else ("", {})
    events, records = [], {}
    for aid, dst, envelope in db.query(conn, _HOLD_EVENTS.format(about=where), params):
        rec = payload(envelope)
        attrs = rec.get("attributes", {})
        events.append((aid, attrs.get("predicate"), dst, attrs.get("body") or {}))
        records[aid] = rec
    return {
        rid: [
            {
                "id": h,
                "reason": records[h]["attributes"].get("body", {}).get("reason"),
                "by": records[h].get("created_by"),
                "at": records[h]["created_at"],
            }
            for h in holds
        ]
        for rid, holds in active_holds(events).items()
    }


def tombstones(conn: Connection, about: str | None = None) -> dict[str, str]:
    """Tombstoned record id -> its tombstone's id."""
    where, params = ("AND l.dst = :about", {"about": about}) if about else ("", {})
    return {dst: tid for dst, tid in db.query(conn, _TOMBSTONED.format(about=where), params)}


def present(conn: Connection, rid: str) -> list[tuple[str, str]]:
    """The (store, uri) locations where a record's bytes are, as logged."""
    return [(s, u) for s, u in db.query(conn, _PRESENT, {"rid": rid, "yes": True})]
