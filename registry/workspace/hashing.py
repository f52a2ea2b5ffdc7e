"""Hashing files and directories for registration: one read per changed file, none otherwise.

A file whose inode, size and mtime match the digest cache (``file_states``) is not read again.
As in git's "racy" rule, a cached digest is trusted only when the file's mtime is safely older
than the moment hashing started, so a write landing in the same clock tick is never missed.

A directory becomes a manifest (:mod:`provenance.manifest`): its SHA-256 is the directory's
digest; its MD5 is DVC's ``.dir`` hash, so the record matches DVC's own.
"""

from __future__ import annotations

import mimetypes
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from provenance.digests import CHUNK_SIZE, Digest, StreamDigest, digest_bytes, digest_stream
from provenance.errors import ProvenanceError
from provenance.manifest import ManifestEntry, dvc_dir_md5, manifest_bytes
from registry.errors import InputError, StorageError
from registry.stores.objects import ObjectStore

__all__ = [
    "SKIPPED_DIRS",
    "FileHasher",
    "check_addable",
    "lookup_target",
    "subject_of",
    "walk",
]

#: A cached digest is trusted only if the file was last modified this long before it was hashed.
RACY_MARGIN_NS = 2_000_000_000


#: Directories never walked into: a registry's own (its private keys and database), and a
#: project's version-control and DVC metadata, which DVC leaves out of directories too.
SKIPPED_DIRS = frozenset({".prov", ".git", ".dvc", ".hg"})


def walk(root: Path, follow_links_outside: bool = False) -> Iterator[tuple[str, Path]]:
    """Files under ``root`` as (POSIX relative path, path), following symlinks like DVC as long
    as they stay inside ``root`` (or anywhere, with ``follow_links_outside``); never into
    :data:`SKIPPED_DIRS`, nor through a link into a ``.prov`` directory.

    Raises:
        InputError: a symlink loop, a dangling symlink, a link leading outside ``root`` or into
            a ``.prov`` directory, or an unreadable directory.
    """
    root_st = root.stat()
    top = None if follow_links_outside else root.resolve()
    yield from _walk(root, "", {(root_st.st_dev, root_st.st_ino)}, top)


def _walk(
    d: Path, rel: str, ancestors: set[tuple[int, int]], top: Path | None
) -> Iterator[tuple[str, Path]]:
    try:
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise InputError(f"cannot read directory {d}: {e.strerror}") from None
    for entry in entries:
        p = d / entry.name
        r = f"{rel}{entry.name}"
        try:
            st = p.stat()
        except FileNotFoundError:
            raise InputError(f"{p}: dangling symlink (its target does not exist)") from None
        except OSError as e:
            if e.errno == 40:  # ELOOP
                raise InputError(f"{p}: symlink loop") from None
            raise InputError(f"cannot stat {p}: {e.strerror}") from None
        if entry.is_symlink():
            _check_link(p, top)
        if stat.S_ISDIR(st.st_mode):
            if entry.name in SKIPPED_DIRS:
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in ancestors:
                raise InputError(f"{p}: symlink loop (it leads back to {p.resolve()})")
            yield from _walk(p, r + "/", ancestors | {ident}, top)
        elif stat.S_ISREG(st.st_mode):
            yield r, p
        else:
            raise InputError(f"{p}: not a regular file or directory")


def _check_link(p: Path, top: Path | None) -> None:
    """A symlink met in a walk may be followed: not into a registry, not out of ``top``."""
    target = p.resolve()
    if ".prov" in target.parts:
        raise InputError(f"{p}: a symlink into {target}: a registry's files are never added")
    if top is not None and not target.is_relative_to(top):
        raise InputError(
            f"{p}: a symlink to {target}, outside {top}: not followed "
            "(--follow-links-outside adds what it points to)"
        )


def check_addable(p: Path) -> None:
    """Refuse a path inside a ``.prov`` directory: a registry's keys, database and objects are
    never registered (they would be copied into the object store, named in a signed record).

    Raises:
        InputError: ``p`` is (or resolves into) a ``.prov`` directory.
    """
    if ".prov" in p.resolve().parts:
        raise InputError(f"{p}: inside a .prov directory: a registry's files are never added")


