"""A directory's manifest: the record format's listing of a tree (docs/record-format.md).

The manifest is the canonical JSON list of ``{"path", "sha256", "md5", "size"}`` sorted by
path; its SHA-256 is the directory's digest. Its MD5 digest is DVC 3's ``.dir`` hash, computed
the way DVC does, so a record matches DVC's own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from provenance.canonical import canonical_bytes

__all__ = ["ManifestEntry", "dvc_dir_md5", "manifest_bytes"]


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a directory: its POSIX path relative to the directory, digests and size."""

    path: str
    sha256: str
    md5: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "md5": self.md5, "size": self.size}


def manifest_bytes(entries: list[ManifestEntry]) -> bytes:
    """The canonical manifest of a directory."""
    return canonical_bytes([e.to_json() for e in sorted(entries, key=lambda e: e.path)])


def dvc_dir_md5(entries: list[ManifestEntry]) -> str:
    """DVC 3's directory hash: MD5 of its ``.dir`` JSON (DVC shows it with a ``.dir`` suffix)."""
    body = json.dumps(
        sorted(({"md5": e.md5, "relpath": e.path} for e in entries), key=lambda x: x["relpath"]),
        sort_keys=True,
    )
    return hashlib.md5(body.encode()).hexdigest()
