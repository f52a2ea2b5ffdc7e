"""Signing keys (``prov key``) and API tokens (``prov token``).

Functions take the open :class:`~registry.service.Registry` first; the registry exposes them
as methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from provenance.keys import Signer
from registry import db, tokens
from registry.capture.identity import who
from registry.db.tables import T_KEYS
from registry.errors import InputError, KeyAccessError, NotFoundError
from registry.results import Registered
from registry.service.register import log_attestation
from registry.service.writer import Plan, key_record

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["create_token", "keys", "list_tokens", "new_key", "revoke_key", "revoke_token"]


def keys(reg: Registry) -> list[dict[str, Any]]:
    """:meth:`Registry.keys <registry.service.Registry.keys>`."""
    with db.read_tx(reg.engine) as conn:
        rows = conn.execute(select(T_KEYS).order_by(T_KEYS.c.registered_seq)).mappings()
        return [
            {
                "keyid": r["keyid"],
                "algorithm": "ed25519",
                "public_key": r["public_key"],
                "role": r["role"],
                "owner": r["owner"],
                "record": r["record_id"],
                "revoked": r["revoked_seq"] is not None,
                "active": r["keyid"] in (reg.config.signer, reg.config.log_key),
            }
            for r in rows
        ]


def new_key(
    reg: Registry, role: str, owner: str | None = None, standby: bool = False
) -> Registered:
    """:meth:`Registry.new_key <registry.service.Registry.new_key>`."""
    if role not in ("signer", "log"):
        raise InputError(f"unknown key role {role!r} (signer or log)")
    if standby and role != "signer":
        raise InputError("a standby key is a signer key (--role signer)")
    signing = _signing_key(reg)  # before anything is made: a failure leaves no key file
    signer = Signer.generate()
    path = reg.keystore.save(signer)
    try:
        reg.writer.signers[signer.keyid] = signer
        record = key_record(signer, role, owner or who())
        result = reg.writer.append(lambda conn: Plan([record]), signer=signing)[0]
    except BaseException:
        path.unlink(missing_ok=True)  # not registered: nothing of it stays
        reg.writer.signers.pop(signer.keyid, None)
        raise
    if standby:
        return result
    if role == "signer":
        reg.config.signer = signer.keyid
    else:
        reg.config.log_key = signer.keyid
    reg.config.save(reg.prov_dir)
    return result


def _signing_key(reg: Registry) -> str | None:
    """The key to sign a new key's record with: the active signer key (None) when it loads,
    else another signer key the log trusts whose private key is in ``.prov/keys`` (a standby
    key brought back from its backup: docs/cli.md, "A lost signer key").

    Raises:
        KeyAccessError: neither can be loaded.
    """
    try:
        reg.writer.signer(reg.config.signer)
        return None
    except KeyAccessError as lost:
        for k in keys(reg):
            if k["role"] != "signer" or k["revoked"] or k["keyid"] == reg.config.signer:
                continue
            try:
                reg.writer.signer(k["keyid"])
            except KeyAccessError:
                continue
            return str(k["keyid"])
        raise KeyAccessError(
            f"{lost}; no other signer key the log trusts is in {reg.keystore.root}: restore the "
            "signer key from its backup, or put a standby signer key there (prov key new "
            "--role signer --standby made it), then run prov key new --role signer again"
        ) from None


def revoke_key(reg: Registry, ref: str, reason: str) -> Registered:
    """:meth:`Registry.revoke_key <registry.service.Registry.revoke_key>`."""
    want = ref.lower().removeprefix("sha256:")
    matches = [
        k
        for k in keys(reg)
        if k["keyid"].startswith(want) or k["record"].removeprefix("sha256:").startswith(want)
    ]
    if len(want) < 6 or not matches:
        raise NotFoundError(f"no key {ref!r}")
    if len(matches) > 1:
        raise NotFoundError(
            f"{ref!r} matches several keys: " + ", ".join(k["keyid"][:12] for k in matches)
        )
    key = matches[0]
    if key["revoked"]:
        raise InputError(f"key {key['keyid'][:12]} is already revoked")
    # Revoking the active signer or log key is refused by the writer, on every door.
    return log_attestation(reg, key["record"], "revocation", {"reason": reason})


def create_token(reg: Registry, name: str, role: str) -> tuple[str, dict[str, Any]]:
    """:meth:`Registry.create_token <registry.service.Registry.create_token>`."""
    return tokens.create(reg.engine, name, role, who())


def list_tokens(reg: Registry) -> list[dict[str, Any]]:
    """:meth:`Registry.tokens <registry.service.Registry.tokens>`."""
    return tokens.list_tokens(reg.engine)


def revoke_token(reg: Registry, ref: str) -> dict[str, Any]:
    """:meth:`Registry.revoke_token <registry.service.Registry.revoke_token>`."""
    return tokens.revoke(reg.engine, ref)
