"""Remotes carried out: ``prov remote add|list|default``, ``prov push``, ``prov pull`` and
``prov add --remote``; every change of a record's locations is logged as a ``stored-at``
attestation (SPEC §6).

On stores with Object Lock (:attr:`Store.worm`), each object pushed gets the record's
retain-until date and, while the record is held, a legal hold: WORM in the storage as well as
in the registry. ``prov retention apply`` extends them when policies change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provenance.records import short_id
from provenance.timefmt import parse_time
from registry import db
from registry.errors import InputError, NotFoundError, StorageError
from registry.service.read import entry
from registry.service.writer import Plan, new_record
from registry.stores.base import LOCAL, Obj, Store
from registry.stores.transfer import copy, each, objects, root_of
from registry.stores.urls import check_remote, open_store

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = [
    "add_remote",
    "list_remotes",
    "protect",
    "pull",
    "push",
    "set_default",
    "store",
    "stored_at",
    "sync_locks",
]

_PRESENT = "SELECT store, uri, version FROM locations WHERE record_id = :rid AND present = :yes"


def add_remote(reg: Registry, name: str, url: str, options: dict[str, str]) -> dict[str, Any]:
    """Configure a remote (the first one becomes the default).

    Raises:
        InputError: a bad or taken name, an unknown scheme or option.
    """
    check_remote(name, url, options)
    if name in reg.config.remotes:
        raise InputError(f"remote {name!r} already exists ({reg.config.remotes[name]['url']})")
    reg.config.remotes[name] = {"url": url, **options}
    if reg.config.default_remote is None:
        reg.config.default_remote = name
    reg.config.save(reg.prov_dir)
    return _describe(reg, name)


def _describe(reg: Registry, name: str) -> dict[str, Any]:
    options = dict(reg.config.remotes[name])
    return {"name": name, "url": options.pop("url"), "default": name == reg.config.default_remote}


def list_remotes(reg: Registry) -> list[dict[str, Any]]:
    return [_describe(reg, n) for n in sorted(reg.config.remotes)]


def set_default(reg: Registry, name: str) -> dict[str, Any]:
    """Raises: NotFoundError: no such remote."""
    if name not in reg.config.remotes:
        raise NotFoundError(f"no remote named {name!r} (prov remote list)")
    reg.config.default_remote = name
    reg.config.save(reg.prov_dir)
    return _describe(reg, name)


def store(reg: Registry, name: str | None) -> Store:
    """The store of remote ``name`` (``local``: the registry's own; None: the default remote).

    Raises:
        NotFoundError: no such remote, or no default.
    """
    if name == LOCAL:
        return reg.local
    name = name or reg.config.default_remote
    if name is None:
        raise NotFoundError("no remote given and no default: prov remote add NAME URL")
    options = reg.config.remotes.get(name)
    if options is None:
        raise NotFoundError(f"no remote named {name!r} (prov remote list)")
    if name not in reg.remote_stores:  # clients are made once per registry (boto3's: ~50 ms)
        opts = {k: v for k, v in options.items() if k != "url"}
        reg.remote_stores[name] = open_store(name, options["url"], opts, reg.root)
    return reg.remote_stores[name]


def stored_at(
    rid: str, store: str, uri: str, version: str | None, action: str = "stored"
) -> dict[str, Any]:
    """The ``stored-at`` attestation of one location change."""
    return new_record(
        "attestation",
        f"stored-at {store}",
        links=[{"rel": "about", "id": rid}],
        attributes={
            "predicate": "stored-at",
            "body": {"action": action, "store": store, "uri": uri, "version": version},
        },
    )


def _log(reg: Registry, records: list[dict[str, Any]]) -> None:
    if records:
        reg.writer.append(lambda conn: Plan(list(records)))


def _present(reg: Registry, rid: str) -> dict[str, tuple[str, str | None]]:
    with db.read_tx(reg.engine) as conn:
        rows = db.query(conn, _PRESENT, {"rid": rid, "yes": True})
    return {s: (u, v) for s, u, v in rows}


def protect(reg: Registry, rid: str, dst: Store, root: Obj, now: datetime) -> None:
    """Give a record's objects in a WORM store its retain-until date and legal hold."""
    if not dst.worm:
        return
    status = reg.retention_status(rid, now=now)
    until = parse_time(status["retain_until"]) if status.get("retain_until") else None
    held = bool(status["holds"])
    each(lambda obj: dst.protect(obj, until, held), objects(dst, root))


def _targets(reg: Registry, ref: str | None, where: str, absent: str) -> list[str]:
    """``ref`` resolved, or every live record present on store ``where`` and not on
    ``absent``, oldest first."""
    if ref is not None:
        return [reg.resolve(ref)]
    sql = """SELECT l.record_id FROM locations l JOIN records r ON r.id = l.record_id
        WHERE l.store = :where AND l.present = :yes
        AND NOT EXISTS (SELECT 1 FROM locations o WHERE o.record_id = l.record_id
                        AND o.store = :absent AND o.present = :yes)
        AND NOT EXISTS (SELECT 1 FROM links t JOIN records tr ON tr.id = t.src
                        WHERE t.dst = l.record_id AND t.rel = 'about' AND tr.kind = 'tombstone')
        ORDER BY r.seq"""
    with db.read_tx(reg.engine) as conn:
        rows = db.query(conn, sql, {"where": where, "absent": absent, "yes": True})
    return [r for (r,) in rows]


def _transfer(
    reg: Registry, rids: Iterable[str], src: Store, dst: Store, now: datetime
) -> list[dict[str, Any]]:
    done = []
    for rid in rids:
        record = reg.show(rid)["record"]
        root = root_of(record)
        present = _present(reg, rid)
        if src.name not in present:
            raise NotFoundError(f"no bytes of {short_id(rid)} on {src.name} to copy")
        if reg.retention_status(rid, now=now)["tombstone"]:
            raise InputError(f"{short_id(rid)} was purged (tombstoned): its bytes are not copied")
        held = present.get(dst.name)
        if held is not None and dst.at(held[1]).exists(root):
            version = held[1]  # there already, as logged: no copy, and no new lakeFS commit
        else:
            try:
                copy(src.at(present[src.name][1]), dst, root)
            except FileNotFoundError:
                raise StorageError(
                    f"{src.name} lacks bytes of {short_id(rid)} it is recorded to hold "
                    "(prov verify --content)"
                ) from None
            version = dst.seal(rid, root)
        protect(reg, rid, dst, root, now)
        uri = dst.locate(root)
        if present.get(dst.name) != (uri, version):
            _log(reg, [stored_at(rid, dst.name, uri, version)])
        done.append({"id": rid, "from": src.name, "to": dst.name, "uri": uri, "version": version})
    return done


def push(reg: Registry, ref: str | None, remote: str | None, now: datetime) -> list[dict[str, Any]]:
    """Copy bytes from the local store to a remote (``ref``, else every record not there yet).

    Raises:
        NotFoundError: no such record or remote, or no local bytes of ``ref``.
        StorageError: the remote failed (records pushed before the failure stay logged).
    """
    dst = store(reg, remote)
    if dst.name == LOCAL:
        raise InputError("push copies to a remote: name one other than local")
    dst.check()
    return _transfer(reg, _targets(reg, ref, LOCAL, dst.name), reg.local, dst, now)


def pull(reg: Registry, ref: str | None, remote: str | None, now: datetime) -> list[dict[str, Any]]:
    """Copy bytes from a remote into the local store, re-hashed (``ref``, else every record
    the remote holds that the local store lacks)."""
    src = store(reg, remote)
    if src.name == LOCAL:
        raise InputError("pull copies from a remote: name one other than local")
    src.check()
    return _transfer(reg, _targets(reg, ref, src.name, LOCAL), src, reg.local, now)


def sync_locks(reg: Registry, rid: str, now: datetime) -> None:
    """Bring the storage's own locks of a record in line with the registry: retain-until
    extended to the record's date, legal hold on while a hold is in force, off otherwise."""
    with db.read_tx(reg.engine) as conn:
        rows = db.query(conn, _PRESENT, {"rid": rid, "yes": True})
        found = entry(conn, rid)
    if found is None:
        return
    for name, _uri, _version in rows:
        if name == LOCAL:
            continue
        st = store(reg, name)
        if st.worm:
            protect(reg, rid, st, root_of(found.record), now)
