"""The log's leaf format (SPEC §4): what each Merkle leaf commits to."""

from __future__ import annotations

import hashlib
import re

from provenance.canonical import canonical_bytes

__all__ = ["envelope_digest", "leaf_input"]

_ID_RE = re.compile(r"\Asha256:[0-9a-f]{64}\Z")
_TIME_RE = re.compile(r"\A[0-9T:.Z-]{27}\Z")


def envelope_digest(envelope_bytes: bytes) -> str:
    """``sha256:<hex>`` of an envelope's canonical bytes."""
    return "sha256:" + hashlib.sha256(envelope_bytes).hexdigest()


def leaf_input(envelope_bytes: bytes, record_id: str, logged_at: str, seq: int) -> bytes:
    """Canonical ``{"envelope", "id", "logged_at", "seq"}``: the input of leaf ``seq``."""
    return canonical_bytes(
        {
            "envelope": envelope_digest(envelope_bytes),
            "id": record_id,
            "logged_at": logged_at,
            "seq": seq,
        }
    )
