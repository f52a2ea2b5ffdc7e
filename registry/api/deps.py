"""FastAPI dependencies: the open registry and bearer-token roles (``_: Reader`` ...).

Routes import these, never :mod:`registry.api.app`, so the app can import its routes at top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from registry import tokens
from registry.api.problems import Problem
from registry.tokens import Principal

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["ANONYMOUS", "Admin", "Auditor", "Reader", "Writer", "registry", "require"]

#: Who a request is when ``prov serve --no-auth`` admits everyone.
ANONYMOUS = Principal("anonymous", "admin", "")


def registry(request: Request) -> Registry:
    """The app's open registry (a plain call, not a dependency: hot reads stay inline)."""
    return request.app.state.registry  # type: ignore[no-any-return]


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="prov"'}


def require(role: str) -> Any:
    """A dependency admitting a request whose bearer token's role permits ``role``."""

    async def check(request: Request) -> Principal:  # inline: one indexed read
        app = request.app
        if not app.state.settings.auth:
            return ANONYMOUS
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(
                401, "a bearer token is required (Authorization: Bearer prov_…)", _CHALLENGE
            )
        principal = tokens.authenticate(app.state.registry.engine, token.strip())
        if principal is None:
            raise Problem(401, "unknown or revoked token", _CHALLENGE)
        if not tokens.permits(principal.role, role):
            raise Problem(403, f"a {principal.role} token cannot do this: it needs {role}")
        return principal

    return Depends(check)


#: Route parameters admitting a token of at least that role (``_: Reader``).
Reader = Annotated[Principal, require("reader")]
Writer = Annotated[Principal, require("writer")]
Auditor = Annotated[Principal, require("auditor")]
Admin = Annotated[Principal, require("admin")]
