"""The local content-addressed object store: ``.prov/objects/sha256/ab/cdef…``.

Objects are keyed by SHA-256 (MD5 is kept for DVC interop, never as the key we trust). A write
goes to a temporary file in the same file system, is made read-only, and waits (staged) until the
whole registration has hashed: :meth:`ObjectStore.publish` then makes every staged object durable
(fsync), renames it into place and fsyncs the directories, before the log records anything that
points at them; :meth:`ObjectStore.discard` drops them when the registration fails. A partial write
never becomes visible, and a failed ``prov add`` leaves no object behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from provenance.digests import StreamDigest, digest_bytes, digest_stream
from registry.errors import StorageError

__all__ = ["ObjectStore", "ObjectWriter"]

_SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
#: Flush written bytes to disk every this many bytes. Keeping the dirty pages few makes the
#: final fsync nearly free and avoids the kernel's write throttling: 1 GiB lands durably in the
#: time MD5 takes to hash it (docs/benchmarks.md).
_FLUSH_EVERY = 64 << 20
#: Objects are read-only, and never readable by other users: they hold datasets and models.
OBJECT_MODE = 0o440
#: Up to this many staged objects are fsynced one by one; more are made durable by one sync.
_SYNC_ONE_BY_ONE = 32


class ObjectWriter:
    """A temporary file that becomes an object on :meth:`commit`."""

    def __init__(self, store: ObjectStore, f: BinaryIO, tmp: Path) -> None:
        self._store, self._f, self.tmp = store, f, tmp
        self._unflushed = 0
        self.written = 0
        self.staged = False

    def write(self, data: bytes | memoryview) -> None:
        try:
            view = memoryview(data)
            while view:  # an unbuffered write may take part of it
                n = self._f.write(view)
                if not n:
                    raise OSError(errno.EIO, "nothing written")
                view = view[n:]
            self._unflushed += len(data)
            self.written += len(data)
            if self._unflushed >= _FLUSH_EVERY:
                os.fdatasync(self._f.fileno())
                self._unflushed = 0
        except OSError as e:
            raise StorageError(f"cannot write to the object store: {e.strerror}") from e

    def commit(self, sha256: str) -> None:
        """Stage the written bytes as the object ``sha256`` (they must hash to it)."""
        try:
            # A size hint larger than what came (preallocated) must not pad the object.
            self._f.truncate(self.written)
            self._f.close()  # durability comes at publish, for every staged object at once
            if self._store.has(sha256) or sha256 in self._store.staged:
                self.tmp.unlink()
                return
            os.chmod(self.tmp, OBJECT_MODE)
        except OSError as e:
            raise StorageError(f"cannot write to the object store: {e.strerror}") from e
        self._store.staged[sha256] = self.tmp
        self.staged = True


class ObjectStore:
    """A directory of immutable objects named by their SHA-256."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.staged: dict[str, Path] = {}

    def uri_for(self, sha256: str) -> str:
        return f"sha256/{sha256[:2]}/{sha256[2:]}"

    def path_for(self, sha256: str) -> Path:
        """The object's path; ``sha256`` must be 64 lowercase hex digits (no path games)."""
        if not _SHA256_RE.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / "sha256" / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    @contextmanager
    def writer(self, size_hint: int = 0) -> Iterator[ObjectWriter]:
        """A writer whose temporary file is removed unless committed.

        ``size_hint`` preallocates the file, so the file system does not allocate blocks while
        the bytes stream in.
        """
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="obj-")
            if size_hint > 1 << 20:
                with contextlib.suppress(OSError):  # unsupported here: only an optimization
                    os.posix_fallocate(fd, 0, size_hint)
        except OSError as e:
            raise StorageError(f"cannot write to the object store {self.root}: {e.strerror}") from e
        tmp = Path(name)
        f = os.fdopen(fd, "wb", buffering=0)
        w = ObjectWriter(self, f, tmp)
        try:
            yield w
        finally:
            if not f.closed:
                f.close()
            if not w.staged:
                tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> StreamDigest:
        """Store bytes already in memory (a manifest); returns their digests."""
        d = digest_bytes(data)
        if not self.has(d.sha256):
            with self.writer() as w:
                w.write(data)
                w.commit(d.sha256)
        return d

    def read_bytes(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def rehash(self, sha256: str) -> StreamDigest:
        """Re-read an object and hash it.

        Raises:
            OSError: missing or unreadable.
        """
        with self.path_for(sha256).open("rb") as f:
            return digest_stream(f)

    def publish(self) -> None:
        """Move staged objects into place and fsync their directories (durable renames)."""
        dirs = set()
        try:
            if len(self.staged) > _SYNC_ONE_BY_ONE:
                # Many small objects: one sync beats an fsync each, which stalls every
                # following file creation on the journal (10,000 files: 18 s -> 3 s).
                os.sync()
            else:
                for tmp in self.staged.values():
                    fd = os.open(tmp, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            for sha256, tmp in sorted(self.staged.items()):
                dest = self.path_for(sha256)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, dest)
                dirs.add(dest.parent)
            for d in sorted(dirs):
                fd = os.open(d, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as e:
            raise StorageError(f"cannot write to the object store: {e.strerror}") from e
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop staged objects that were not published."""
        for tmp in self.staged.values():
            tmp.unlink(missing_ok=True)
        self.staged.clear()