class FileHasher:
    """Hashes files, consulting and refreshing a digest cache, optionally storing the bytes."""

    def __init__(
        self,
        cache: Mapping[str, Mapping[str, Any]],
        store: ObjectStore | None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.cache = cache
        self.store = store
        self.progress = progress
        self.updates: list[dict[str, Any]] = []
        self.files_read = 0
        self._done: dict[str, StreamDigest] = {}

    def digest(self, path: Path) -> StreamDigest:
        """Both digests of a file, reading it only if it changed since it was last hashed.

        Raises:
            InputError: missing, unreadable, or not a regular file.
        """
        key = str(path.absolute())
        if key in self._done:  # hashed already, maybe before the database layer was loaded
            return self._done[key]
        try:
            st = path.stat()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file or directory") from None
        except OSError as e:
            raise InputError(f"cannot stat {path}: {e.strerror}") from None
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
            raise InputError(f"{path}: not a regular file or directory")
        cached = self.cache.get(key)
        if (
            cached
            and cached["inode"] == st.st_ino
            and cached["size"] == st.st_size
            and cached["mtime_ns"] == st.st_mtime_ns
            and st.st_mtime_ns + RACY_MARGIN_NS <= cached["hashed_at_ns"]
            and (self.store is None or self.store.has(cached["sha256"]))
        ):
            if self.progress:
                self.progress(st.st_size)
            return StreamDigest(cached["sha256"], cached["md5"], st.st_size)
        started = time.time_ns()
        d = self._read(path, st.st_size)
        self.files_read += 1
        self.updates.append(
            {
                "path": key,
                "inode": st.st_ino,
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "hashed_at_ns": started,
                "sha256": d.sha256,
                "md5": d.md5,
            }
        )
        self._done[key] = d
        return d

    def _read(self, path: Path, size: int) -> StreamDigest:
        try:
            f = path.open("rb")
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror}") from None
        try:
            with f:
                # A small file gets a buffer its size, not the 4 MiB a large one streams through.
                chunk = min(CHUNK_SIZE, max(size + 1, 1 << 16))
                if self.store is None:
                    return digest_stream(f, progress=self.progress, chunk_size=chunk)
                with self.store.writer(size) as w:
                    d = digest_stream(f, w, progress=self.progress, chunk_size=chunk)
                    w.commit(d.sha256)
                    return d
        except (InputError, StorageError):
            raise
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror}") from None


def subject_of(
    p: Path,
    hasher: FileHasher,
    store: ObjectStore | None = None,
    follow_links_outside: bool = False,
) -> tuple[dict[str, Any], int]:
    """A record's ``subject`` for a file or a directory (whose manifest goes into ``store``
    when one is given), and the number of files it covers; a directory is walked as
    :func:`walk` says."""
    if not p.is_dir():
        d = hasher.digest(p)
        subject: dict[str, Any] = {"digest": {"sha256": d.sha256, "md5": d.md5}, "size": d.size}
        media_type = mimetypes.guess_type(p.name)[0]
        if media_type:
            subject["media_type"] = media_type
        return subject, 1
    entries = []
    # The whole tree first: a loop or a link that must not be followed fails before any read.
    for rel, fp in list(walk(p, follow_links_outside)):
        d = hasher.digest(fp)
        entries.append(ManifestEntry(rel, d.sha256, d.md5, d.size))
    body = manifest_bytes(entries)
    md = store.put_bytes(body) if store is not None else digest_bytes(body)
    return {
        "digest": {"sha256": md.sha256, "md5": dvc_dir_md5(entries)},
        "size": sum(e.size for e in entries),
        "files": len(entries),
        "manifest": f"sha256:{md.sha256}",
    }, len(entries)


def lookup_target(target: str, hasher: Callable[[Path], FileHasher]) -> tuple[str, str]:
    """What ``prov lookup TARGET`` looks for, as (algorithm, hex digest): the SHA-256 of an
    existing file's or directory's bytes (hashed with ``hasher(path)``), else the digest
    ``TARGET`` spells (``sha256:<hex>``, ``md5:<hex>``, or DVC's ``md5:<hex>.dir``).

    Raises:
        InputError: neither an existing path nor a well-formed digest.
    """
    p = Path(target)
    if p.exists():
        # Reading is not adding: follow every link, to find bytes added with any option.
        subject, _ = subject_of(p, hasher(p), follow_links_outside=True)
        return "sha256", subject["digest"]["sha256"]
    try:
        # DVC writes a directory's md5 as <hex>.dir; records keep the bare hex.
        digest = Digest.parse(target.removesuffix(".dir"))
    except ProvenanceError:
        raise InputError(
            f"{target}: no such file, and not a digest (sha256:<hex> or md5:<hex>)"
        ) from None
    return digest.algorithm, digest.hex
