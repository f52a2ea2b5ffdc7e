"""A DVC remote, written in DVC's own layout through dvc-objects, so ``dvc pull`` in the user's
DVC project fetches the same bytes.

``dvc://NAME`` is the remote ``NAME`` of the DVC project enclosing the registry (its URL and
credentials as DVC reads them, ``.dvc/config.local`` included — never logged);
``dvc+URL`` is any URL DVC understands (``dvc+s3://bucket/path``, ``dvc+/mnt/remote``).

DVC addresses objects by MD5 under ``files/md5/ab/cdef…``: a file is one object, a directory
its files plus the ``.dir`` listing DVC reads (``[{"md5", "relpath"}]``, whose MD5 is the
record's ``md5``). DVC's listing has no SHA-256, so reading a directory back re-hashes every
file and rebuilds our manifest, which must hash to the record's manifest digest.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from registry.errors import ConfigError, StorageError
from registry.stores.base import Member, Obj, Store

__all__ = ["DVCStore", "dvc_project"]


def dvc_project(start: Path) -> Path | None:
    """The nearest directory holding ``.dvc/`` at or above ``start``."""
    for d in (start, *start.parents):
        if (d / ".dvc").is_dir():
            return d
    return None


class DVCStore(Store):
    keyed_by = "md5"

    def __init__(self, name: str, url: str, remote: str | None, target: str | None, base: Path):
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        try:
            from dvc.config import Config as DvcConfig
            from dvc.fs import get_cloud_fs
        except ImportError:
            raise StorageError(
                "the DVC store needs dvc: pip install 'prov-registry[dvc]'"
            ) from None
        self.name, self.url = name, url
        project = dvc_project(base.absolute())
        try:
            if remote is not None:
                if project is None:
                    raise ConfigError(f"{url}: no DVC project (.dvc/) at or above {base}")
                config: Any = DvcConfig(project / ".dvc")
                cls, conf, path = get_cloud_fs(config, name=remote)
            else:
                assert target is not None
                cls, conf, path = get_cloud_fs({}, url=target)
            self.fs = cls(**conf)
        except ConfigError:
            raise
        except Exception as e:  # DVC's own errors: an unknown remote name, a bad URL
            raise ConfigError(f"{url}: {str(e).splitlines()[0]}") from None
        self.root = self.fs.join(path, "files", "md5")
        self.local = self.fs.protocol in ("local", "file") or "local" in str(self.fs.protocol)

    def _path(self, obj: Obj) -> str:
        oid = obj.md5 + (".dir" if obj.tree else "")
        return str(self.fs.join(self.root, oid[:2], oid[2:]))

    def _fail(self, e: Exception, doing: str) -> StorageError:
        return StorageError(f"remote {self.name} ({self.url}): cannot {doing}: {e}")

    def check(self) -> None:
        try:
            self.fs.exists(self.root)
        except Exception as e:
            raise self._fail(e, "reach it") from None

    def locate(self, obj: Obj) -> str:
        return self.fs.unstrip_protocol(self._path(obj))  # type: ignore[no-any-return]

    def exists(self, obj: Obj) -> bool:
        try:
            return bool(self.fs.exists(self._path(obj)))
        except Exception as e:
            raise self._fail(e, "look up an object") from None

    def put(self, obj: Obj, src: BinaryIO) -> None:
        path = self._path(obj)
        try:
            if self.local:
                self.fs.makedirs(self.fs.parent(path), exist_ok=True)
            self.fs.put_file(src, path, size=obj.size)
        except StorageError:
            raise
        except Exception as e:
            raise self._fail(e, f"upload {path}") from None

    @contextlib.contextmanager
    def open(self, obj: Obj) -> Iterator[BinaryIO]:
        path = self._path(obj)
        try:
            f = self.fs.open(path, "rb")
        except FileNotFoundError:
            raise
        except Exception as e:
            raise self._fail(e, f"read {path}") from None
        with f:
            yield f

    def delete(self, obj: Obj) -> None:
        path = self._path(obj)
        try:
            if self.fs.exists(path):
                self.fs.rm(path)
        except FileNotFoundError:
            pass  # gone meanwhile: what a delete wants
        except Exception as e:
            raise self._fail(e, f"delete {path}") from None

    def put_tree(self, root: Obj, manifest: bytes, members: list[Member]) -> None:
        listing = sorted(
            ({"md5": m.md5, "relpath": m.path} for m in members), key=lambda x: x["relpath"]
        )
        body = json.dumps(listing, sort_keys=True).encode()
        path = self._path(root)
        try:
            if self.local:
                self.fs.makedirs(self.fs.parent(path), exist_ok=True)
            self.fs.put_file(io.BytesIO(body), path, size=len(body))
        except Exception as e:
            raise self._fail(e, f"upload {path}") from None

    def tree(self, root: Obj) -> list[Member]:
        with self.open(root) as f:
            listing = json.loads(f.read(64 << 20))
        return [Member(e["relpath"], e["md5"]) for e in listing]
