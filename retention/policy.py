"""Which policies apply to a record, until when it is retained, and what then. Pure; ``now`` is
injected by the caller (tests run years in milliseconds; production passes the system clock)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from provenance.timefmt import format_time, parse_duration, parse_time

__all__ = ["EXPIRY_ACTIONS", "Retention", "matches", "retention_of"]

#: What a policy says happens at expiry, from the most to the least conservative: when several
#: policies end on the same (latest) date, the most conservative of their actions wins.
EXPIRY_ACTIONS = ("keep", "review", "purge")


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
    """A record's retention: the matching policies, the latest retain-until among them, what
    happens then (``on_expiry``), and the policies that set that date (``deciding``)."""

    policies: tuple[str, ...]
    retain_until: datetime | None
    on_expiry: str | None = None
    deciding: tuple[str, ...] = ()

    def retained(self, now: datetime) -> bool:
        """Whether a policy still forbids purging the bytes at ``now``."""
        return self.retain_until is not None and now < self.retain_until

    def state(self, now: datetime, held: bool = False, tombstoned: bool = False) -> str:
        """``tombstoned``, ``held``, ``retained``, ``unmanaged`` (no policy applies), or
        ``expired-keep`` / ``expired-review`` / ``expired-purge`` (what the policy says now)."""
        if tombstoned:
            return "tombstoned"
        if held:
            return "held"
        if self.retain_until is None:
            return "unmanaged"
        if self.retained(now):
            return "retained"
        return f"expired-{self.on_expiry}"

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "policies": list(self.policies),
            "retain_until": format_time(self.retain_until) if self.retain_until else None,
            "retained": self.retained(now),
            "on_expiry": self.on_expiry,
            "deciding": list(self.deciding),
        }


def retention_of(
    record: Mapping[str, Any],
    logged_at: datetime,
    policies: Iterable[tuple[str, Mapping[str, Any]]],
) -> Retention:
    """Retention of ``record`` under ``(policy id, policy record)`` pairs: the latest date wins,
    and among the policies ending then, the most conservative expiry action."""
    ids: list[str] = []
    until: datetime | None = None
    deciding: list[tuple[str, str]] = []  # (policy id, on_expiry) of those ending at `until`
    for pid, policy in policies:
        if not matches(policy, record):
            continue
        attrs = policy["attributes"]
        start = logged_at if attrs.get("from") == "logged_at" else parse_time(record["created_at"])
        end = parse_duration(attrs["duration"]).after(start)
        ids.append(pid)
        if until is None or end > until:
            until, deciding = end, []
        if end == until:
            deciding.append((pid, attrs["on_expiry"]))
    action = min((a for _, a in deciding), key=EXPIRY_ACTIONS.index) if deciding else None
    return Retention(tuple(ids), until, action, tuple(p for p, _ in deciding))
