"""Retention presets shipped with prov (SPEC §7); their legal basis is in docs/retention.md."""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "preset_attributes"]

_ARTIFACTS = ["dataset", "model"]

#: name -> (duration, kinds, on_expiry, basis)
PRESETS: dict[str, tuple[str, list[str], str, str]] = {
    "seven-years": (
        "P7Y",
        _ARTIFACTS,
        "review",
        "Seven-year retention of ML data and models with their lineage (common regulatory "
        "expectation for model risk records; see docs/retention.md)",
    ),
    "sec-17a4-6y": (
        "P6Y",
        _ARTIFACTS,
        "review",
        "SEC Rule 17a-4(a): records kept at least six years, first two easily accessible",
    ),
    "sec-17a4-3y": (
        "P3Y",
        _ARTIFACTS,
        "review",
        "SEC Rule 17a-4(b): records kept at least three years, first two easily accessible",
    ),
    "finra-4511-6y": (
        "P6Y",
        _ARTIFACTS,
        "review",
        "FINRA Rule 4511(b): six years where no other period is specified",
    ),
    "eu-ai-act-docs-10y": (
        "P10Y",
        ["dataset", "model", "code", "environment", "run", "attestation"],
        "review",
        "EU AI Act Art. 18: technical documentation kept for ten years after placing on the market",
    ),
    "eu-ai-act-logs-6m": (
        "P6M",
        ["run"],
        "review",
        "EU AI Act Art. 19 and 26(6): automatically generated logs kept at least six months",
    ),
    "dev-ttl-30d": (
        "P30D",
        _ARTIFACTS,
        "purge",
        "Development scratch data: purged thirty days after registration",
    ),
}


def preset_attributes(name: str) -> dict[str, Any]:
    """The ``attributes`` of a policy record for a preset.

    Raises:
        KeyError: no preset of that name.
    """
    duration, kinds, on_expiry, basis = PRESETS[name]
    return {
        "duration": duration,
        "from": "created_at",
        "applies_to": {"kinds": list(kinds)},
        "on_expiry": on_expiry,
        "basis": basis,
    }
