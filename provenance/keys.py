"""Ed25519 keys: signing, verification, key ids and PKCS#8 PEM (de)serialization.

Signing is a small interface (``sign(data) -> bytes``); verification returns nothing or raises
:class:`SignatureError`. The core never touches files: callers hand in and take out PEM bytes.

Keys, PEM and signing use ``cryptography``; verification uses libsodium through PyNaCl, which
verifies Ed25519 in about half the time of OpenSSL here (54 µs against 103 µs, see
docs/benchmarks.md) and is the hot path of ``prov verify --full``. libsodium is also the stricter
of the two (it refuses small-order keys), so whatever it accepts, OpenSSL-based tools accept too.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provenance.errors import KeyLoadError, SignatureError

__all__ = ["Signer", "key_id", "verify_signature"]


def key_id(public_raw: bytes) -> str:
    """Key id: lowercase hex SHA-256 of the raw 32-byte public key (SPEC §3)."""
    return hashlib.sha256(public_raw).hexdigest()


@lru_cache(maxsize=256)
def _verify_key(public_raw: bytes) -> Any:
    from nacl.signing import VerifyKey  # imported on first use: commands that only sign skip it

    return VerifyKey(public_raw)


def verify_signature(public_raw: bytes, signature: bytes, data: bytes) -> None:
    """Verify an Ed25519 signature.

    Raises:
        SignatureError: the signature does not verify, or the key or signature is malformed.
    """
    if len(signature) != 64:
        raise SignatureError("an Ed25519 signature is 64 bytes")
    from nacl.exceptions import CryptoError

    try:
        _verify_key(bytes(public_raw)).verify(data, signature)
    except (CryptoError, ValueError, TypeError) as e:
        raise SignatureError("Ed25519 signature does not verify") from e


class Signer:
    """An Ed25519 private key that signs bytes."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.keyid = key_id(self.public_raw)

    @classmethod
    def generate(cls) -> Signer:
        """A new random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes | None = None) -> Signer:
        """Load a PKCS#8 PEM private key.

        Raises:
            KeyLoadError: corrupt PEM, not Ed25519, encrypted without a passphrase, or the
                passphrase is wrong.
        """
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase)
        except TypeError as e:  # encrypted but no passphrase, or passphrase for a plain key
            if passphrase is None:
                raise KeyLoadError("the key is encrypted: set PROV_KEY_PASSPHRASE") from e
            raise KeyLoadError("the key is not encrypted: unset PROV_KEY_PASSPHRASE") from e
        except ValueError as e:
            if passphrase is not None:
                raise KeyLoadError(
                    "cannot decrypt the key: PROV_KEY_PASSPHRASE is wrong (or the file is corrupt)"
                ) from e
            raise KeyLoadError("the key file is corrupt (not a PKCS#8 PEM key)") from e
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyLoadError("the key is not an Ed25519 key")
        return cls(key)

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        """PKCS#8 PEM; encrypted with the best available scheme when a passphrase is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @property
    def public_b64(self) -> str:
        """Base64 of the raw public key, as ``key`` records carry it."""
        return base64.b64encode(self.public_raw).decode()

    def sign(self, data: bytes) -> bytes:
        """A 64-byte Ed25519 signature over ``data``."""
        return self._key.sign(data)

    def __repr__(self) -> str:  # never show key material
        return f"Signer(keyid={self.keyid[:12]})"
