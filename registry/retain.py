"""Retention carried out (SPEC §7): policies, legal holds, status, plan, apply and ``rm``.

The decisions are the pure :mod:`retention` package; this module reads the registry's state,
logs records and deletes bytes. Time is always an argument: the CLI and the API pass the
system clock, tests pass any instant.

Purging runs in three steps, so that a crash at any moment leaves the registry verifiable and
the purge finishable:

1. one transaction, under the log's writer lock, checks that no legal hold and no policy keeps
   the bytes and logs a ``tombstone`` naming the locations to empty (a refusal writes nothing);
2. the bytes are deleted from each store (objects still needed by another live record stay);
3. each emptied location is logged as a ``stored-at`` attestation with action ``removed``.

Bytes are never deleted before their tombstone is committed. A crash after step 1 leaves a
tombstoned record whose locations still show as present: ``prov retention apply`` (or
``prov rm`` again) finishes steps 2 and 3, and ``prov verify --content`` excuses the bytes of
a tombstoned record whether or not they are gone yet.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from provenance.timefmt import format_time, parse_time, utcnow
from registry import db, queries
from registry.errors import InputError, RetentionRefused
from registry.stores import Store
from registry.transfer import delete, objects, root_of
from retention.bulk import Evaluator
from retention.holds import HOLD, RELEASE, active_holds
from retention.policy import Retention, retention_of

if TYPE_CHECKING:
    from registry.service import Registered, Registry

__all__ = ["apply", "hold", "holds_in_force", "plan", "release", "rm", "status", "tombstones"]

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


def _payload(envelope: bytes) -> dict[str, Any]:
    from provenance.dsse import Envelope

    return json.loads(Envelope.from_bytes(bytes(envelope)).payload)  # type: ignore[no-any-return]


def holds_in_force(conn: Connection, about: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Holds in force: record id -> each hold's id, reason, principal and time."""
    where, params = ("AND l.dst = :about", {"about": about}) if about else ("", {})
    events, records = [], {}
    for aid, dst, envelope in db.query(conn, _HOLD_EVENTS.format(about=where), params):
        rec = _payload(envelope)
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


def _present(conn: Connection, rid: str) -> list[tuple[str, str]]:
    return [(s, u) for s, u in db.query(conn, _PRESENT, {"rid": rid, "yes": True})]


@dataclass
class _Subject:
    """A record with what retention needs to decide about it."""

    id: str
    record: dict[str, Any]
    logged_at: str

    def retention(self, policies: list[tuple[str, dict[str, Any]]]) -> Retention:
        return retention_of(self.record, parse_time(self.logged_at), policies)


def _subject(reg: Registry, conn: Connection, ref: str) -> _Subject:
    rid = queries.resolve_in(conn, ref)
    entry = reg._entry(conn, rid)
    assert entry is not None  # resolve_in found it in the log
    return _Subject(rid, entry.record, entry.logged_at)


def status(reg: Registry, ref: str, now: datetime) -> dict[str, Any]:
    """``prov retention status REF``: policies, retain-until, holds, tombstone, state.

    Raises:
        NotFoundError: no such record.
    """
    with db.read_tx(reg.engine) as conn:
        subject = _subject(reg, conn, ref)
        retention = subject.retention(queries.policies(reg, conn))
        holds = holds_in_force(conn, subject.id).get(subject.id, [])
        tombstone = tombstones(conn, subject.id).get(subject.id)
        present = _present(conn, subject.id)
    return {
        "id": subject.id,
        "kind": subject.record["kind"],
        "name": subject.record["name"],
        "state": retention.state(now, bool(holds), tombstone is not None),
        **retention.to_json(now),
        "holds": holds,
        "tombstone": tombstone,
        "locations": [{"store": s, "uri": u} for s, u in present],
    }


def hold(reg: Registry, ref: str, reason: str, by: str | None = None) -> Registered:
    """Put a legal hold on a record (logged): its bytes cannot be purged until released.

    Raises:
        NotFoundError: no such record.
        InputError: an empty reason.
    """
    return _hold_record(reg, ref, reason, HOLD, by)


def release(reg: Registry, ref: str, reason: str, by: str | None = None) -> Registered:
    """Release every legal hold in force on a record (logged, naming the holds it ends).

    Raises:
        NotFoundError: no such record.
        InputError: an empty reason, or no hold in force.
    """
    return _hold_record(reg, ref, reason, RELEASE, by)


