"""DSSE envelopes (SPEC §3): the signed wrapper around every record.

The stored form of an envelope is its RFC 8785 canonical JSON, so an envelope hashes the same
wherever it travels.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from provenance.canonical import canonical_bytes
from provenance.errors import EnvelopeError, SignatureError
from provenance.keys import Signer, verify_signature

__all__ = ["PAYLOAD_TYPE", "Envelope", "Signature", "pae"]

PAYLOAD_TYPE = "application/vnd.prov.record.v1+json"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE pre-authentication encoding: ``DSSEv1 SP len(type) SP type SP len(body) SP body``."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(body), body)


@dataclass(frozen=True)
class Signature:
    """One DSSE signature: the signer's key id (hex) and the raw signature bytes."""

    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope over a payload."""

    payload: bytes
    signatures: tuple[Signature, ...]
    payload_type: str = PAYLOAD_TYPE

    @classmethod
    def sign(
        cls, payload: bytes, signers: Iterable[Signer], payload_type: str = PAYLOAD_TYPE
    ) -> Envelope:
        """Sign ``payload`` with every signer."""
        message = pae(payload_type, payload)
        sigs = tuple(Signature(s.keyid, s.sign(message)) for s in signers)
        if not sigs:
            raise EnvelopeError("an envelope needs at least one signature")
        return cls(payload, sigs, payload_type)

    def pae(self) -> bytes:
        """The bytes the signatures cover."""
        return pae(self.payload_type, self.payload)

    def to_json(self) -> dict[str, Any]:
        """The envelope as a JSON object (base64 payload and signatures)."""
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode(),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in self.signatures
            ],
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes: the form stored in the log and hashed into leaves."""
        return canonical_bytes(self.to_json())

    @classmethod
    def from_json(cls, obj: Any) -> Envelope:
        """Parse an envelope object strictly.

        Raises:
            EnvelopeError: missing or extra fields, bad base64, no signatures.
        """
        if not isinstance(obj, Mapping):
            raise EnvelopeError("an envelope must be a JSON object")
        extra = set(obj) - {"payloadType", "payload", "signatures"}
        if extra:
            raise EnvelopeError(f"unknown envelope field {sorted(extra)[0]!r}")
        payload_type = obj.get("payloadType")
        if not isinstance(payload_type, str):
            raise EnvelopeError("envelope payloadType must be a string")
        sigs = obj.get("signatures")
        if not isinstance(sigs, list) or not sigs:
            raise EnvelopeError("envelope needs a non-empty signatures list")
        parsed = []
        for s in sigs:
            if not isinstance(s, Mapping) or set(s) != {"keyid", "sig"}:
                raise EnvelopeError("each signature must be exactly {keyid, sig}")
            if not isinstance(s["keyid"], str):
                raise EnvelopeError("signature keyid must be a string")
            parsed.append(Signature(s["keyid"], _b64(s["sig"], "signature")))
        return cls(_b64(obj.get("payload"), "payload"), tuple(parsed), payload_type)

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse stored envelope bytes.

        Raises:
            EnvelopeError: not JSON, or not a well-formed envelope.
        """
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise EnvelopeError(f"envelope is not JSON: {e}") from None
        return cls.from_json(obj)

    def verify(self, keyid: str, public_raw: bytes) -> None:
        """Verify the signature made by ``keyid`` with its public key.

        Raises:
            SignatureError: no signature by that key, or it does not verify.
        """
        message = self.pae()
        for s in self.signatures:
            if s.keyid == keyid:
                verify_signature(public_raw, s.sig, message)
                return

        raise SignatureError(f"no signature by key {keyid[:12]}")


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise EnvelopeError(f"envelope {what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"envelope {what} is not valid base64") from None
