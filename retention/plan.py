"""A retention plan, given the records and ``now``: which records are due and why, what
expires in later years, and how many records are in each state (``prov retention plan``).

Pure: the registry reads the rows, holds, tombstones and stored locations, and carries out
what the plan says (:mod:`registry.service.retention`).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from datetime import datetime
from typing import Any

from provenance.timefmt import format_time
from retention.bulk import Evaluator

__all__ = ["plan"]

#: A record as the plan reads it: (id, kind, name, created_at, logged_at).
Row = tuple[str, str, str, str, str]


def plan(
    rows: Iterable[Row],
    evaluator: Evaluator,
    now: datetime,
    held: Container[str],
    tombstoned: Container[str],
    stored: Container[str],
    tags: Mapping[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """What expires when at ``now``.

    ``due`` lists the records whose retention is over, with what their policy says
    (``expired-purge`` is what ``apply`` purges, ``expired-review`` waits for a person,
    ``held`` waits for a release), and purges a crash left unfinished (a tombstoned record
    still ``stored``); ``upcoming`` counts expiries by year; ``states`` counts every record
    some policy applies to by state.
    """
    now_text = format_time(now)
    tags = tags or {}
    due: list[dict[str, Any]] = []
    upcoming: dict[str, int] = {}
    counts: dict[str, int] = {}
    verdict = evaluator.verdict
    for rid, kind, name, created_at, logged_at in rows:
        v = verdict(kind, name, tags.get(rid), created_at, logged_at)
        if v is None:
            if rid in tombstoned and rid in stored:  # an erasure no policy governed, cut short
                due.append(
                    {
                        "id": rid,
                        "kind": kind,
                        "name": name,
                        "retain_until": None,
                        "on_expiry": None,
                        "policies": [],
                        "state": "tombstoned",
                        "stored": True,
                        "unfinished": True,
                    }
                )
            continue
        expired = v.retain_until <= now_text
        if rid in tombstoned:
            state = "tombstoned"
        elif rid in held:
            state = "held"
        else:
            state = f"expired-{v.on_expiry}" if expired else "retained"
        counts[state] = counts.get(state, 0) + 1
        unfinished = state == "tombstoned" and rid in stored
        if state == "retained":
            upcoming[v.retain_until[:4]] = upcoming.get(v.retain_until[:4], 0) + 1
        elif state.startswith("expired-") or unfinished or (state == "held" and expired):
            due.append(
                {
                    "id": rid,
                    "kind": kind,
                    "name": name,
                    "retain_until": v.retain_until,
                    "on_expiry": v.on_expiry,
                    "policies": list(v.deciding),
                    "state": state,
                    "stored": rid in stored,
                    "unfinished": unfinished,
                }
            )
    return {"now": now_text, "states": counts, "due": due, "upcoming": upcoming}
