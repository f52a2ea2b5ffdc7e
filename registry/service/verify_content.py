"""``prov verify --content``: every stored byte re-hashed, in every store that holds it."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from provenance.dsse import Envelope
from provenance.errors import ProvenanceError
from registry import db
from registry.errors import InputError, RegistryError
from registry.service.remotes import store
from registry.service.verify_ranges import problem
from registry.stores.base import LOCAL, Obj
from registry.stores.transfer import root_of

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["check_content"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")


def check_content(reg: Registry, conn: Connection, problems: list[dict[str, Any]]) -> int:
    """Re-hash every object of every present location, in whichever store holds it (objects
    of tombstoned records are excused); report into ``problems``; return how many were read."""
    tombstoned = {
        dst
        for (dst,) in db.query(
            conn,
            "SELECT l.dst FROM links l JOIN records r ON r.id = l.src "
            "WHERE r.kind = 'tombstone' AND l.rel = 'about'",
            {},
        )
    }
    rows = db.query(
        conn,
        "SELECT l.record_id, l.store, l.version, e.envelope FROM locations l "
        "JOIN records r ON r.id = l.record_id JOIN log_entries e ON e.seq = r.seq "
        "WHERE l.present = :yes ORDER BY l.store, r.seq",
        {"yes": True},
    )
    stores: dict[str, Any] = {}
    objects = 0
    for rid, name, version, envelope in rows:
        if rid in tombstoned:
            continue
        try:
            root = root_of(json.loads(Envelope.from_bytes(bytes(envelope)).payload))
        except (InputError, ProvenanceError, ValueError):
            continue  # no bytes to check: --full reports a damaged record
        if name not in stores:
            try:
                stores[name] = store(reg, name)
                stores[name].check()
            except RegistryError as e:
                stores[name] = None
                problems.append(problem("store-unreachable", f"{name}: {e}"))
        if stores[name] is None:
            continue
        st = stores[name].at(version)  # lakeFS: the commit the location was sealed in
        objects += 1
        if not _object(problems, st, rid, root) or not root.tree:
            continue  # a listing that does not hash right lists nothing we can trust
        try:
            members = st.tree(root)
        except (OSError, ValueError, KeyError, TypeError):
            members = []
        for m in members:
            objects += 1
            _object(problems, st, rid, Obj(m.sha256 or "", m.md5, m.size or -1), m.path)
    return objects


def _object(
    problems: list[dict[str, Any]], st: Any, rid: str, obj: Obj, path: str | None = None
) -> bool:
    """Re-hash one object; report and return False unless it is intact."""
    name = obj.sha256 or obj.md5
    where = "" if st.name == LOCAL else f" on {st.name}"
    what = f"object {str(name)[:12]}" + (f" ({path})" if path else "") + where
    by_md5 = st.keyed_by == "md5"
    if not (_MD5.fullmatch(obj.md5) if by_md5 else _SHA256.fullmatch(obj.sha256)):
        # not a digest at all: only a forged manifest says such things
        problems.append(
            problem("object-corrupt", f"{what}: the manifest lists an invalid digest", rid=rid)
        )
        return False
    sha, md5 = hashlib.sha256(), hashlib.md5()
    try:
        with st.open(obj) as f:
            while chunk := f.read(4 << 20):
                sha.update(chunk)
                md5.update(chunk)
    except FileNotFoundError:
        problems.append(problem("object-missing", f"{what} is not in the store", rid=rid))
        return False
    except (OSError, RegistryError) as e:
        detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        problems.append(problem("object-unreadable", f"{what}: {detail}", rid=rid))
        return False
    got, want = (md5.hexdigest(), obj.md5) if by_md5 else (sha.hexdigest(), obj.sha256)
    if got != want:
        problems.append(
            problem(
                "object-corrupt",
                f"{what} re-hashes to {got[:12]}: its bytes were replaced",
                rid=rid,
            )
        )
        return False
    return True
