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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from provenance.records import short_id
from provenance.timefmt import format_time, parse_time, utcnow
from registry import db
from registry.errors import InputError, RetentionRefusedError
from registry.results import Registered
from registry.service.read import (
    entry,
    holds_in_force,
    payload,
    policies,
    present,
    resolve_in,
    tombstones,
)
from registry.service.remotes import store, stored_at, sync_locks
from registry.service.writer import Plan, new_record
from registry.stores.base import Store
from registry.stores.transfer import delete, objects, root_of
from retention.bulk import Evaluator
from retention.holds import HOLD, RELEASE
from retention.plan import plan as plan_of
from retention.policy import Retention, retention_of
from retention.presets import PRESETS, preset_attributes

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["add_policy", "apply", "hold", "plan", "policy_records", "release", "rm", "status"]


def add_policy(
    reg: Registry, name: str, attributes: Mapping[str, Any] | None = None, preset: str | None = None
) -> Registered:
    """Log a retention policy (``prov retention policy add``): its SPEC §7 ``attributes``,
    or a shipped ``preset``.

    Raises:
        InputError: invalid attributes (an ISO 8601 duration that does not parse, an
            unknown kind or expiry action), or an unknown preset.
    """
    if preset is not None:
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r} (one of {', '.join(PRESETS)})")
        attributes = preset_attributes(preset)
    record = new_record("policy", name, attributes=dict(attributes or {}))
    record.setdefault("attributes", {})
    return reg.writer.append(lambda conn: Plan([record]))[0]


def policy_records(reg: Registry) -> list[Registered]:
    """The retention policies in force, as logged."""
    with db.read_tx(reg.engine) as conn:
        return [e for pid, _ in policies(conn) if (e := entry(conn, pid))]


@dataclass
class _Subject:
    """A record with what retention needs to decide about it."""

    id: str
    record: dict[str, Any]
    logged_at: str

    def retention(self, policies: list[tuple[str, dict[str, Any]]]) -> Retention:
        return retention_of(self.record, parse_time(self.logged_at), policies)


def _subject(conn: Connection, ref: str) -> _Subject:
    rid = resolve_in(conn, ref)
    found = entry(conn, rid)
    assert found is not None  # resolve_in found it in the log
    return _Subject(rid, found.record, found.logged_at)


