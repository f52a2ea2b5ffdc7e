"""What the registry's writes return: plain values, shared by the local registry and the HTTP
client (:mod:`registry.client`), so neither needs the other to describe a record in the log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Added", "Registered"]


@dataclass
class Registered:
    """A record in the log."""

    id: str
    seq: int
    record: dict[str, Any]
    logged_at: str
    existing: bool = False

    @property
    def kind(self) -> str:
        return str(self.record["kind"])

    @property
    def name(self) -> str:
        return str(self.record["name"])

    def summary(self) -> dict[str, Any]:
        """The ``prov add --json`` shape."""
        subject = self.record.get("subject") or {}
        digest = subject.get("digest", {})
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "seq": self.seq,
            "sha256": digest.get("sha256"),
            "md5": digest.get("md5"),
            "size": subject.get("size"),
            "existing": self.existing,
        }


@dataclass
class Added(Registered):
    """The result of :meth:`Registry.add`: the record and how many files had to be read."""

    files_read: int = 0
    files: int = 0
