"""The store interface: :class:`Obj`, :class:`Member`, :class:`Store` and the
:class:`VerifiedReader` every copy streams through (the stores themselves are its subclasses;
:mod:`registry.stores` picks one by URL).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from registry.errors import StorageError

__all__ = ["LOCAL", "Member", "Obj", "Store", "VerifiedReader"]

#: The name of the registry's own object store (``.prov/objects``); no remote may take it.
LOCAL = "local"


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
