"""Errors raised by the registry; each carries the SPEC §5 exit code its front ends use.

::

    RegistryError (exit 2)
    ├── InputError             bad arguments or input: missing file, unknown kind, bad link (2)
    ├── ConfigError            no registry here, or a corrupt .prov/config (2)
    ├── KeyAccessError         a private key cannot be loaded (wrong passphrase ...) (2)
    ├── NotFoundError          no record, or an ambiguous reference (3)
    ├── RefusedError           refused by policy: permission, an untrusted key (4)
    │   └── RetentionRefusedError   a retention date or legal hold is in force (4; HTTP 423)
    └── StorageError           database or store unavailable (5)

Errors from :mod:`provenance` (invalid records, bad proofs) are input errors (2) at the front ends.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of registry errors."""

    exit_code = 2


class InputError(RegistryError):
    """The caller's input is wrong."""


class ConfigError(RegistryError):
    """No registry, or its configuration cannot be read."""


class KeyAccessError(RegistryError):
    """A private key cannot be loaded."""


class NotFoundError(RegistryError):
    """No such record, or the reference is ambiguous."""

    exit_code = 3


class RefusedError(RegistryError):
    """Refused by policy."""

    exit_code = 4


class RetentionRefusedError(RefusedError):
    """Refused because a retention date or a legal hold is in force (HTTP 423)."""


#: The name before 0.2 (kept for code that catches it).
RetentionRefused = RetentionRefusedError


class StorageError(RegistryError):
    """The database or an artifact store is unavailable."""

    exit_code = 5
