"""Checkpoints: C2SP ``tlog-checkpoint`` bodies in C2SP ``signed-note`` envelopes (SPEC §4).

A note is ``<origin>\\n<tree size>\\n<base64 root>\\n``, an empty line, then signature lines
``— <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>``. For Ed25519 the key hash
is the first four bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from provenance.errors import CheckpointError, SignatureError
from provenance.keys import Signer, verify_signature

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "SignedNote",
    "check_key_name",
    "key_hash",
    "verifier_key",
]

_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # em dash and a space
_SIZE_RE = re.compile(r"\A(0|[1-9][0-9]{0,19})\Z")


def key_hash(name: str, public_raw: bytes) -> bytes:
    """The 4-byte C2SP key hash of an Ed25519 note key."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public_raw).digest()[:4]


def verifier_key(name: str, public_raw: bytes) -> str:
    """The C2SP verifier key string ``<name>+<hex key hash>+<base64(0x01 || key)>``."""
    return (
        f"{name}+{key_hash(name, public_raw).hex()}+"
        + base64.b64encode(_ED25519 + public_raw).decode()
    )


def check_key_name(name: str) -> None:
    """A note key name (prov uses the log origin): printable, no spaces, no ``+``.

    Raises:
        CheckpointError: otherwise.
    """
    if not name or "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise CheckpointError(f"key name must be printable, without spaces or '+': {name!r}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's state: origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """The note text that is signed."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body strictly: three lines, no extension lines.

        Raises:
            CheckpointError: any deviation from the format.
        """
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "":
            raise CheckpointError("checkpoint body must be exactly origin, size and root lines")
        origin, size_text, root_text = lines[:3]
        if not origin or not origin.isprintable():
            raise CheckpointError("checkpoint origin must be a non-empty printable line")
        if not _SIZE_RE.match(size_text):
            raise CheckpointError(f"checkpoint tree size is not a decimal number: {size_text!r}")
        try:
            root = base64.b64decode(root_text, validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError("checkpoint root is not base64") from None
        if len(root) != 32 or base64.b64encode(root).decode() != root_text:
            raise CheckpointError("checkpoint root must be the base64 of 32 bytes")
        return cls(origin, int(size_text), root)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    """A checkpoint and its signatures."""

    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def sign(cls, checkpoint: Checkpoint, name: str, signer: Signer) -> SignedNote:
        """Sign a checkpoint with an Ed25519 key known by ``name``."""
        check_key_name(name)
        sig = signer.sign(checkpoint.body().encode())
        return cls(checkpoint, (NoteSignature(name, key_hash(name, signer.public_raw), sig),))

    def text(self) -> str:
        """The whole signed note."""
        lines = [
            f"{_SIG_PREFIX}{s.name} " + base64.b64encode(s.key_hash + s.signature).decode()
            for s in self.signatures
        ]
        return self.checkpoint.body() + "\n" + "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> SignedNote:
        """Parse a signed note strictly.

        Signature lines by other keys, of any length, are kept (and ignored by
        :meth:`verify`).

        Raises:
            CheckpointError: malformed body or signature lines, or no signature.
        """
        if not isinstance(text, str) or not text.endswith("\n"):
            raise CheckpointError("a signed note must end with a newline")
        body, sep, sig_block = text.partition("\n\n")
        if not sep:
            raise CheckpointError("a signed note needs an empty line before its signatures")
        checkpoint = Checkpoint.parse_body(body + "\n")
        sigs = []
        for line in sig_block[:-1].split("\n"):
            if not line.startswith(_SIG_PREFIX):
                raise CheckpointError(f"signature line must start with an em dash: {line!r}")
            name, space, b64 = line[len(_SIG_PREFIX) :].partition(" ")
            if not space:
                raise CheckpointError(f"malformed signature line: {line!r}")
            check_key_name(name)
            try:
                raw = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise CheckpointError(f"signature is not base64: {line!r}") from None
            if len(raw) < 5:
                raise CheckpointError("a note signature is a 4-byte key hash and a signature")
            # Signatures of other keys and kinds (a witness's 76-byte cosignature) are kept and
            # ignored, as C2SP signed-note says: only the verifier's key is looked for.
            sigs.append(NoteSignature(name, raw[:4], raw[4:]))
        return cls(checkpoint, tuple(sigs))

    def verify(self, name: str, public_raw: bytes) -> None:
        """Verify the signature by the key ``name`` with this public key.

        Raises:
            CheckpointError: no signature by that key, or it does not verify.
        """
        want = key_hash(name, public_raw)
        message = self.checkpoint.body().encode()
        for s in self.signatures:
            if s.name == name and s.key_hash == want and len(s.signature) == 64:
                try:
                    verify_signature(public_raw, s.signature, message)
                except SignatureError:
                    raise CheckpointError(
                        f"checkpoint signature by {name} does not verify"
                    ) from None
                return
        raise CheckpointError(f"checkpoint has no signature by key {name}+{want.hex()}")
