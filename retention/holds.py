"""Legal holds: which are in force, replayed from the log's hold and release records. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["HOLD", "RELEASE", "active_holds"]

HOLD, RELEASE = "legal-hold", "hold-release"


def active_holds(events: Iterable[tuple[str, str, str, Mapping[str, Any]]]) -> dict[str, list[str]]:
    """The holds in force: record id -> ids of its unreleased ``legal-hold`` attestations.

    ``events`` are ``(attestation id, predicate, about, body)`` in log order. A release names the
    holds it ends (``body.holds``); one naming none ends every hold then in force on the record.
    """
    held: dict[str, list[str]] = {}
    for aid, predicate, about, body in events:
        if predicate == HOLD:
            held.setdefault(about, []).append(aid)
        elif predicate == RELEASE and about in held:
            ends = body.get("holds") if isinstance(body, Mapping) else None
            remaining = [h for h in held[about] if ends and h not in ends]
            if remaining:
                held[about] = remaining
            else:
                del held[about]
    return held
