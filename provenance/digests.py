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
from typing import BinaryIO, Protocol

from provenance.errors import RefError

__all__ = ["CHUNK_SIZE", "Digest", "StreamDigest", "digest_bytes", "digest_stream"]

_HEX_LEN = {"sha256": 64, "md5": 32}
_HEX_RE = re.compile(r"\A[0-9a-f]+\Z")

#: Read size: large enough that hashlib releases the GIL and per-call overhead vanishes.
CHUNK_SIZE = 4 << 20


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


def digest_bytes(data: bytes) -> StreamDigest:
    """Both digests of an in-memory byte string."""
    return StreamDigest(hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data))


def digest_stream(
    src: BinaryIO,
    sink: _Sink | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> StreamDigest:
    """Hash a stream with SHA-256 and MD5 in one read, optionally copying it to ``sink``.

    Each chunk is read once into a reusable buffer. The calling thread feeds SHA-256 and the
    sink; a second thread feeds MD5 (the slower hash) from the same buffer, so on two cores the
    whole costs about as much as MD5 alone. A stream that fits in one chunk stays in one thread.

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

    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    work: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
    for _ in range(3):
        free.put(bytearray(chunk_size))

    def md5_worker() -> None:
        while (item := work.get()) is not None:
            buf, length = item
            md5.update(memoryview(buf)[:length])
            free.put(buf)

    worker = threading.Thread(target=md5_worker, name="prov-md5", daemon=True)
    worker.start()
    try:
        buf = first
        while n:
            view = memoryview(buf)[:n]
            sha.update(view)
            if sink is not None:
                sink.write(view)
            work.put((buf, n))
            size += n
            if progress:
                progress(n)
            buf = free.get()
            n = src.readinto(buf) or 0
    finally:
        work.put(None)
        worker.join()
    return StreamDigest(sha.hexdigest(), md5.hexdigest(), size)