def _hold_record(
    reg: Registry, ref: str, reason: str, predicate: str, by: str | None
) -> Registered:
    from registry.service import _Plan

    if not reason or not reason.strip():
        raise InputError("a reason is required (--reason TEXT)")

    def build(conn: Connection) -> _Plan:
        rid = queries.resolve_in(conn, ref)
        body: dict[str, Any] = {"reason": reason}
        if predicate == RELEASE:
            holds = holds_in_force(conn, rid).get(rid)
            if not holds:
                raise InputError(f"no legal hold is in force on {rid[7:19]}")
            body["holds"] = [h["id"] for h in holds]
        record = reg._new_record(
            "attestation",
            predicate,  # the name is the predicate: holds are found by it (records.name)
            links=[{"rel": "about", "id": rid}],
            attributes={"predicate": predicate, "body": body},
        )
        if by:
            record["created_by"] = by
        return _Plan([record])

    from registry.remotes import sync_locks

    logged = reg._append(build)[0]
    # The registry's hold is in force once logged; the storage's own follows.
    sync_locks(reg, reg.resolve(ref), utcnow())
    return logged


# ---------------------------------------------------------------------------- purging


def rm(reg: Registry, ref: str, reason: str, now: datetime, by: str | None = None) -> dict:
    """``prov rm REF --reason``: purge a record's bytes from every store, after logging a
    tombstone; refused while a policy retains the record or a hold is in force.

    Raises:
        NotFoundError: no such record.
        InputError: an empty reason, or no bytes stored for the record.
        RefusedError: retained or held (nothing is written or deleted).
    """
    if not reason or not reason.strip():
        raise InputError("a reason is required (--reason TEXT, e.g. erasure)")
    return _purge(reg, ref, reason, now, by, policy=None)


def _purge(
    reg: Registry,
    ref: str,
    reason: str,
    now: datetime,
    by: str | None,
    policy: str | None,
) -> dict[str, Any]:
    from registry.service import _Plan

    decided: dict[str, Any] = {}

    def build(conn: Connection) -> _Plan:
        subject = _subject(reg, conn, ref)
        rid = decided["id"] = subject.id
        tombstone = tombstones(conn, rid).get(rid)
        present = _present(conn, rid)
        if tombstone:  # purged before, perhaps not to the end: finish it
            decided["tombstone"] = tombstone
            return _Plan([])
        if not present:
            raise InputError(f"no stored bytes of {rid[7:19]} to purge")
        holds = holds_in_force(conn, rid).get(rid)
        if holds:
            raise RetentionRefused(
                f"{rid[7:19]} is under legal hold ({holds[0]['reason']}): release it first "
                "with prov retention release"
            )
        retention = subject.retention(queries.policies(reg, conn))
        if retention.retained(now):
            assert retention.retain_until is not None
            raise RetentionRefused(
                f"{rid[7:19]} is retained until {format_time(retention.retain_until)} "
                f"by policy {', '.join(p[7:19] for p in retention.deciding)}"
            )
        attributes: dict[str, Any] = {
            "reason": reason,
            "locations": [{"store": s, "uri": u} for s, u in present],
        }
        if policy:
            attributes["policy"] = policy
        record = reg._new_record(
            "tombstone",
            subject.record["name"],
            links=[{"rel": "about", "id": rid}],
            attributes=attributes,
        )
        if by:
            record["created_by"] = by
        return _Plan([record])

    logged = reg._append(build)
    rid = decided["id"]
    tombstone = decided.get("tombstone") or logged[0].id
    removed = _finish(reg, rid)
    return {"id": rid, "tombstone": tombstone, "removed": removed}


def _finish(reg: Registry, rid: str) -> list[dict[str, str]]:
    """Steps 2 and 3 for a tombstoned record: delete its bytes where they are still present,
    keeping objects another live record needs, then log each emptied location.

    Raises:
        NotFoundError: a location's remote is no longer configured here.
        RefusedError: a store's own lock (S3 Object Lock) refuses the deletion.
        StorageError: a store failed (``prov retention apply`` finishes the purge later).
    """
    from registry.remotes import store, stored_at
    from registry.service import _Plan

    with db.read_tx(reg.engine) as conn:
        present = _present(conn, rid)
        entry = reg._entry(conn, rid)
    assert entry is not None
    root = root_of(entry.record)
    removed = []
    for name, uri in present:
        st = store(reg, name)
        with db.read_tx(reg.engine) as conn:
            needed = _needed_elsewhere(reg, conn, rid, st)
        delete(st, root, keep=needed)
        st.unseal(rid)
        removed.append({"store": name, "uri": uri})
        record = stored_at(reg, rid, name, uri, None, "removed")
        reg._append(lambda conn, r=record: _Plan([r]))
    return removed


def _needed_elsewhere(reg: Registry, conn: Connection, rid: str, st: Store) -> set[str]:
    """Objects (as ``st`` locates them) that other records present in ``st``, not
    tombstoned, still hold."""
    tombstoned = tombstones(conn)
    needed: set[str] = set()
    for other, envelope in db.query(
        conn,
        "SELECT l.record_id, e.envelope FROM locations l "
        "JOIN records r ON r.id = l.record_id JOIN log_entries e ON e.seq = r.seq "
        "WHERE l.store = :store AND l.present = :yes AND l.record_id <> :rid",
        {"store": st.name, "yes": True, "rid": rid},
    ):
        if other in tombstoned:
            continue
        with contextlib.suppress(InputError):
            root = root_of(_payload(envelope))
            # A directory's listing: ours when the local store has it, else the store's own.
            source = reg.local if root.tree and reg.local.exists(root) else st
            needed.update(st.locate(o) for o in objects(source, root))
    return needed


