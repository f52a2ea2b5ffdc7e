"""A directory of objects keyed by SHA-256 (``sha256/ab/cdef…``): the registry's own
``.prov/objects`` and any local-path remote (a mounted disk, an NFS share)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from provenance.digests import Readable, StreamDigest, digest_stream
from registry.errors import StorageError
from registry.stores.base import Obj, Store
from registry.stores.objects import ObjectStore, ObjectWriter

__all__ = ["LocalStore"]


class LocalStore(Store):
    def __init__(self, name: str, root: Path, objects: ObjectStore | None = None) -> None:
        self.name, self.url = name, str(root)
        self.objects = objects or ObjectStore(root)
        self._lock = threading.Lock()
        self._batching = False

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
            self._commit(w, obj.sha256)

    def put_new(self, src: Readable) -> StreamDigest:
        """Write bytes whose digests are not known beforehand (read from DVC, which keys by
        MD5 only); returns them, the object being keyed by the SHA-256 found."""
        with self.objects.writer() as w:
            d = digest_stream(src, w)
            self._commit(w, d.sha256)
        return d

    def _commit(self, w: ObjectWriter, sha256: str) -> None:
        with self._lock:
            w.commit(sha256)
            if not self._batching:
                self.objects.publish()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Objects put inside are published together at the end (one sync instead of an
        fsync each), or dropped if the block fails."""
        with self._lock:
            self._batching = True
        try:
            yield
        except BaseException:
            with self._lock:
                self.objects.discard()
            raise
        finally:
            with self._lock:
                self._batching = False
        with self._lock:
            self.objects.publish()

    @contextlib.contextmanager
    def open(self, obj: Obj) -> Iterator[BinaryIO]:
        with self.objects.path_for(obj.sha256).open("rb") as f:
            yield f

    def delete(self, obj: Obj) -> None:
        try:
            self.objects.path_for(obj.sha256).unlink(missing_ok=True)
        except OSError as e:
            raise StorageError(f"cannot delete from {self.url}: {e.strerror}") from e
