"""Errors raised by the pure core.

Every error the core raises derives from :class:`ProvenanceError`::

    ProvenanceError
    ├── CanonicalizationError   a value has no RFC 8785 form (NaN, lone surrogate, non-string key)
    ├── RecordError             a record breaks SPEC §2 (field, kind, link, timestamp ...)
    ├── RefError                a malformed record id or prefix
    ├── EnvelopeError           a DSSE envelope that is not well formed
    ├── SignatureError          a signature that does not verify
    ├── KeyLoadError            a private key that cannot be loaded (wrong passphrase ...)
    ├── ProofError              an inclusion or consistency proof that does not verify
    └── CheckpointError         a checkpoint (signed note) that is malformed or does not verify
"""

from __future__ import annotations


class ProvenanceError(Exception):
    """Base class of every error raised by :mod:`provenance`."""


class CanonicalizationError(ProvenanceError, ValueError):
    """A value cannot be serialized as RFC 8785 canonical JSON."""


class RecordError(ProvenanceError, ValueError):
    """A record does not satisfy the record format (SPEC §2)."""


class RefError(ProvenanceError, ValueError):
    """A record id or id prefix is malformed."""


class EnvelopeError(ProvenanceError, ValueError):
    """A DSSE envelope is malformed."""


class SignatureError(ProvenanceError):
    """A signature does not verify with the given key."""


class KeyLoadError(ProvenanceError):
    """A private key cannot be loaded (corrupt file or wrong passphrase)."""


class ProofError(ProvenanceError):
    """A Merkle inclusion or consistency proof does not verify."""


class CheckpointError(ProvenanceError):
    """A checkpoint (C2SP signed note) is malformed or its signature does not verify."""
