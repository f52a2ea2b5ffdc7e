"""Retention of many records at once (``prov retention plan`` over millions): the same answer
as :func:`retention.policy.retention_of`, computed on the fixed timestamp layout as strings.

Policies are parsed once; which policies match depends on the kind alone unless one has a name
glob or tags (then it is decided per record); adding whole years and months to a timestamp
and days changes only its date, so the end date is computed once per day and duration (clamped
to month end exactly as :meth:`provenance.timefmt.Duration.after` does) and the time of day
copied. Held equal to ``retention_of`` by a hypothesis test.
"""

from __future__ import annotations

import calendar
import datetime as dt
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provenance.timefmt import Duration, format_time, parse_duration, parse_time
from retention.policy import EXPIRY_ACTIONS

__all__ = ["Evaluator", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    """A record's retain-until (a timestamp string), expiry action and deciding policies."""

    retain_until: str
    on_expiry: str
    deciding: tuple[str, ...]


@dataclass(frozen=True)
class _Policy:
    id: str
    kinds: frozenset[str] | None
    glob: re.Pattern[str] | None
    tags: tuple[tuple[str, str], ...]
    from_logged: bool
    duration: Duration
    on_expiry: str


def _after_date(date: str, d: Duration) -> str | None:
    """The date part (``YYYY-MM-DD``) of a timestamp on that date plus ``d``, when ``d`` has no
    time part (None otherwise, or beyond year 9999)."""
    if d.seconds:
        return None
    month_index = int(date[5:7]) - 1 + d.months + 12 * d.years
    year, month = int(date[0:4]) + month_index // 12, month_index % 12 + 1
    if year > 9999:
        return None
    day = min(int(date[8:10]), calendar.monthrange(year, month)[1])
    if d.days:
        try:
            end = dt.date.fromordinal(dt.date(year, month, day).toordinal() + d.days)
        except (ValueError, OverflowError):  # past year 9999: Duration.after saturates it
            return None
        year, month, day = end.year, end.month, end.day
    return f"{year:04d}-{month:02d}-{day:02d}"


class Evaluator:
    """``Evaluator(policies).verdict(kind, name, tags, created_at, logged_at)``."""

    def __init__(self, policies: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        self.policies: list[_Policy] = []
        for pid, policy in policies:
            attrs = policy["attributes"]
            applies = attrs.get("applies_to", {})
            glob = applies.get("name_glob")
            self.policies.append(
                _Policy(
                    pid,
                    frozenset(applies["kinds"]) if applies.get("kinds") else None,
                    re.compile(fnmatch.translate(glob)) if glob else None,
                    tuple(applies.get("tags", {}).items()),
                    attrs.get("from") == "logged_at",
                    parse_duration(attrs["duration"]),
                    attrs["on_expiry"],
                )
            )
        self.uses_tags = any(p.tags for p in self.policies)
        self.uses_logged_at = any(p.from_logged for p in self.policies)
        self._per_record = [p for p in self.policies if p.glob or p.tags]
        self._by_kind: dict[str, list[_Policy]] = {}
        #: (date, duration) -> end date: records of one day share it
        self._dates: dict[tuple[str, Duration], str | None] = {}

    def _after(self, text: str, d: Duration) -> str:
        """``text`` (a record timestamp) plus ``d``, as a timestamp string."""
        key = (text[:10], d)
        date = self._dates.get(key, "")
        if date == "":
            date = self._dates[key] = _after_date(text[:10], d)
        if date is None:
            return format_time(d.after(parse_time(text)))
        return date + text[10:]

    def _kind(self, kind: str) -> list[_Policy]:
        found = self._by_kind.get(kind)
        if found is None:
            found = self._by_kind[kind] = [
                p for p in self.policies if p.kinds is None or kind in p.kinds
            ]
        return found

    def verdict(
        self,
        kind: str,
        name: str,
        tags: Mapping[str, str] | None,
        created_at: str,
        logged_at: str,
    ) -> Verdict | None:
        """None when no policy applies."""
        until: str | None = None
        deciding: list[_Policy] = []
        for p in self._kind(kind):
            if self._per_record and (
                (p.glob is not None and not p.glob.match(name))
                or (p.tags and (tags is None or any(tags.get(k) != v for k, v in p.tags)))
            ):
                continue
            end = self._after(logged_at if p.from_logged else created_at, p.duration)
            if until is None or end > until:
                until, deciding = end, [p]
            elif end == until:
                deciding.append(p)
        if until is None:
            return None
        action = min((p.on_expiry for p in deciding), key=EXPIRY_ACTIONS.index)
        return Verdict(until, action, tuple(p.id for p in deciding))
