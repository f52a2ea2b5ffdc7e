"""lakeFS (``lakefs://REPOSITORY/BRANCH[/PREFIX]``) through the ``lakefs`` SDK.

Objects are kept at ``PREFIX/sha256/ab/cdef…`` on the branch, with their SHA-256 and MD5 in the
object's user metadata (lakeFS's own checksum is the underlying store's ETag, not a digest we
can rely on). Each record pushed is sealed by a commit whose metadata carries the record id
(``prov.record_id``) and the object's SHA-256; the location keeps the commit id as its version,
and reads of a location go to that commit (:meth:`LakeFSStore.at`), so later changes to the
branch do not change what a record points at. A commit is made even when the bytes were already
on the branch (``allow_empty``), so every record has its own commit.

Endpoint and credentials come from where the SDK reads them (``LAKECTL_SERVER_ENDPOINT_URL``,
``LAKECTL_CREDENTIALS_ACCESS_KEY_ID`` / ``…_SECRET_ACCESS_KEY``, ``~/.lakectl.yaml``); the
remote's ``endpoint_url`` option overrides the endpoint. Bytes go through the lakeFS server
(no pre-signed URLs), so prov needs no credentials for the storage underneath.

A purge deletes the objects from the branch and commits; the bytes stay reachable at earlier
commits until lakeFS's garbage collection removes them (docs/storage.md).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, cast

from registry.errors import ConfigError, StorageError
from registry.stores.base import Obj, Store

__all__ = ["LakeFSStore"]

_CHUNK = 4 << 20


def _status(e: Exception) -> int | None:
    return getattr(e, "status_code", None)


class LakeFSStore(Store):
    def __init__(
        self, name: str, url: str, repo: str, rest: str, options: Mapping[str, str]
    ) -> None:
        try:
            import lakefs
            from lakefs.client import Client
            from lakefs.exceptions import NoAuthenticationFound
        except ImportError:
            raise StorageError(
                "the lakeFS store needs the lakeFS SDK: pip install 'prov-registry[lakefs]'"
            ) from None
        self.name, self.url, self.repo_id = name, url, repo
        branch, _, prefix = rest.partition("/")
        self.branch_id, self.prefix = branch, f"{prefix.strip('/')}/" if prefix else ""
        try:
            self.client = Client()  # type: ignore[no-untyped-call]
        except NoAuthenticationFound:
            raise ConfigError(
                f"remote {name}: no lakeFS credentials (set LAKECTL_CREDENTIALS_ACCESS_KEY_ID "
                "and LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY, or write ~/.lakectl.yaml)"
            ) from None
        endpoint = options.get("endpoint_url")
        if endpoint:
            endpoint = endpoint.rstrip("/")
            self.client.config.host = (
                endpoint if endpoint.endswith("/api/v1") else endpoint + "/api/v1"
            )
        self.repo = lakefs.Repository(repo, client=self.client)
        self.branch = self.repo.branch(branch)
        #: The reference reads go to: the branch, or a commit (:meth:`at`).
        self.ref = branch

    def failure(self, e: Exception, doing: str) -> StorageError:
        status = _status(e)
        why = f"HTTP {status}" if status else (str(e).splitlines() or [type(e).__name__])[0]
        return StorageError(f"remote {self.name} ({self.url}): cannot {doing}: {why}")

    def path(self, obj: Obj) -> str:
        return f"{self.prefix}sha256/{obj.sha256[:2]}/{obj.sha256[2:]}"

    def at(self, version: str | None) -> LakeFSStore:
        if not version:
            return self
        pinned = copy.copy(self)
        pinned.ref = version
        return pinned

    def check(self) -> None:
        try:
            self.branch.head.id  # noqa: B018 - GET the branch: repository, branch, credentials
        except Exception as e:
            if _status(e) == 404:
                raise StorageError(
                    f"remote {self.name}: no branch {self.branch_id!r} in lakeFS repository "
                    f"{self.repo_id!r} (create them in lakeFS first)"
                ) from None
            raise self.failure(e, "reach the lakeFS server") from None

    def locate(self, obj: Obj) -> str:
        return f"lakefs://{self.repo_id}/{self.branch_id}/{self.path(obj)}"

    def exists(self, obj: Obj) -> bool:
        try:
            return bool(self.repo.ref(self.ref).object(self.path(obj)).exists())
        except Exception as e:
            raise self.failure(e, f"look up {self.path(obj)}") from None

    def put(self, obj: Obj, src: BinaryIO) -> None:
        """Stream into the SDK's writer (it spools to a temporary file past 32 MiB) and upload
        only when ``src`` has been read to its end: a digest check failing there discards the
        write, so nothing reaches lakeFS."""
        target = self.branch.object(self.path(obj))
        meta = {"sha256": obj.sha256, "md5": obj.md5}
        writer = target.writer(mode="wb", pre_sign=False, metadata=meta)
        try:
            while chunk := src.read(_CHUNK):
                writer.write(chunk)
        except BaseException:
            writer.discard()
            raise
        try:
            writer.close()
        except Exception as e:
            raise self.failure(e, f"upload {self.path(obj)}") from None

    @contextlib.contextmanager
    def open(self, obj: Obj) -> Iterator[BinaryIO]:
        target = self.repo.ref(self.ref).object(self.path(obj))
        try:
            if not target.exists():
                raise FileNotFoundError(self.locate(obj))
        except FileNotFoundError:
            raise
        except Exception as e:
            raise self.failure(e, f"read {self.path(obj)}") from None
        reader: Any = target.reader(mode="rb", pre_sign=False)
        with reader:
            yield cast(BinaryIO, _Reads(reader, self, obj))

    def delete(self, obj: Obj) -> None:
        try:
            self.branch.object(self.path(obj)).delete()
        except Exception as e:
            if _status(e) == 404:
                return
            raise self.failure(e, f"delete {self.path(obj)}") from None

    def seal(self, record_id: str, root: Obj) -> str:
        return self._commit(
            f"prov: {record_id}", {"prov.record_id": record_id, "prov.sha256": root.sha256}
        )

    def unseal(self, record_id: str) -> None:
        self._commit(f"prov: purge {record_id}", {"prov.purged": record_id})

    def _commit(self, message: str, metadata: dict[str, str]) -> str:
        try:
            ref = self.branch.commit(message=message, metadata=metadata, allow_empty=True)
        except Exception as e:
            raise self.failure(e, f"commit to branch {self.branch_id}") from None
        return str(ref.id)


class _Reads:
    """The SDK's reader, its failures as :class:`StorageError` (a read is a ranged GET)."""

    def __init__(self, reader: Any, store: LakeFSStore, obj: Obj) -> None:
        self._reader, self._store, self._obj = reader, store, obj

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self._reader.read(n if n and n > 0 else None))
        except Exception as e:
            raise self._store.failure(e, f"read {self._store.path(self._obj)}") from None

    def readable(self) -> bool:
        return True
