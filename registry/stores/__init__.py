"""Artifact stores behind one small interface (SPEC §6, docs/storage.md).

A store holds immutable objects addressed by content. :class:`Obj` names one object by both of
its digests; each store keys it its own way (the local store, S3 and lakeFS by SHA-256, DVC by
MD5 in DVC's layout). Bytes always stream (:meth:`Store.put` reads a file object in chunks,
:meth:`Store.open` returns one); no store holds a whole file in memory.

A directory is a tree: its member objects and a root object listing them (our manifest, or for
DVC its ``.dir`` listing), written by :meth:`Store.put_tree` and read back by :meth:`Store.tree`.

Remote stores import their client library only when opened, so ``prov --help`` stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from registry.errors import InputError

__all__ = ["LOCAL", "Member", "Obj", "Store", "check_remote", "open_store"]

#: The name of the registry's own object store (``.prov/objects``); no remote may take it.
LOCAL = "local"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Store options ``prov remote add`` accepts (credentials never go in the config).
OPTIONS = {"endpoint_url", "lock_mode", "region"}
_LAKEFS_REPO = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
_LAKEFS_BRANCH = re.compile(r"\w[-\w]*", re.ASCII)


@dataclass(frozen=True)
class Obj:
    """One stored object: the bytes of a file, or the root of a tree (a directory)."""

    sha256: str
    md5: str
    size: int
    tree: bool = False


@dataclass(frozen=True)
class Member:
    """A file of a tree, as the store lists it (DVC's listing knows no SHA-256)."""

    path: str
    md5: str
    sha256: str | None = None
    size: int | None = None


class Store:
    """The interface; subclasses implement the object operations."""

    name: str
    url: str
    #: Whether :meth:`protect` sets retention and holds in the storage itself (WORM).
    worm = False
    #: The digest objects are addressed by here.
    keyed_by = "sha256"

    def check(self) -> None:
        """Fail early with a :class:`StorageError` when the store cannot be reached."""

    def locate(self, obj: Obj) -> str:
        """The object's URI in this store."""
        raise NotImplementedError

    def exists(self, obj: Obj) -> bool:
        raise NotImplementedError

    def put(self, obj: Obj, src: BinaryIO) -> None:
        """Write the object from ``src`` (read in chunks). The caller checks the digests of
        what was read and calls :meth:`delete` when they are wrong."""
        raise NotImplementedError

    def open(self, obj: Obj) -> AbstractContextManager[BinaryIO]:
        """A stream of the object's bytes.

        Raises:
            FileNotFoundError: not in the store.
        """
        raise NotImplementedError

    def delete(self, obj: Obj) -> None:
        """Remove the object (every version of it); missing is fine.

        Raises:
            RefusedError: the storage itself refuses (Object Lock, legal hold).
        """
        raise NotImplementedError

    def put_tree(self, root: Obj, manifest: bytes, members: list[Member]) -> None:
        """Write a directory's root object (members are written first, one by one)."""
        import io

        self.put(root, io.BytesIO(manifest))

    def tree(self, root: Obj) -> list[Member]:
        """The members of a directory stored here, from its root object.

        Raises:
            FileNotFoundError: the root object is not here.
            ValueError: the root object is not a listing.
        """
        import json

        with self.open(root) as f:
            entries = json.loads(f.read(64 << 20))
        return [Member(e["path"], e["md5"], e["sha256"], e["size"]) for e in entries]

    def at(self, version: str | None) -> Store:
        """This store reading a location's ``version`` (lakeFS: the commit it was sealed in);
        stores without versions read the one copy they have."""
        return self

    def batch(self) -> AbstractContextManager[None]:
        """Puts inside may be made durable together at the end (the local store publishes
        them with one sync); the copy puts a tree's root only after its members' batch."""
        import contextlib

        return contextlib.nullcontext()

    def seal(self, record_id: str, root: Obj) -> str | None:
        """Make a record's objects durable as one unit; the location's version (lakeFS: the
        commit id, with the record id in its metadata)."""
        return None

    def protect(self, obj: Obj, retain_until: datetime | None, hold: bool | None) -> None:
        """Set the storage's own retention (never shortened) and legal hold of an object;
        stores without such a thing ignore it."""

    def unseal(self, record_id: str) -> None:
        """After :meth:`delete` calls for a purge: make the removal durable (lakeFS commits)."""


def check_remote(name: str, url: str, options: Mapping[str, str]) -> None:
    """Refuse a remote ``prov remote add`` cannot use, with one clear line.

    Raises:
        InputError: a bad name, an unknown scheme or option, a malformed URL.
    """
    if not _NAME.fullmatch(name) or name == LOCAL:
        raise InputError(
            f"bad remote name {name!r}: letters, digits, '.', '_' and '-' "
            f"(and not {LOCAL!r}, the registry's own store)"
        )
    unknown = set(options) - OPTIONS
    if unknown:
        raise InputError(
            f"unknown remote option {sorted(unknown)[0]!r} (known: {', '.join(sorted(OPTIONS))})"
        )
    if options.get("lock_mode", "compliance") not in ("compliance", "governance"):
        raise InputError("lock_mode is compliance or governance")
    _parse(url)


def _parse(url: str) -> tuple[str, str, str]:
    """(kind, first part, rest) of a remote URL."""
    if not url:
        raise InputError("a remote needs a URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and url[1:3] in (":\\", ":/")):
        path = parts.path if scheme == "file" else url
        return "local", path, ""
    if scheme == "s3":
        if not parts.netloc:
            raise InputError(f"{url}: an S3 remote is s3://BUCKET[/PREFIX]")
        return "s3", parts.netloc, parts.path.strip("/")
    if scheme == "lakefs":
        repo, branch = parts.netloc, parts.path.strip("/").partition("/")[0]
        if not _LAKEFS_REPO.fullmatch(repo) or not _LAKEFS_BRANCH.fullmatch(branch):
            raise InputError(
                f"{url}: a lakeFS remote is lakefs://REPOSITORY/BRANCH[/PREFIX] "
                "(a repository of 3-63 lowercase letters, digits and '-'; a branch of letters, "
                "digits, '_' and '-')"
            )
        return "lakefs", repo, parts.path.strip("/")
    if scheme == "dvc":
        if not parts.netloc:
            raise InputError(f"{url}: a DVC remote is dvc://REMOTE_NAME (of the DVC project)")
        return "dvc", parts.netloc, ""
    if scheme.startswith("dvc+"):
        return "dvc", "", url[len("dvc+") :]
    raise InputError(
        f"unknown remote scheme {scheme!r} in {url} (a path, s3://, lakefs://, dvc://NAME "
        "or dvc+URL for any URL DVC understands)"
    )


def open_store(name: str, url: str, options: Mapping[str, str], base: Path) -> Store:
    """The store a remote's URL names (``base`` resolves relative local paths and finds the
    enclosing DVC project).

    Raises:
        InputError: an unknown scheme or a malformed URL.
        StorageError: the client library for the store is not installed.
    """
    kind, first, rest = _parse(url)
    if kind == "local":
        from registry.stores.local import LocalStore

        return LocalStore(name, (base / first).absolute())
    if kind == "s3":
        from registry.stores.s3 import S3Store

        return S3Store(name, url, first, rest, options)
    if kind == "lakefs":
        from registry.stores.lakefs import LakeFSStore

        return LakeFSStore(name, url, first, rest, options)
    from registry.stores.dvc import DVCStore

    return DVCStore(name, url, first or None, rest or None, base)


class VerifiedReader:
    """A read-only stream that hashes what passes through it and, at its end, raises
    :class:`StorageError` unless the bytes are exactly ``obj`` (size, SHA-256, and MD5 unless
    ``md5`` is False). Stores read to the end before they finish a write, so bytes that are not
    what the record says never land."""

    def __init__(self, obj: Obj, src: BinaryIO, md5: bool = True, what: str = "") -> None:
        import hashlib

        self.obj, self._src, self.what = obj, src, what or f"object {obj.sha256[:12]}"
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5() if md5 else None
        self.size = 0
        self._checked = False

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n if n is not None and n >= 0 else 1 << 22)
        while n is None or n < 0:  # read(-1): the rest, in chunks (callers use sizes)
            more = self._src.read(1 << 22)
            if not more:
                break
            data += more
        if data:
            self._sha.update(data)
            if self._md5:
                self._md5.update(data)
            self.size += len(data)
        else:
            self.check()
        return data

    def readable(self) -> bool:
        return True

    def check(self) -> None:
        from registry.errors import StorageError

        if self._checked:
            return
        self._checked = True
        got = self._sha.hexdigest()
        if (
            got != self.obj.sha256
            or self.size != self.obj.size
            or (self._md5 is not None and self._md5.hexdigest() != self.obj.md5)
        ):
            raise StorageError(
                f"{self.what}: the bytes read hash to sha256:{got[:12]} ({self.size} bytes), "
                f"not the recorded sha256:{self.obj.sha256[:12]}: not copied"
            )
