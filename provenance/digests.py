"""Content digests: the ``sha256:<hex>`` value type and one-pass SHA-256 + MD5 of a stream.

SHA-256 is the digest we trust and key objects by; MD5 is computed beside it only so records
can be matched against DVC, which addresses its cache by MD5.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from provenance.errors import RefError

__all__ = ["CHUNK_SIZE", "Digest", "Readable", "StreamDigest", "digest_bytes", "digest_stream"]

_HEX_LEN = {"sha256": 64, "md5": 32}
_HEX_RE = re.compile(r"\A[0-9a-f]+\Z")

#: Read size: large enough that hashlib releases the GIL and per-call overhead vanishes.
CHUNK_SIZE = 4 << 20
#: Buffers in flight: one being read while others are hashed and written.
_BUFFERS = 5


@dataclass(frozen=True)
class Digest:
    """A digest that carries its algorithm: ``sha256:<hex>`` or ``md5:<hex>``."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        n = _HEX_LEN.get(self.algorithm)
        if n is None:
            raise RefError(f"unknown digest algorithm {self.algorithm!r} (use sha256 or md5)")
        if len(self.hex) != n or not _HEX_RE.match(self.hex):
            raise RefError(f"{self.algorithm} digest must be {n} lowercase hex digits")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``sha256:<hex>`` or ``md5:<hex>``.

        Raises:
            RefError: unknown algorithm or malformed hex.
        """
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise RefError(f"a digest looks like sha256:<hex> or md5:<hex>, got {text!r}")
        return cls(algorithm, hexpart)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


@dataclass(frozen=True)
class StreamDigest:
    """SHA-256 and MD5 (lowercase hex) and the byte count of one stream."""

    sha256: str
    md5: str
    size: int


class _Sink(Protocol):
    def write(self, data: memoryview, /) -> object: ...


class Readable(Protocol):
    """A binary stream that reads into a caller's buffer (files, sockets, BytesIO)."""

    def readinto(self, buffer: bytearray, /) -> int | None: ...


def digest_bytes(data: bytes) -> StreamDigest:
    """Both digests of an in-memory byte string."""
    return StreamDigest(hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data))


def digest_stream(
    src: Readable,
    sink: _Sink | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> StreamDigest:
    """Hash a stream with SHA-256 and MD5 in one read, optionally copying it to ``sink``.

    Each chunk is read once into a reusable buffer. Two threads hash it (SHA-256 and MD5; hashlib
    releases the GIL) while the calling thread copies it to the sink and reads the next one, so
    on two cores the whole costs about as much as MD5 alone, the slowest of the three. A stream
    that fits in one chunk stays in one thread.

    Args:
        src: a binary stream with ``readinto``.
        sink: where to copy the bytes (the object store's temporary file), or ``None``.
        progress: called with the byte count of every chunk.
        chunk_size: bytes per read.

    Raises:
        OSError: from reading ``src`` or writing ``sink``.
    """
    sha, md5 = hashlib.sha256(), hashlib.md5()
    first = bytearray(chunk_size)
    n = src.readinto(first) or 0
    size = 0
    if n < chunk_size:  # fits in one read: a thread hand-off would cost more than it saves
        buf = first
        while n:
            view = memoryview(buf)[:n]
            sha.update(view)
            md5.update(view)
            if sink is not None:
                sink.write(view)
            size += n
            if progress:
                progress(n)
            n = src.readinto(buf) or 0
        return StreamDigest(sha.hexdigest(), md5.hexdigest(), size)

    # Each buffer is read once, then hashed by two threads while this one copies it to the
    # sink; it returns to the free list when both hashes are done with it.
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(_BUFFERS - 1):
        free.put(bytearray(chunk_size))
    pending: dict[int, int] = {}
    lock = threading.Lock()

    def release(buf: bytearray) -> None:
        with lock:
            pending[id(buf)] -= 1
            if pending[id(buf)]:
                return
        free.put(buf)

    def hasher(h: Any, work: queue.SimpleQueue[tuple[bytearray, int] | None]) -> None:
        while (item := work.get()) is not None:
            buf, length = item
            h.update(memoryview(buf)[:length])
            release(buf)

    queues: list[queue.SimpleQueue[tuple[bytearray, int] | None]] = []
    threads = []
    for h in (sha, md5):
        q: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        t = threading.Thread(target=hasher, args=(h, q), name=f"prov-{h.name}", daemon=True)
        t.start()
        queues.append(q)
        threads.append(t)
    try:
        buf = first
        while n:
            with lock:
                pending[id(buf)] = len(queues)
            for q in queues:
                q.put((buf, n))
            if sink is not None:
                sink.write(memoryview(buf)[:n])
            size += n
            if progress:
                progress(n)
            buf = free.get()
            n = src.readinto(buf) or 0
    finally:
        for q in queues:
            q.put(None)
        for t in threads:
            t.join()
    return StreamDigest(sha.hexdigest(), md5.hexdigest(), size)
