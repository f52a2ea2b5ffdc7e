"""prov's pure core: records, canonical bytes, digests, DSSE envelopes, keys, the Merkle tree
and checkpoints. Nothing here touches a database, the network or files a caller did not hand in.

``from provenance import Registry`` is the one exception in spirit, kept as the public entry
point (SPEC §11): it is resolved lazily from :mod:`registry.service`, so importing
:mod:`provenance` never loads the registry, SQLAlchemy or anything heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.canonical import canonical_bytes
from provenance.checkpoint import Checkpoint, SignedNote
from provenance.digests import Digest, StreamDigest, digest_stream
from provenance.dsse import Envelope
from provenance.errors import ProvenanceError
from provenance.keys import Signer, key_id
from provenance.records import encode_record, record_id, validate_record

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = [
    "Checkpoint",
    "Digest",
    "Envelope",
    "ProvenanceError",
    "Registry",
    "SignedNote",
    "Signer",
    "StreamDigest",
    "canonical_bytes",
    "digest_stream",
    "encode_record",
    "key_id",
    "record_id",
    "validate_record",
]


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from registry.service import Registry

        return Registry
    raise AttributeError(f"module 'provenance' has no attribute {name!r}")