def status(reg: Registry, ref: str, now: datetime) -> dict[str, Any]:
    """``prov retention status REF``: policies, retain-until, holds, tombstone, state.

    Raises:
        NotFoundError: no such record.
    """
    with db.read_tx(reg.engine) as conn:
        subject = _subject(conn, ref)
        retention = subject.retention(policies(conn))
        holds = holds_in_force(conn, subject.id).get(subject.id, [])
        tombstone = tombstones(conn, subject.id).get(subject.id)
        where = present(conn, subject.id)
    return {
        "id": subject.id,
        "kind": subject.record["kind"],
        "name": subject.record["name"],
        "state": retention.state(now, bool(holds), tombstone is not None),
        **retention.to_json(now),
        "holds": holds,
        "tombstone": tombstone,
        "locations": [{"store": s, "uri": u} for s, u in where],
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
    if not reason or not reason.strip():
        raise InputError("a reason is required (--reason TEXT)")

    def build(conn: Connection) -> Plan:
        rid = resolve_in(conn, ref)
        body: dict[str, Any] = {"reason": reason}
        if predicate == RELEASE:
            holds = holds_in_force(conn, rid).get(rid)
            if not holds:
                raise InputError(f"no legal hold is in force on {short_id(rid)}")
            body["holds"] = [h["id"] for h in holds]
        record = new_record(
            "attestation",
            predicate,  # the name is the predicate: holds are found by it (records.name)
            links=[{"rel": "about", "id": rid}],
            attributes={"predicate": predicate, "body": body},
        )
        if by:
            record["created_by"] = by
        return Plan([record])

    logged = reg.writer.append(build)[0]
    # The registry's hold is in force once logged; the storage's own follows.
    sync_locks(reg, reg.resolve(ref), utcnow())
    return logged


# ---------------------------------------------------------------------------- purging


def rm(
    reg: Registry, ref: str, reason: str, now: datetime, by: str | None = None
) -> dict[str, Any]:
    """``prov rm REF --reason``: purge a record's bytes from every store, after logging a
    tombstone; refused while a policy retains the record or a hold is in force.

    Raises:
        NotFoundError: no such record.
        InputError: an empty reason, or no bytes stored for the record.
        RefusedError: retained or held (nothing is written or deleted).

    Returns:
        ``{"id", "tombstone", "removed": [locations emptied], "kept": [locations whose bytes
        stay because other live records hold the same bytes, with those records' ids]}``.
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
    decided: dict[str, Any] = {}

    def build(conn: Connection) -> Plan:
        subject = _subject(conn, ref)
        rid = decided["id"] = subject.id
        tombstone = tombstones(conn, rid).get(rid)
        where = present(conn, rid)
        if tombstone:  # purged before, perhaps not to the end: finish it (if still allowed)
            decided["tombstone"] = tombstone
            return Plan([])
        if not where:
            raise InputError(f"no stored bytes of {short_id(rid)} to purge")
        _refuse_if_kept(conn, subject, now)
        attributes: dict[str, Any] = {
            "reason": reason,
            "locations": [{"store": s, "uri": u} for s, u in where],
        }
        if policy:
            attributes["policy"] = policy
        record = new_record(
            "tombstone",
            subject.record["name"],
            links=[{"rel": "about", "id": rid}],
            attributes=attributes,
        )
        if by:
            record["created_by"] = by
        return Plan([record], purge=True)

    logged = reg.writer.append(build)
    rid = decided["id"]
    tombstone = decided.get("tombstone") or logged[0].id
    removed, kept = _finish(reg, rid, now, recheck="tombstone" in decided)
    return {"id": rid, "tombstone": tombstone, "removed": removed, "kept": kept}


def _finish(
    reg: Registry, rid: str, now: datetime, recheck: bool
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Steps 2 and 3 for a tombstoned record: delete its bytes where they are still present,
    keeping objects another live record needs, then log each location's change: ``removed``
    when the bytes are gone, ``released`` when they stay as another record's bytes.

    ``recheck``: the tombstone was not written by this call (a purge cut short, or a tombstone
    from any other door): its holds and retention are checked again at ``now`` first.

    Returns:
        (the locations emptied, the locations kept with the records that keep them).

    Raises:
        RetentionRefusedError: with ``recheck``, a hold or a policy keeps the bytes.
        NotFoundError: a location's remote is no longer configured here.
        RefusedError: a store's own lock (S3 Object Lock) refuses the deletion.
        StorageError: a store failed (``prov retention apply`` finishes the purge later).
    """
    with db.read_tx(reg.engine) as conn:
        where = present(conn, rid)
        found = entry(conn, rid)
        assert found is not None
        if recheck:
            _refuse_if_kept(conn, _Subject(rid, found.record, found.logged_at), now)
    root = root_of(found.record)
    removed, kept = [], []
    for name, uri in where:
        st = store(reg, name)
        holders: list[str] = []

        def build(
            conn: Connection,
            st: Store = st,
            at: tuple[str, str] = (name, uri),
            holders: list[str] = holders,
        ) -> Plan:
            # Under the writer lock: which objects other live records hold is decided, and the
            # rest deleted, while no registration can start holding them (an add re-checks its
            # objects under the same lock). Two runs finishing one purge act once.
            if at not in present(conn, rid):
                return Plan([])
            needed = _needed_elsewhere(reg, conn, rid, st)
            delete(st, root, keep=needed)
            st.unseal(rid)
            holders[:] = sorted(needed.get(st.locate(root), ()))
            record = stored_at(rid, at[0], at[1], None, "released" if holders else "removed")
            if holders:
                record["attributes"]["body"]["kept_for"] = holders
            return Plan([record])

        if reg.writer.append(build):
            if holders:
                kept.append({"store": name, "uri": uri, "kept_for": holders})
            else:
                removed.append({"store": name, "uri": uri})
    return removed, kept


def _refuse_if_kept(conn: Connection, subject: _Subject, now: datetime) -> None:
    """Raise :class:`RetentionRefusedError` while a hold is in force on ``subject`` or a
    policy retains it at ``now``; a purge checks this under the writer lock before it logs a
    tombstone, and again before it deletes for a tombstone it did not just write."""
    rid = subject.id
    holds = holds_in_force(conn, rid).get(rid)
    if holds:
        raise RetentionRefusedError(
            f"{short_id(rid)} is under legal hold ({holds[0]['reason']}): release it first "
            "with prov retention release"
        )
    retention = subject.retention(policies(conn))
    if retention.retained(now):
        assert retention.retain_until is not None
        raise RetentionRefusedError(
            f"{short_id(rid)} is retained until {format_time(retention.retain_until)} "
            f"by policy {', '.join(short_id(p) for p in retention.deciding)}"
        )


def _needed_elsewhere(reg: Registry, conn: Connection, rid: str, st: Store) -> dict[str, set[str]]:
    """Objects (as ``st`` locates them) that other records present in ``st``, not
    tombstoned, still hold, with the ids of those records."""
    tombstoned = tombstones(conn)
    needed: dict[str, set[str]] = {}
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
            root = root_of(payload(envelope))
            # A directory's listing: ours when the local store has it, else the store's own.
            source = reg.local if root.tree and reg.local.exists(root) else st
            for o in objects(source, root):
                needed.setdefault(st.locate(o), set()).add(other)
    return needed


# ---------------------------------------------------------------------------- plan, apply


def plan(reg: Registry, now: datetime) -> dict[str, Any]:
    """``prov retention plan``: what expires when (a dry run; nothing is written); see
    :func:`retention.plan.plan`."""
    with db.read_tx(reg.engine) as conn:
        evaluator = Evaluator(policies(conn))
        holds = holds_in_force(conn)
        tombstoned = tombstones(conn)
        stored = {r for (r,) in db.query(conn, _STORED, {"yes": True})}
        tags: dict[str, dict[str, str]] = {}
        if evaluator.uses_tags:
            for rid, k, v in db.query(conn, "SELECT record_id, key, value FROM tags", {}):
                tags.setdefault(rid, {})[k] = v
        sql = _RECORDS_LOGGED if evaluator.uses_logged_at else _RECORDS
        rows = db.query(conn, sql, {})
    return plan_of(rows, evaluator, now, holds, tombstoned, stored, tags)


_RECORDS = """SELECT id, kind, name, created_at, created_at FROM records
    WHERE kind NOT IN ('policy', 'key', 'tombstone') ORDER BY seq"""
_RECORDS_LOGGED = """SELECT r.id, r.kind, r.name, r.created_at, e.logged_at
    FROM records r JOIN log_entries e ON e.seq = r.seq
    WHERE r.kind NOT IN ('policy', 'key', 'tombstone') ORDER BY r.seq"""
_STORED = "SELECT DISTINCT record_id FROM locations WHERE present = :yes"


def _worm_candidates(reg: Registry) -> Sequence[tuple[str]]:
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
    crash interrupted, unless a hold or a policy keeps their bytes now (``refused``: a
    tombstone alone never deletes anything). Records whose policy says ``review`` or ``keep``
    are left alone."""
    purged, finished, refused = [], [], []
    for (rid,) in _worm_candidates(reg):
        sync_locks(reg, rid, now)
    for item in plan(reg, now)["due"]:
        if item["unfinished"]:
            try:
                _finish(reg, item["id"], now, recheck=True)
            except RetentionRefusedError as e:
                refused.append({"id": item["id"], "reason": str(e)})
                continue
            finished.append(item["id"])
        elif item["state"] == "expired-purge" and item["stored"]:
            done = _purge(reg, item["id"], "retention-expired", now, by, item["policies"][0])
            purged.append(done)
    return {"purged": purged, "finished": finished, "refused": refused}
