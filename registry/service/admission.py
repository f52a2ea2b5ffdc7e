"""What a valid record must pass to be logged now, whatever door it came by (the CLI, a raw
record or an envelope over HTTP, an import): checked by :class:`~registry.service.writer.
LogWriter` under the writer lock, against the clock and the log as they stand.

Validity itself (the record format) is the core's (:mod:`provenance.records`); these are the
registry's rules: dates, sizes, who may write tombstones, holds and revocations, one key per
key id.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from provenance.keys import key_id
from provenance.records import short_id
from provenance.timefmt import END_OF_TIME, format_time, parse_duration, parse_time
from registry import db
from registry.config import Config
from registry.errors import InputError, RefusedError, RetentionRefusedError, StorageError
from registry.service.read import tombstones
from retention.holds import HOLD

__all__ = [
    "CLOCK_SKEW",
    "MAX_SIGNATURES",
    "admit",
    "check_clock",
    "check_new_keys",
    "check_retention_records",
    "check_revocations",
    "check_size",
]

#: Signatures an envelope may carry (DSSE allows several; thousands only hold the lock).
MAX_SIGNATURES = 16
#: How far a record the registry signs may claim to be made in the future of its clock.
CLOCK_SKEW = timedelta(minutes=5)


def check_retention_records(
    conn: Connection, records: Sequence[Mapping[str, Any]], purge: bool
) -> None:
    """Records that change what may be deleted, checked under the writer lock whatever door
    they came by (the CLI, a raw record over HTTP, an envelope, an import): a tombstone only
    from the purge path, which has checked holds and retention; no legal hold on a record whose
    tombstone is logged (its bytes are gone, or going: a purge logs the tombstone first).

    Raises:
        RefusedError: a tombstone outside a purge.
        RetentionRefusedError: a legal hold on a tombstoned record.
    """
    if not purge and any(r.get("kind") == "tombstone" for r in records):
        raise RefusedError(
            "tombstones are written by prov rm and prov retention apply only, after they check "
            "legal holds and retention"
        )
    held = {
        ln["id"]
        for r in records
        if r.get("kind") == "attestation" and (r.get("attributes") or {}).get("predicate") == HOLD
        for ln in r.get("links", [])
        if ln.get("rel") == "about"
    }
    for rid in sorted(held):
        tombstone = tombstones(conn, rid).get(rid)
        if tombstone:
            raise RetentionRefusedError(
                f"{short_id(rid)} was purged (tombstone {short_id(tombstone)}): "
                "a legal hold cannot keep its bytes"
            )


def check_new_keys(conn: Connection, records: Sequence[Mapping[str, Any]]) -> None:
    """A public key is registered once: a second ``key`` record for it (another name, another
    owner) would make two rows claim one key id.

    Raises:
        InputError: the key is registered already, or twice in this batch.
    """
    keyids: list[str] = []
    for r in records:
        if r.get("kind") == "key":
            keyids.append(key_id(base64.b64decode(r["attributes"]["public_key"])))
    if not keyids:
        return
    if len(set(keyids)) < len(keyids):
        raise InputError("a batch registers the same public key twice")
    for keyid, record_id in db.query_in(
        conn, "SELECT keyid, record_id FROM keys WHERE keyid IN ({})", keyids
    ):
        raise InputError(f"key {keyid[:12]} is registered already (record {short_id(record_id)})")


def check_clock(last_logged_at: str | None, now: datetime) -> None:
    """Entries take the later of the clock and the last entry's time (``logged_at`` never goes
    back): a log whose last entry is ahead of this clock would stamp every new entry with that
    future time, silently wrong for ``--as-of`` and ``from: logged_at`` policies.

    Raises:
        StorageError: the last entry is ahead of the clock beyond :data:`CLOCK_SKEW`.
    """
    if last_logged_at is not None and parse_time(last_logged_at) > now + CLOCK_SKEW:
        raise StorageError(
            f"the log's last entry was logged at {last_logged_at}, ahead of this machine's "
            f"clock ({format_time(now)}): not appending until the clock is right"
        )


def admit(record: Mapping[str, Any], now: datetime, signed_here: bool) -> None:
    """The checks a valid record must pass to be logged now (validity itself is the core's):
    a record the registry signs is not dated in the future beyond :data:`CLOCK_SKEW`, and a
    policy's duration ends before the end of time when counted from now.

    Raises:
        InputError: either is not so.
    """
    if signed_here and parse_time(record["created_at"]) > now + CLOCK_SKEW:
        raise InputError(
            f"created_at {record['created_at']} is in the future (the registry's clock says "
            f"{format_time(now)}): a signed date must not run ahead of the signer"
        )
    if record.get("kind") == "policy":
        duration = record.get("attributes", {}).get("duration")
        if isinstance(duration, str) and parse_duration(duration).after(now) == END_OF_TIME:
            raise InputError(
                f"policy duration {duration} ends after year 9999 counted from now: "
                "a retention that long is no policy (use on_expiry keep to keep for ever)"
            )


def check_revocations(
    conn: Connection, records: Sequence[Mapping[str, Any]], config: Config
) -> None:
    """No revocation of a key this registry signs with, whatever door it came by: the log
    would trust none of its own later signatures (every append refused, ``prov key new``
    too). Its successor is made first (``prov key new``), then the old key revoked.

    Raises:
        RefusedError: a revocation of the active signer or log key.
    """
    about = [
        ln["id"]
        for r in records
        if (r.get("attributes") or {}).get("predicate") == "revocation"
        for ln in r.get("links", [])
        if ln.get("rel") == "about"
    ]
    if not about:
        return
    active = {config.signer: "signer", config.log_key: "log"}
    for (keyid,) in db.query_in(conn, "SELECT keyid FROM keys WHERE record_id IN ({})", about):
        if keyid in active:
            raise RefusedError(
                f"key {keyid[:12]} is the active {active[keyid]} key: create its successor "
                f"first (`prov key new --role {active[keyid]}`), then revoke it"
            )


def check_size(data: bytes, config: Config) -> None:
    """A record's canonical bytes are capped (SPEC §2): records are permanent, and one of
    megabytes is a log entry every verification reads for ever.

    Raises:
        InputError: over ``max_record_bytes``.
    """
    cap = config.max_record_bytes
    if len(data) > cap:
        raise InputError(
            f"the record is {len(data):,} bytes of canonical JSON, over the cap of "
            f"{cap:,} (max_record_bytes in .prov/config)"
        )
