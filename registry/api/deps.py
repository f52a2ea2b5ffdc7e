"""FastAPI dependencies: the open registry and bearer-token roles (``_: Reader`` ...).

Routes import these, never :mod:`registry.api.app`, so the app can import its routes at top.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from registry import tokens
from registry.api.problems import Problem
from registry.tokens import Principal

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = [
    "ANONYMOUS",
    "Admin",
    "Auditor",
    "Reader",
    "Writer",
    "is_loopback",
    "registry",
    "require",
]

#: Who a request is when ``prov serve --no-auth`` admits everyone.
ANONYMOUS = Principal("anonymous", "admin", "")


def registry(request: Request) -> Registry:
    """The app's open registry (a plain call, not a dependency: hot reads stay inline)."""
    return request.app.state.registry  # type: ignore[no-any-return]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _loopback_host(header: str) -> bool:
    """Whether a Host header (``name[:port]``, ``[v6]:port``) names this machine's loopback."""
    if header.startswith("["):
        name = header[1:].partition("]")[0]
    else:
        name = header.rsplit(":", 1)[0] if header.count(":") == 1 else header
    return is_loopback(name)


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="prov"'}


def require(role: str) -> Any:
    """A dependency admitting a request whose bearer token's role permits ``role``."""

    async def check(request: Request) -> Principal:  # inline: one indexed read
        app = request.app
        if not app.state.settings.auth:
            # Without tokens only this machine may ask, by its loopback names: a web page's
            # script reaching 127.0.0.1 through a rebound DNS name sends that name as Host.
            if not _loopback_host(request.headers.get("host", "")):
                raise Problem(403, "without tokens (--no-auth) the API answers loopback hosts only")
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
