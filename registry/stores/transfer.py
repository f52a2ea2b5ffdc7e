"""Copying a record's bytes between stores, each copy re-hashed (``prov push``, ``prov pull``,
``prov add --remote``), and the objects a record holds in a store (for purges).

A copy streams each object through a :class:`~registry.stores.VerifiedReader`: bytes that do
not hash to what the record says are never written (the store aborts the write) and the copy
fails. A directory's files go first, several at once and made durable together, and its root
object last, so a root in a store means the whole tree is there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Container, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from provenance.digests import Readable
from provenance.manifest import ManifestEntry, manifest_bytes
from registry.errors import InputError, StorageError
from registry.stores.base import Member, Obj, Store, VerifiedReader
from registry.stores.local import LocalStore

__all__ = ["PARALLEL", "copy", "delete", "each", "objects", "root_of"]

T = TypeVar("T")
R = TypeVar("R")

#: Files of a directory copied at once (DVC's default is 4 per core).
PARALLEL = 8

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")


def root_of(record: Mapping[str, Any]) -> Obj:
    """The object holding a record's bytes (a directory's: its manifest).

    Raises:
        InputError: the record has no bytes (not an artifact).
    """
    subject = record.get("subject") or {}
    digest = subject.get("digest") or {}
    if not isinstance(digest.get("sha256"), str) or not isinstance(digest.get("md5"), str):
        raise InputError(f"{record.get('kind')} {record.get('name')!r} has no bytes to store")
    tree = "manifest" in subject
    size = subject.get("size")
    sha = str(subject["manifest"]).removeprefix("sha256:") if tree else digest["sha256"]
    return Obj(sha, digest["md5"], size if isinstance(size, int) else -1, tree)


def _member_obj(m: Member) -> Obj:
    assert m.sha256 is not None and m.size is not None
    return Obj(m.sha256, m.md5, m.size)


def objects(store: Store, root: Obj) -> list[Obj]:
    """A record's objects in ``store``: a directory's files, then its root (the order a
    purge deletes them in, so a purge cut short still finds the files through the root)."""
    if not root.tree:
        return [root]
    try:
        members = store.tree(root)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return [root]
    # Only well-formed digests: a damaged listing names no path to delete.
    return [
        Obj(m.sha256 or "0" * 64, m.md5, m.size or 0)
        for m in members
        if _MD5.fullmatch(str(m.md5)) and (m.sha256 is None or _SHA256.fullmatch(str(m.sha256)))
    ] + [root]


def _copy_one(src: Store, dst: Store, obj: Obj) -> None:
    if dst.exists(obj):
        return
    with src.open(obj) as f:
        reader = VerifiedReader(obj, f, what=f"{src.name}: {src.locate(obj)}")
        try:
            dst.put(obj, reader)  # type: ignore[arg-type]
            reader.check()
        except StorageError:
            dst.delete(obj)
            raise


def _member(src: Store, dst: Store, m: Member) -> Member:
    """Copy one file of a tree; the member with both digests."""
    if m.sha256 is not None and m.size is not None:
        _copy_one(src, dst, _member_obj(m))
        return m
    # Keyed by MD5 alone (DVC): learn the SHA-256 by reading, into our own store only.
    if not isinstance(dst, LocalStore):
        raise StorageError(f"{src.name} lists {m.path} without a SHA-256: pull it first")
    with src.open(Obj("0" * 64, m.md5, -1)) as f:
        # Only DVC lists files by MD5 alone; its (fsspec) files read into buffers.
        d = dst.put_new(cast(Readable, f))
    if d.md5 != m.md5:
        raise StorageError(f"{src.name}: {m.path} hashes to md5:{d.md5}, not md5:{m.md5}")
    return Member(m.path, d.md5, d.sha256, d.size)


def each(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``fn`` of every item, :data:`PARALLEL` at once (per-object store calls wait on the
    network far more than on the CPU), results in order; the first failure is raised and
    the calls not yet started are cancelled."""
    if len(items) < 2:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="prov-store")
    try:
        futures = [pool.submit(fn, item) for item in items]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _members(src: Store, dst: Store, members: list[Member]) -> list[Member]:
    """Copy a tree's files, several at once, in one batch of the destination; files with the
    same bytes are copied once (two uploads of one key at once would leave, on a versioned
    bucket, a version no lock covers)."""
    unique = list({(m.sha256, m.md5): m for m in members}.values())
    with dst.batch():
        copied = each(lambda m: _member(src, dst, m), unique)
    done = {(m.sha256, m.md5): got for m, got in zip(unique, copied, strict=True)}
    return [dataclasses.replace(done[(m.sha256, m.md5)], path=m.path) for m in members]


def delete(store: Store, root: Obj, keep: Container[str] = ()) -> None:
    """Delete a record's objects from ``store``, except those ``keep`` names (as the store
    locates them): a directory's files first, several at once, then its root, so a purge cut
    short still finds the files through the root."""
    doomed = list(dict.fromkeys(o for o in objects(store, root) if store.locate(o) not in keep))
    each(store.delete, [o for o in doomed if o != root])
    if root in doomed:
        store.delete(root)


def copy(src: Store, dst: Store, root: Obj) -> None:
    """Copy a record's objects from ``src`` to ``dst`` (objects ``dst`` has are skipped).

    Raises:
        StorageError: a store failed, or bytes in ``src`` are not what the record says.
        FileNotFoundError: ``src`` lacks an object.
    """
    if not root.tree:
        _copy_one(src, dst, root)
        return
    if dst.exists(root):
        return
    full = _members(src, dst, src.tree(root))
    manifest = manifest_bytes(
        [ManifestEntry(m.path, m.sha256 or "", m.md5, m.size or 0) for m in full]
    )
    got = hashlib.sha256(manifest).hexdigest()
    if got != root.sha256:
        raise StorageError(
            f"{src.name}: the directory's files there make manifest sha256:{got[:12]}, "
            f"not the recorded sha256:{root.sha256[:12]}"
        )
    dst.put_tree(root, manifest, full)
