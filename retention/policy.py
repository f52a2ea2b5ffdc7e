"""Which policies apply to a record and until when it is retained. Pure; ``now`` is injected."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from provenance.timefmt import format_time, parse_duration, parse_time

__all__ = ["Retention", "matches", "retention_of"]


def matches(policy: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Whether a policy record's ``applies_to`` selects a record."""
    applies = policy["attributes"].get("applies_to", {})
    kinds = applies.get("kinds")
    if kinds and record["kind"] not in kinds:
        return False
    glob = applies.get("name_glob")
    if glob and not fnmatch.fnmatchcase(record["name"], glob):
        return False
    tags = record.get("tags", {})
    return all(tags.get(k) == v for k, v in applies.get("tags", {}).items())


@dataclass(frozen=True)
class Retention:
    """A record's retention: the matching policies and the latest retain-until among them."""

    policies: tuple[str, ...]
    retain_until: datetime | None

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "policies": list(self.policies),
            "retain_until": format_time(self.retain_until) if self.retain_until else None,
            "retained": self.retain_until is not None and now < self.retain_until,
        }


def retention_of(
    record: Mapping[str, Any],
    logged_at: datetime,
    policies: Iterable[tuple[str, Mapping[str, Any]]],
) -> Retention:
    """Retention of ``record`` under ``(policy id, policy record)`` pairs: the latest date wins."""
    ids: list[str] = []
    until: datetime | None = None
    for pid, policy in policies:
        if not matches(policy, record):
            continue
        attrs = policy["attributes"]
        start = logged_at if attrs.get("from") == "logged_at" else parse_time(record["created_at"])
        end = parse_duration(attrs["duration"]).after(start)
        ids.append(pid)
        until = end if until is None or end > until else until
    return Retention(tuple(ids), until)
