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
from registry.errors import InputError, NotFoundError, RefusedError
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


def new_key(reg: Registry, role: str, owner: str | None = None) -> Registered:
    """:meth:`Registry.new_key <registry.service.Registry.new_key>`."""
    if role not in ("signer", "log"):
        raise InputError(f"unknown key role {role!r} (signer or log)")
    signer = Signer.generate()
    reg.keystore.save(signer)
    reg.writer.signers[signer.keyid] = signer
    record = key_record(signer, role, owner or who())
    result = reg.writer.append(lambda conn: Plan([record]))[0]
    if role == "signer":
        reg.config.signer = signer.keyid
    else:
        reg.config.log_key = signer.keyid
    reg.config.save(reg.prov_dir)
    return result


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
    if key["active"]:
        raise RefusedError(
            f"key {key['keyid'][:12]} is the active {key['role']} key: create its successor "
            f"first (`prov key new --role {key['role']}`)"
        )
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
