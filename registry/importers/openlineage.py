"""OpenLineage RunEvents (spec 2-0-2) become prov records (``POST /api/v1/lineage``).

The events of one ``runId`` are merged in the ``openlineage_runs`` table until the run ends;
its COMPLETE (or FAIL/ABORT) event then becomes, in one transaction:

- for each input dataset, the record already registered under its name (``NAMESPACE/NAME``)
  when there is one, else a ``dataset`` record describing it;
- one ``run`` record named after the job, ``used`` linking the inputs, with ``status``,
  ``started_at``/``ended_at`` and every facet under ``attributes.openlineage``;
- for a completed run, a ``dataset`` record per output, ``generated_by`` the run.

OpenLineage knows datasets by name, not by bytes, so a dataset record made from an event has as
its ``subject`` the dataset's OpenLineage descriptor: the RFC 8785 JSON of ``{namespace, name,
facets}``, media type ``application/vnd.openlineage.dataset+json``; the same descriptor is the
same record, a changed one (new schema, new version facet) a new version that ``supersedes`` the
last. Records take the event's ``eventTime`` as ``created_at``, so a client retrying an event
gets the same records back, never duplicates.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from provenance.canonical import canonical_bytes
from provenance.digests import digest_bytes
from provenance.errors import ProvenanceError
from provenance.records import RECORD_TYPE, encode_record
from provenance.timefmt import format_time, now_text, parse_instant, utcnow
from registry import db
from registry.db.tables import T_OPENLINEAGE as T
from registry.errors import InputError
from registry.results import Registered
from registry.service.add import latest_named
from registry.service.writer import Plan, same_bytes

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from registry.service import Registry

__all__ = ["MEDIA_TYPE", "Event", "ensure_table", "ingest", "parse_event"]

MEDIA_TYPE = "application/vnd.openlineage.dataset+json"
#: An open run with no event for this many days is dropped (its START alone registers nothing).
OPEN_RUN_DAYS = 30
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
_ENDS = {"COMPLETE": "succeeded", "FAIL": "failed", "ABORT": "failed"}


@dataclass(frozen=True)
class Event:
    """The parts of a RunEvent that prov keeps."""

    run_id: str
    event_type: str
    event_time: str  # prov's time format
    job: dict[str, Any]  # namespace, name, facets
    run_facets: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    producer: str | None


def _obj(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where} must be an object")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where} must be a non-empty string")
    return value


def _datasets(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where} must be a list")
    out = []
    for i, d in enumerate(value):
        d = _obj(d, f"{where}[{i}]")
        item = {
            "namespace": _str(d.get("namespace"), f"{where}[{i}].namespace"),
            "name": _str(d.get("name"), f"{where}[{i}].name"),
            "facets": _obj(d.get("facets"), f"{where}[{i}].facets"),
        }
        for extra in ("inputFacets", "outputFacets"):
            if d.get(extra):
                item[extra] = _obj(d[extra], f"{where}[{i}].{extra}")
        out.append(item)
    return out


def parse_event(obj: Any) -> Event:
    """Check a RunEvent as the openlineage-python client sends it.

    Raises:
        InputError: not a RunEvent (a DatasetEvent or JobEvent, or a malformed one).
    """
    obj = _obj(obj, "the event")
    run = _obj(obj.get("run"), "run")
    if not run:
        raise InputError("only OpenLineage RunEvents are accepted: run.runId is missing")
    try:
        run_id = str(uuid.UUID(_str(run.get("runId"), "run.runId")))
    except ValueError:
        raise InputError("run.runId must be a UUID") from None
    event_type = obj.get("eventType") or "OTHER"
    if event_type not in EVENT_TYPES:
        raise InputError(f"eventType must be one of {', '.join(EVENT_TYPES)}")
    try:
        when = format_time(parse_instant(_str(obj.get("eventTime"), "eventTime")))
    except ProvenanceError as e:
        raise InputError(f"eventTime: {e}") from None
    job = _obj(obj.get("job"), "job")
    producer = obj.get("producer")
    return Event(
        run_id=run_id,
        event_type=event_type,
        event_time=when,
        job={
            "namespace": _str(job.get("namespace"), "job.namespace"),
            "name": _str(job.get("name"), "job.name"),
            "facets": _obj(job.get("facets"), "job.facets"),
        },
        run_facets=_obj(run.get("facets"), "run.facets"),
        inputs=_datasets(obj.get("inputs"), "inputs"),
        outputs=_datasets(obj.get("outputs"), "outputs"),
        producer=producer if isinstance(producer, str) else None,
    )


def ensure_table(engine: Engine) -> None:
    """Create ``openlineage_runs`` in a registry made before it existed (idempotent)."""
    with db.storage_errors():
        T.create(engine, checkfirst=True)


def _merge_datasets(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = {(d["namespace"], d["name"]): d for d in old}
    for d in new:
        key = (d["namespace"], d["name"])
        both = dict(merged.get(key, {}))
        both.update((k, v) for k, v in d.items() if v or k not in both)  # empty keeps known
        merged[key] = both
    return list(merged.values())


def _merge(state: dict[str, Any], e: Event) -> dict[str, Any]:
    if e.event_type == "START" or "started_at" not in state:
        state["started_at"] = e.event_time if e.event_type == "START" else None
    state["job"] = {
        **e.job,
        "facets": {**state.get("job", {}).get("facets", {}), **e.job["facets"]},
    }
    state["run_facets"] = {**state.get("run_facets", {}), **e.run_facets}
    state["inputs"] = _merge_datasets(state.get("inputs", []), e.inputs)
    state["outputs"] = _merge_datasets(state.get("outputs", []), e.outputs)
    state["events"] = [*state.get("events", []), e.event_type]
    if e.producer:
        state["producer"] = e.producer
    return state


def ingest(reg: Registry, e: Event, principal: str) -> dict[str, Any]:
    """Take one event: merge it into its run, and register the run when the event ends it.

    Returns ``{"runId", "state": "open"}`` for a run still going, else ``{"runId", "state":
    "registered", "run": id, "seq", "outputs": [ids], "existing"}``.
    """
    with db.write_tx(reg.engine) as conn:
        row = conn.execute(select(T).where(T.c.run_id == e.run_id)).mappings().first()
        done = row is not None and row["record_id"] is not None
        if not done:
            state = _merge(json.loads(row["state"]) if row else {}, e)
            text = json.dumps(state)
            if len(text) > reg.config.max_record_bytes:  # the run record would be refused
                raise InputError(
                    f"run {e.run_id}'s events add up to {len(text):,} bytes, over the record "
                    f"cap of {reg.config.max_record_bytes:,}: this event is not taken"
                )
            values = {"state": text, "updated_at": now_text()}
            if row is None:
                # Runs left open (their end never came) are dropped after OPEN_RUN_DAYS.
                stale = format_time(utcnow() - timedelta(days=OPEN_RUN_DAYS))
                conn.execute(delete(T).where(T.c.record_id.is_(None), T.c.updated_at < stale))
                conn.execute(insert(T).values(run_id=e.run_id, **values))
            else:
                conn.execute(update(T).where(T.c.run_id == e.run_id).values(**values))
    if done:
        assert row is not None
        entry = reg.get(row["record_id"])
        return {
            "runId": e.run_id,
            "state": "registered",
            "run": entry.id,
            "seq": entry.seq,
            "existing": True,
        }
    if e.event_type not in _ENDS:
        return {"runId": e.run_id, "state": "open"}
    results = reg.writer.append(lambda conn: _plan(conn, state, e, principal))
    run = next(
        r
        for r in results
        if r.kind == "run"
        and r.record.get("attributes", {}).get("openlineage", {}).get("runId") == e.run_id
    )
    outputs = [
        r.id
        for r in results
        if any(ln == {"rel": "generated_by", "id": run.id} for ln in r.record.get("links", []))
    ]
    with db.write_tx(reg.engine) as conn:
        conn.execute(update(T).where(T.c.run_id == e.run_id).values(record_id=run.id))
    return {
        "runId": e.run_id,
        "state": "registered",
        "run": run.id,
        "seq": run.seq,
        "outputs": outputs,
        "existing": run.existing,
    }


def _plan(conn: Connection, state: dict[str, Any], e: Event, principal: str) -> Plan:
    items: list[dict[str, Any] | Registered] = []
    used = []
    for d in state["inputs"]:
        item = _dataset(conn, d, e.event_time, principal, [], reuse_any=True)
        items.append(item)
        used.append({"rel": "used", "id": _id_of(item)})
    status = _ENDS[e.event_type]
    attributes: dict[str, Any] = {
        "status": status,
        "ended_at": e.event_time,
        "openlineage": {
            "runId": e.run_id,
            "job": state["job"],
            "runFacets": state["run_facets"],
            "events": state["events"],
            "inputFacets": {
                _name(d): d["inputFacets"] for d in state["inputs"] if "inputFacets" in d
            },
            "outputFacets": {
                _name(d): d["outputFacets"] for d in state["outputs"] if "outputFacets" in d
            },
            **({"producer": state["producer"]} if "producer" in state else {}),
        },
    }
    if state.get("started_at"):
        attributes["started_at"] = state["started_at"]
    run = _record(
        "run", state["job"]["name"], e.event_time, principal, links=used, attributes=attributes
    )
    items.append(run)
    if status == "succeeded":
        generated = [{"rel": "generated_by", "id": _id_of(run)}]
        for d in state["outputs"]:
            items.append(_dataset(conn, d, e.event_time, principal, generated, False))
    return Plan(list(items))


def _name(d: dict[str, Any]) -> str:
    ns = d["namespace"].rstrip("/")
    return f"{ns}/{d['name'].lstrip('/')}"


def _record(kind: str, name: str, created_at: str, principal: str, **fields: Any) -> dict[str, Any]:
    record = {
        "type": RECORD_TYPE,
        "kind": kind,
        "name": name,
        "created_at": created_at,
        "created_by": principal,
    }
    record.update({k: v for k, v in fields.items() if v})
    return record


def _id_of(item: dict[str, Any] | Registered) -> str:
    if isinstance(item, dict):
        try:
            return encode_record(item)[0]
        except ProvenanceError as e:
            raise InputError(f"the event makes an invalid record: {e}") from None
    return item.id


def _dataset(
    conn: Connection,
    d: dict[str, Any],
    when: str,
    principal: str,
    links: list[dict[str, str]],
    reuse_any: bool,
) -> dict[str, Any] | Registered:
    """The record for an event's dataset: the latest of its name when that one has these bytes
    (or, for an input, holds real bytes registered with ``prov add``), else a new version."""
    name = _name(d)
    descriptor = canonical_bytes(
        {"namespace": d["namespace"], "name": d["name"], "facets": d["facets"]}
    )
    digest = digest_bytes(descriptor)
    subject = {
        "digest": {"sha256": digest.sha256, "md5": digest.md5},
        "size": digest.size,
        "media_type": MEDIA_TYPE,
    }
    latest = latest_named(conn, name)
    if latest is not None:
        if links and all(ln in latest.record.get("links", []) for ln in links):
            return latest  # this run's output, registered by an earlier delivery of the event
        real_bytes = (latest.record.get("subject") or {}).get("media_type") != MEDIA_TYPE
        if (reuse_any and real_bytes) or (not links and same_bytes(latest.record, subject)):
            return latest
        links = [*links, {"rel": "supersedes", "id": latest.id}]
    return _record(
        "dataset",
        name,
        when,
        principal,
        subject=subject,
        links=links,
        attributes={
            "openlineage": {"namespace": d["namespace"], "name": d["name"], "facets": d["facets"]}
        },
    )
