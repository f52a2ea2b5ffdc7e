"""Private keys on disk: ``.prov/keys/<keyid>.pem``, PKCS#8 PEM, mode 0600, in a 0700 directory.

Keys are encrypted when ``PROV_KEY_PASSPHRASE`` is set. Nothing here ever logs, prints or returns
key material other than :class:`provenance.keys.Signer` objects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from provenance.errors import KeyLoadError
from provenance.keys import Signer
from registry.errors import ConfigError, KeyAccessError

__all__ = ["KeyStore"]

_KEYID_RE = re.compile(r"\A[0-9a-f]{64}\Z")


def _passphrase() -> bytes | None:
    value = os.environ.get("PROV_KEY_PASSPHRASE")
    return value.encode() if value else None


class KeyStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, keyid: str) -> Path:
        if not _KEYID_RE.match(keyid):
            raise ConfigError(f"not a key id in .prov/config: {keyid[:70]!r}")
        return self.root / f"{keyid}.pem"

    def save(self, signer: Signer) -> Path:
        """Write a new key file, readable by its owner only."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        path = self.path_for(signer.keyid)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(signer.to_pem(_passphrase()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    def load(self, keyid: str) -> Signer:
        """Load a private key.

        Raises:
            KeyAccessError: missing, unreadable, wrong passphrase, or not the key expected.
        """
        path = self.path_for(keyid)
        try:
            pem = path.read_bytes()
        except OSError as e:
            raise KeyAccessError(f"cannot read key {path}: {e.strerror}") from None
        try:
            signer = Signer.from_pem(pem, _passphrase())
        except KeyLoadError as e:
            raise KeyAccessError(f"{path.name}: {e}") from None
        if signer.keyid != keyid:
            raise KeyAccessError(f"{path} does not hold key {keyid[:12]}")
        return signer
