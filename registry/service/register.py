"""Registering records as they are: in bulk, from API clients, once per fact, attestations.

Functions take the open :class:`~registry.service.Registry` first; the registry exposes them
as methods.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from provenance.dsse import Envelope
from provenance.errors import ProvenanceError
from provenance.records import (
    PREDICATES,
    RECORD_TYPE,
    REGISTRY_PREDICATES,
    encode_record,
    is_uri,
    record_id,
)
from provenance.timefmt import now_text
from registry import db
from registry.capture.identity import who
from registry.db.tables import T_RECORDS
from registry.errors import InputError
from registry.results import Registered
from registry.service.read import entry
from registry.service.writer import Plan, new_record

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = [
    "BATCH_SIZE",
    "attest",
    "find_once",
    "log_attestation",
    "register",
    "register_once",
    "submit",
]

#: Records per transaction in bulk registration.
BATCH_SIZE = 1000


def register(
    reg: Registry, records: Iterable[Mapping[str, Any]], batch_size: int = BATCH_SIZE
) -> list[Registered]:
    """:meth:`Registry.register <registry.service.Registry.register>`."""
    by, out = who(), []
    batch: list[dict[str, Any] | Registered | Envelope] = []

    def flush() -> None:
        items = list(batch)
        out.extend(reg.writer.append(lambda conn: Plan(items)))
        batch.clear()

    for rec in records:
        full = {"type": RECORD_TYPE, "created_at": now_text(), "created_by": by}
        full.update(rec)
        batch.append(full)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return out


def submit(
    reg: Registry, items: Sequence[Mapping[str, Any] | Envelope], principal: str
) -> tuple[list[Registered], str]:
    """:meth:`Registry.submit <registry.service.Registry.submit>`."""
    prepared: list[dict[str, Any] | Registered | Envelope] = []
    ids = []
    for item in items:
        if isinstance(item, Envelope):
            prepared.append(item)
            ids.append(record_id(item.payload))
            continue
        full = {"type": RECORD_TYPE, "created_at": now_text(), **item, "created_by": principal}
        try:
            ids.append(encode_record(full)[0])
        except ProvenanceError as e:
            raise InputError(f"invalid record: {e}") from None
        prepared.append(full)
    results, note = reg.writer.append_noted(lambda conn: Plan(prepared))
    by_id = {r.id: r for r in results}
    return [by_id[rid] for rid in ids], note


def register_once(
    reg: Registry,
    kind: str,
    name: str,
    attributes: Mapping[str, Any],
    links: Sequence[Mapping[str, str]] = (),
    same: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Registered:
    """:meth:`Registry.register_once <registry.service.Registry.register_once>`."""
    attrs, wanted = json.loads(json.dumps(attributes)), [dict(ln) for ln in links]
    if same is None:

        def same(rec: Mapping[str, Any]) -> bool:
            return bool(rec.get("attributes", {}) == attrs and rec.get("links", []) == wanted)

    with db.read_tx(reg.engine) as conn:
        found = find_once(conn, kind, name, same)
    if found:
        return found

    def build(conn: Connection) -> Plan:
        again = find_once(conn, kind, name, same)  # another writer may have registered it
        return Plan([again or new_record(kind, name, attributes=attrs, links=wanted)])

    return reg.writer.append(build)[0]


def find_once(
    conn: Connection, kind: str, name: str, same: Callable[[Mapping[str, Any]], bool]
) -> Registered | None:
    """The record of that kind and name that ``same`` accepts, newest first among the last 50
    of the name (what :func:`register_once` returns instead of registering again)."""
    ids = conn.execute(
        select(T_RECORDS.c.id)
        .where(T_RECORDS.c.name == name, T_RECORDS.c.kind == kind)
        .order_by(T_RECORDS.c.seq.desc())
        .limit(50)
    ).scalars()
    for rid in list(ids):
        found = entry(conn, rid)
        if found and same(found.record):
            return found
    return None


def attest(reg: Registry, ref: str, predicate: str, body: Any = None) -> Registered:
    """:meth:`Registry.attest <registry.service.Registry.attest>`."""
    if predicate in REGISTRY_PREDICATES:
        raise InputError(
            f"the {predicate!r} predicate is written by the registry itself, not by "
            "prov attest (see prov key revoke, prov retention hold/release)"
        )
    if predicate not in PREDICATES and not is_uri(predicate):
        raise InputError(
            f"unknown predicate {predicate!r}: one of "
            f"{', '.join(sorted(PREDICATES - REGISTRY_PREDICATES))}, or a URI"
        )
    return log_attestation(reg, ref, predicate, body)


def log_attestation(reg: Registry, ref: str, predicate: str, body: Any = None) -> Registered:
    """Log an attestation about a record without :func:`attest`'s predicate checks (the
    registry's own predicates, such as a key's ``revocation``)."""
    rid = reg.resolve(ref)
    attributes: dict[str, Any] = {"predicate": predicate}
    if body is not None:
        attributes["body"] = body
    record = new_record(
        "attestation", predicate, links=[{"rel": "about", "id": rid}], attributes=attributes
    )
    return reg.writer.append(lambda conn: Plan([record]))[0]