# ---------------------------------------------------------------------------- plan, apply


def plan(reg: Registry, now: datetime) -> dict[str, Any]:
    """``prov retention plan``: what expires when (a dry run; nothing is written).

    ``due`` lists the records whose retention is over at ``now``, with what their policy says
    (``expired-purge`` is what ``apply`` purges, ``expired-review`` waits for a person,
    ``held`` waits for a release), and purges a crash left unfinished; ``upcoming`` counts
    expiries by year; ``states`` counts every record some policy applies to by state.
    """
    with db.read_tx(reg.engine) as conn:
        evaluator = Evaluator(queries.policies(reg, conn))
        holds = holds_in_force(conn)
        tombstoned = tombstones(conn)
        stored = {r for (r,) in db.query(conn, _STORED, {"yes": True})}
        tags: dict[str, dict[str, str]] = {}
        if evaluator.uses_tags:
            for rid, k, v in db.query(conn, "SELECT record_id, key, value FROM tags", {}):
                tags.setdefault(rid, {})[k] = v
        sql = _RECORDS_LOGGED if evaluator.uses_logged_at else _RECORDS
        rows = db.query(conn, sql, {})
    now_text = format_time(now)
    due, upcoming, counts = [], dict[str, int](), dict[str, int]()
    verdict, special = evaluator.verdict, holds.keys() | tombstoned.keys()
    for rid, kind, name, created_at, logged_at in rows:
        v = verdict(kind, name, tags.get(rid), created_at, logged_at)
        if v is None:
            if rid in tombstoned and rid in stored:  # an erasure no policy governed, cut short
                due.append(
                    {
                        "id": rid,
                        "kind": kind,
                        "name": name,
                        "retain_until": None,
                        "on_expiry": None,
                        "policies": [],
                        "state": "tombstoned",
                        "stored": True,
                        "unfinished": True,
                    }
                )
            continue
        expired = v.retain_until <= now_text
        if rid in special:
            state = "tombstoned" if rid in tombstoned else "held"
        else:
            state = f"expired-{v.on_expiry}" if expired else "retained"
        counts[state] = counts.get(state, 0) + 1
        unfinished = state == "tombstoned" and rid in stored
        if state == "retained":
            upcoming[v.retain_until[:4]] = upcoming.get(v.retain_until[:4], 0) + 1
        elif state.startswith("expired-") or unfinished or (state == "held" and expired):
            due.append(
                {
                    "id": rid,
                    "kind": kind,
                    "name": name,
                    "retain_until": v.retain_until,
                    "on_expiry": v.on_expiry,
                    "policies": list(v.deciding),
                    "state": state,
                    "stored": rid in stored,
                    "unfinished": unfinished,
                }
            )
    return {"now": now_text, "states": counts, "due": due, "upcoming": upcoming}


_RECORDS = """SELECT id, kind, name, created_at, created_at FROM records
    WHERE kind NOT IN ('policy', 'key', 'tombstone') ORDER BY seq"""
_RECORDS_LOGGED = """SELECT r.id, r.kind, r.name, r.created_at, e.logged_at
    FROM records r JOIN log_entries e ON e.seq = r.seq
    WHERE r.kind NOT IN ('policy', 'key', 'tombstone') ORDER BY r.seq"""
_STORED = "SELECT DISTINCT record_id FROM locations WHERE present = :yes"


def _worm_candidates(reg: Registry) -> list[tuple[str]]:
    """Records present in some remote store (whose locks ``apply`` brings up to date)."""
    with db.read_tx(reg.engine) as conn:
        return db.query(
            conn,
            "SELECT DISTINCT record_id FROM locations WHERE present = :yes AND store <> :local",
            {"yes": True, "local": "local"},
        )


def apply(reg: Registry, now: datetime, by: str | None = None) -> dict[str, Any]:
    """``prov retention apply``: purge the stored bytes of every record whose policy says
    ``purge`` and whose retention is over, not held, each with a tombstone; finish purges a
    crash interrupted. Records whose policy says ``review`` or ``keep`` are left alone."""
    from registry.remotes import sync_locks

    purged, finished = [], []
    for (rid,) in _worm_candidates(reg):
        sync_locks(reg, rid, now)
    for item in plan(reg, now)["due"]:
        if item["unfinished"]:
            _finish(reg, item["id"])
            finished.append(item["id"])
        elif item["state"] == "expired-purge" and item["stored"]:
            done = _purge(reg, item["id"], "retention-expired", now, by, item["policies"][0])
            purged.append(done)
    return {"purged": purged, "finished": finished}
