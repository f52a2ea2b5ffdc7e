"""``prov add``: hash a file or directory, store its bytes, register it (versions by name).

Functions take the open :class:`~registry.service.Registry` first, as dvc's ``dvc/repo/*.py``
verbs take the repo; the registry exposes them as methods.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from provenance.errors import ProvenanceError
from provenance.records import ARTIFACT_KINDS, encode_record
from provenance.timefmt import utcnow
from registry import db
from registry.capture.identity import who
from registry.db.tables import T_LOCATIONS, T_RECORDS
from registry.errors import InputError, StorageError
from registry.results import Added, Registered
from registry.service import remotes
from registry.service.read import entry
from registry.service.writer import Plan, new_record, same_bytes
from registry.stores import transfer
from registry.stores.base import LOCAL
from registry.workspace.hashing import FileHasher, subject_of
from registry.workspace.kinds import add_arguments, guess_kind
from registry.workspace.statcache import StatCache
from registry.workspace.tabular import describe, is_tabular

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = [
    "add",
    "artifact_version",
    "default_name",
    "hasher",
    "latest_named",
    "record_id_of",
    "register_artifact",
]


def add(
    reg: Registry,
    path: str | os.PathLike[str],
    kind: str | None = None,
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    links: Sequence[tuple[str, str]] = (),
    store: bool = True,
    progress: Callable[[int], None] | None = None,
    hasher: FileHasher | None = None,
    remote: str | None = None,
    follow_links_outside: bool = False,
) -> Added:
    """:meth:`Registry.add <registry.service.Registry.add>`."""
    p, resolved_links = add_arguments(path, kind, links, reg.resolve)
    name = name or default_name(reg, p)
    dst = remotes.store(reg, remote) if remote else None
    if dst is not None:
        if not store:
            raise InputError("--remote stores bytes: it cannot go with --no-store")
        dst.check()
    if hasher is None:
        hasher = reg.hasher(p, store, progress)
    try:
        store_to = reg.store if hasher.store else None
        subject, files = subject_of(p, hasher, store_to, follow_links_outside)
        if hasher.store is not None:
            hasher.store.publish()
    finally:
        if hasher.store is not None:
            hasher.store.discard()
    attributes = None
    if files == 1 and is_tabular(p):
        with db.read_tx(reg.engine) as conn:
            latest = latest_named(conn, name)
        if not (latest and same_bytes(latest.record, subject)):  # else the same profile
            attributes = describe(p)
    if dst is not None:
        transfer.copy(reg.local, dst, transfer.root_of({"subject": subject}))
    result = register_artifact(
        reg,
        kind or guess_kind(p),
        name,
        subject,
        resolved_links,
        tags,
        attributes,
        store=store,
        keep_kind=kind is None,
    )
    StatCache(reg.prov_dir).save(hasher.updates)
    if dst is not None and dst.name != LOCAL:
        remotes.push(reg, result.id, dst.name, utcnow())
    return Added(
        result.id,
        result.seq,
        result.record,
        result.logged_at,
        result.existing,
        files_read=hasher.files_read,
        files=files,
    )


def register_artifact(
    reg: Registry,
    kind: str,
    name: str,
    subject: Mapping[str, Any],
    links: Sequence[Mapping[str, str]] = (),
    tags: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
    store: bool = False,
    keep_kind: bool = False,
) -> Registered:
    """:meth:`Registry.register_artifact <registry.service.Registry.register_artifact>`."""
    me = who()

    def build(conn: Connection) -> Plan:
        if store:
            _check_stored(reg, subject)
        latest = latest_named(conn, name)
        decided = artifact_version(
            latest, kind, name, subject, links, tags, attributes, keep_kind, me
        )
        if isinstance(decided, Registered):
            plan = Plan([decided])
            if store and not _stored_locally(reg, conn, decided.id):
                plan.items.append(_stored_at(reg, decided.id, subject))
            return plan
        plan = Plan([decided])
        if store:
            plan.items.append(_stored_at(reg, record_id_of(decided), subject))
        return plan

    return reg.writer.append(build)[0]


def artifact_version(
    latest: Registered | None,
    kind: str,
    name: str,
    subject: Mapping[str, Any],
    links: Sequence[Mapping[str, str]],
    tags: Mapping[str, str] | None,
    attributes: Mapping[str, Any] | None,
    keep_kind: bool,
    me: str,
) -> Registered | dict[str, Any]:
    """What registering these bytes under ``name`` means, given the name's ``latest`` record:
    that record itself (the same bytes and kind, made by ``me``, already carrying ``links``),
    or a new record, a version superseding it. Decided under the writer lock.
    """
    wanted = [dict(ln) for ln in links]
    want = latest.kind if (keep_kind and latest) else kind
    # Another principal's record is never adopted, even with these bytes: its created_at
    # (which retention counts from) is theirs to choose, back-dated or not.
    same = (
        latest is not None
        and latest.kind == want
        and latest.record.get("created_by") == me
        and same_bytes(latest.record, subject)
    )
    known = latest.record.get("links", []) if latest else []
    if same and latest and all(ln in known for ln in wanted):
        return latest
    record_links = list(wanted)
    if latest and not any(ln["rel"] == "supersedes" for ln in record_links):
        record_links.append({"rel": "supersedes", "id": latest.id})
    return new_record(
        want,
        name,
        subject=dict(subject),
        links=record_links,
        tags=dict(tags or {}),
        attributes=attributes or (latest.record.get("attributes") if same and latest else None),
    )


def record_id_of(record: Mapping[str, Any]) -> str:
    """The id a new record will have.

    Raises:
        InputError: the record is invalid.
    """
    try:
        return encode_record(record)[0]
    except ProvenanceError as e:
        raise InputError(str(e)) from None


def default_name(reg: Registry, p: Path) -> str:
    """A path's name in the registry: relative to the project (the registry's parent)."""
    full = Path(os.path.normpath(p.absolute()))
    try:
        return full.relative_to(reg.root).as_posix() or full.name
    except ValueError:
        return full.as_posix()


def hasher(
    reg: Registry, p: Path, store: bool = True, progress: Callable[[int], None] | None = None
) -> FileHasher:
    """:meth:`Registry.hasher <registry.service.Registry.hasher>`."""
    return FileHasher(StatCache(reg.prov_dir).load(p), reg.store if store else None, progress)


def latest_named(conn: Connection, name: str) -> Registered | None:
    """The newest dataset or model record of ``name``."""
    rid = conn.execute(
        select(T_RECORDS.c.id)
        .where(T_RECORDS.c.name == name)
        .where(T_RECORDS.c.kind.in_(sorted(ARTIFACT_KINDS)))
        .order_by(T_RECORDS.c.seq.desc())
        .limit(1)
    ).scalar()
    return entry(conn, rid) if rid else None


def _check_stored(reg: Registry, subject: Mapping[str, Any]) -> None:
    """Under the writer lock: every object of these bytes is in the local store. Objects
    already there were not written again, and a purge of another record holding them may have
    deleted them since; a record must not be logged as stored when its bytes are gone.

    Raises:
        StorageError: objects are missing (the add can simply be run again).
    """
    root = transfer.root_of({"subject": subject})
    missing = [o for o in transfer.objects(reg.local, root) if not reg.local.exists(o)]
    if missing:
        raise StorageError(
            f"{len(missing)} object(s) of these bytes were purged from the local store while "
            "they were being added (another record held them): nothing was logged; add again"
        )


def _stored_locally(reg: Registry, conn: Connection, rid: str) -> bool:
    return (
        conn.execute(
            select(T_LOCATIONS.c.present).where(
                T_LOCATIONS.c.record_id == rid, T_LOCATIONS.c.store == reg.store.name
            )
        ).scalar()
        is True
    )


def _stored_at(reg: Registry, rid: str, subject: Mapping[str, Any]) -> dict[str, Any]:
    sha = subject["digest"]["sha256"]
    return remotes.stored_at(rid, reg.store.name, reg.store.uri_for(sha), None)
