"""S3 (``s3://BUCKET/PREFIX``) through boto3, with Object Lock where the bucket has it.

Objects are keyed ``PREFIX/sha256/ab/cdef…``. Credentials, region and endpoint come from where
boto3 reads them (environment, ``~/.aws``); the remote's ``endpoint_url`` option points at
another S3 server (SeaweedFS, MinIO, Ceph).

Where the bucket has Object Lock enabled, every object gets a retain-until date equal to its
record's retention date (mode ``compliance`` by default, ``governance`` with the remote option
``lock_mode``), extended when a policy lengthens it and never shortened, and a legal hold while
the registry holds the record. The lock is set only after the bytes were read back as the
record says (a wrong upload is deleted, not locked). A purge deletes every version of an
object; the storage itself refuses while a lock or hold is in force.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, BinaryIO

from registry.errors import RetentionRefusedError, StorageError
from registry.stores.base import Obj, Store

__all__ = ["S3Store"]

_REFUSED = {"AccessDenied", "InvalidRequest", "ObjectLocked"}
#: Objects up to this size go in one PutObject (boto3's own multipart threshold).
_ONE_REQUEST = 8 << 20


def _code(e: Exception) -> str:
    return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))


class S3Store(Store):
    def __init__(
        self, name: str, url: str, bucket: str, prefix: str, options: Mapping[str, str]
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StorageError(
                "the S3 store needs boto3: pip install 'prov-registry[s3]'"
            ) from None
        self.name, self.url, self.bucket = name, url, bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.mode = options.get("lock_mode", "compliance").upper()
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=options.get("endpoint_url") or None,
            region_name=options.get("region") or None,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=32,  # a directory's files are copied several at once
                # Checksums only where S3 requires them: S3-compatible servers differ.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self._locking: bool | None = None

    def _fail(self, e: Exception, doing: str) -> StorageError:
        code = _code(e) or type(e).__name__
        return StorageError(f"remote {self.name} ({self.url}): cannot {doing}: {code}")

    def key(self, obj: Obj) -> str:
        return f"{self.prefix}sha256/{obj.sha256[:2]}/{obj.sha256[2:]}"

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as e:
            raise self._fail(e, f"reach bucket {self.bucket}") from None

    @property
    def worm(self) -> bool:  # type: ignore[override]
        """Whether the bucket has Object Lock enabled (asked once)."""
        if self._locking is None:
            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
                lock = conf.get("ObjectLockConfiguration", {})
                self._locking = lock.get("ObjectLockEnabled") == "Enabled"
            except Exception as e:
                if "ObjectLockConfigurationNotFound" in _code(e):
                    self._locking = False
                else:
                    raise self._fail(e, "read the bucket's Object Lock configuration") from None
        return self._locking

    def locate(self, obj: Obj) -> str:
        return f"s3://{self.bucket}/{self.key(obj)}"

    def exists(self, obj: Obj) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(obj))
            return True
        except Exception as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail(e, f"look up {self.key(obj)}") from None

    def put(self, obj: Obj, src: BinaryIO) -> None:
        if not obj.tree and 0 <= obj.size <= _ONE_REQUEST:  # a root: its size is the tree's
            self._put_small(obj, src)
            return
        try:
            self.client.upload_fileobj(src, self.bucket, self.key(obj))
        except StorageError:
            raise
        except Exception as e:
            cause = e.__context__ if isinstance(e.__context__, StorageError) else None
            if cause:  # our digest check, surfacing through the transfer manager
                raise cause from None
            raise self._fail(e, f"upload {self.key(obj)}") from None

    def _put_small(self, obj: Obj, src: BinaryIO) -> None:
        """One PutObject (a third of the transfer manager's cost for small files), sent only
        after ``src`` was read to its end, with Content-MD5 so the server checks what came."""
        body = b""
        while len(body) <= obj.size and (chunk := src.read(obj.size + 1 - len(body))):
            body += chunk
        if len(body) > obj.size:
            raise StorageError(
                f"object {obj.sha256[:12]}: more than the recorded {obj.size} bytes: not copied"
            )
        md5 = base64.b64encode(bytes.fromhex(obj.md5)).decode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(obj), Body=body, ContentMD5=md5)
        except Exception as e:
            raise self._fail(e, f"upload {self.key(obj)}") from None

    @contextlib.contextmanager
    def open(self, obj: Obj) -> Iterator[BinaryIO]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(obj))["Body"]
        except Exception as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(self.locate(obj)) from None
            raise self._fail(e, f"read {self.key(obj)}") from None
        try:
            yield body
        finally:
            body.close()

    def delete(self, obj: Obj) -> None:
        key = self.key(obj)
        try:
            listing = self.client.list_object_versions(Bucket=self.bucket, Prefix=key)
            versions = [
                v["VersionId"]
                for v in listing.get("Versions", []) + listing.get("DeleteMarkers", [])
                if v["Key"] == key and v.get("VersionId") not in (None, "null")
            ]
            for version in versions:
                self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version)
            if not versions:
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as e:
            if _code(e) in _REFUSED:
                raise RetentionRefusedError(
                    f"remote {self.name} refuses to delete {key} ({_code(e)}): "
                    "its Object Lock retention or legal hold is still in force"
                ) from None
            raise self._fail(e, f"delete {key}") from None

    def protect(self, obj: Obj, retain_until: datetime | None, hold: bool | None) -> None:
        if not self.worm:
            return
        key = self.key(obj)
        try:
            if retain_until is not None:
                current = self._retention(key)
                if current is None or current < retain_until:
                    self.client.put_object_retention(
                        Bucket=self.bucket,
                        Key=key,
                        Retention={"Mode": self.mode, "RetainUntilDate": retain_until},
                    )
            if hold is not None:
                self.client.put_object_legal_hold(
                    Bucket=self.bucket, Key=key, LegalHold={"Status": "ON" if hold else "OFF"}
                )
        except Exception as e:
            raise self._fail(e, f"set Object Lock on {key}") from None

    def _retention(self, key: str) -> datetime | None:
        try:
            got: dict[str, Any] = self.client.get_object_retention(Bucket=self.bucket, Key=key)
        except Exception as e:
            if "ObjectLockConfiguration" in _code(
                e
            ):  # none yet (AWS: NoSuch…, SeaweedFS: …NotFound)
                return None
            raise
        until = got.get("Retention", {}).get("RetainUntilDate")
        return until if isinstance(until, datetime) else None
