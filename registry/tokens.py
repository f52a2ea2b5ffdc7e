"""API tokens (SPEC §10): bearer secrets for ``prov serve``, kept only as their SHA-256.

A token is ``prov_`` and 43 characters of URL-safe base64 (256 random bits): the prefix lets
secret scanners recognise a leaked one. It is shown once, when created; the database keeps its
hash (a fast hash is enough for a uniformly random secret, as for GitHub's tokens), the name it
acts under (the principal written into ``created_by`` of what it registers) and its role.

Roles: ``reader`` reads; ``writer`` also registers; ``auditor`` is a reader who may also verify
and export; ``admin`` may do everything, tokens and retention included.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from provenance.timefmt import format_time, utcnow
from registry import db
from registry.db.tables import T_TOKENS as T
from registry.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "ROLES",
    "Principal",
    "authenticate",
    "create",
    "ensure_table",
    "list_tokens",
    "permits",
    "revoke",
]

ROLES = ("reader", "writer", "auditor", "admin")
#: What each role may do beyond itself.
_GRANTS = {
    "reader": {"reader"},
    "writer": {"reader", "writer"},
    "auditor": {"reader", "auditor"},
    "admin": set(ROLES),
}
PREFIX = "prov_"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
_TOKEN_RE = re.compile(r"prov_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the token's name and role."""

    name: str
    role: str
    token_id: str


def permits(role: str, needed: str) -> bool:
    """Whether ``role`` may do what needs ``needed``."""
    return needed in _GRANTS.get(role, set())


def ensure_table(engine: Engine) -> None:
    """Create the ``tokens`` table in a registry made before it existed (idempotent)."""
    with db.storage_errors():
        T.create(engine, checkfirst=True)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(engine: Engine, name: str, role: str, created_by: str) -> tuple[str, dict[str, Any]]:
    """A new token for ``name`` with ``role``: (the secret, its listing).

    Raises:
        InputError: an unknown role, a bad name, or a name an active token already has.
    """
    if role not in ROLES:
        raise InputError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if not _NAME_RE.fullmatch(name):  # fullmatch: `$` would let a final newline in
        raise InputError(
            f"bad token name {name!r}: 1-100 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    ensure_table(engine)
    token = PREFIX + secrets.token_urlsafe(32)
    digest = _digest(token)
    row = {
        "id": digest[:16],
        "name": name,
        "role": role,
        "hash": digest,
        "created_at": format_time(utcnow()),
        "created_by": created_by,
        "revoked_at": None,
    }
    with db.write_tx(engine) as conn:
        taken = conn.execute(
            select(T.c.id).where(T.c.name == name, T.c.revoked_at.is_(None))
        ).first()
        if taken:
            raise InputError(f"an active token is already named {name!r}: revoke it first")
        conn.execute(insert(T).values(**row))
    return token, _listing(row)


def _listing(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "role", "created_at", "created_by", "revoked_at")}


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    """Every token, oldest first, without secrets or hashes."""
    ensure_table(engine)
    with db.read_tx(engine) as conn:
        rows = conn.execute(select(T).order_by(T.c.created_at, T.c.id)).mappings().all()
    return [_listing(r) for r in rows]


def revoke(engine: Engine, ref: str) -> dict[str, Any]:
    """Revoke the active token named ``ref`` (or with id ``ref``); it stops working at once.

    Raises:
        NotFoundError: no active token by that name or id.
    """
    ensure_table(engine)
    with db.write_tx(engine) as conn:
        row = (
            conn.execute(
                select(T).where(
                    (T.c.name == ref) | (T.c.id == ref.lower()), T.c.revoked_at.is_(None)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(f"no active token named {ref!r}")
        when = format_time(utcnow())
        conn.execute(update(T).where(T.c.id == row["id"]).values(revoked_at=when))
    return {**_listing(row), "revoked_at": when}


def authenticate(engine: Engine, token: str) -> Principal | None:
    """The principal of an active token, or None (malformed, unknown or revoked)."""
    if not _TOKEN_RE.fullmatch(token):
        return None
    row = db.fetch_one(
        engine,
        "SELECT id, name, role FROM tokens WHERE hash = :h AND revoked_at IS NULL",
        {"h": _digest(token)},
    )
    return None if row is None else Principal(row[1], row[2], row[0])
