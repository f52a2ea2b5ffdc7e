"""A directory of objects keyed by SHA-256 (``sha256/ab/cdef…``): the registry's own
``.prov/objects`` and any local-path remote (a mounted disk, an NFS share)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from provenance.digests import StreamDigest, digest_stream
from registry.errors import StorageError
from registry.objects import ObjectStore
from registry.stores import Obj, Store

__all__ = ["LocalStore"]


class LocalStore(Store):
    def __init__(self, name: str, root: Path, objects: ObjectStore | None = None) -> None:
        self.name, self.url = name, str(root)
        self.objects = objects or ObjectStore(root)

    def check(self) -> None:
        try:
            self.objects.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"remote {self.name}: cannot use {self.url}: {e.strerror}") from e
        if not os.access(self.objects.root, os.W_OK):
            raise StorageError(f"remote {self.name}: {self.url} is not writable")

    def locate(self, obj: Obj) -> str:
        return self.objects.uri_for(obj.sha256)

    def exists(self, obj: Obj) -> bool:
        return self.objects.has(obj.sha256)

    def put(self, obj: Obj, src: BinaryIO) -> None:
        # A tree's root is its manifest: the record's size is the directory's, not the root's.
        with self.objects.writer(0 if obj.tree else obj.size) as w:
            while chunk := src.read(4 << 20):
                w.write(chunk)
            w.commit(obj.sha256)
        self.objects.publish()

    def put_new(self, src: BinaryIO) -> StreamDigest:
        """Write bytes whose digests are not known beforehand (read from DVC, which keys by
        MD5 only); returns them, the object being keyed by the SHA-256 found."""
        with self.objects.writer() as w:
            d = digest_stream(src, w)
            w.commit(d.sha256)
        self.objects.publish()
        return d

    @contextlib.contextmanager
    def open(self, obj: Obj) -> Iterator[BinaryIO]:
        with self.objects.path_for(obj.sha256).open("rb") as f:
            yield f

    def delete(self, obj: Obj) -> None:
        try:
            self.objects.path_for(obj.sha256).unlink(missing_ok=True)
        except OSError as e:
            raise StorageError(f"cannot delete from {self.url}: {e.strerror}") from e
