"""Errors as RFC 9457 problem details, and the request-body cap.

Every error the API returns is ``application/problem+json``: ``type`` (a ``urn:prov:problem:``
name), ``title``, ``status``, ``detail`` and ``exit_code``, the ``prov`` exit code with the same
meaning (SPEC §5), which the remote client turns back into the CLI's exceptions.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from provenance.errors import ProvenanceError
from registry.errors import (
    ConfigError,
    InputError,
    KeyAccessError,
    NotFoundError,
    RefusedError,
    RegistryError,
    RetentionRefusedError,
    StorageError,
)

__all__ = ["PROBLEMS", "BodyLimit", "Crashes", "Problem", "install_handlers", "problem_response"]

log = logging.getLogger("prov.api")

MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: ("bad-request", "Bad request", 2),
    401: ("unauthenticated", "Missing, unknown or revoked token", 2),
    403: ("forbidden", "Not allowed", 4),
    404: ("not-found", "Not found", 3),
    405: ("method-not-allowed", "Method not allowed", 2),
    409: ("conflict", "Conflict", 2),
    413: ("too-large", "Request body too large", 2),
    415: ("unsupported-media-type", "Unsupported media type", 2),
    422: ("invalid", "Invalid input", 2),
    423: ("locked", "Retained or under legal hold", 4),
    500: ("internal", "Internal error", 1),
    503: ("unavailable", "Database or store unavailable", 5),
}


_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "exit_code": {"type": "integer", "description": "the prov exit code of the same meaning"},
    },
}
#: The error responses every route documents in the OpenAPI schema.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": _TITLES[status][1], "content": {MEDIA_TYPE: {"schema": _SCHEMA}}}
    for status in (400, 401, 403, 404, 413, 422, 423, 503)
}


class Problem(Exception):
    """An error with its HTTP status; raised anywhere in a request."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


def problem_response(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    slug, title, code = _TITLES.get(status, ("error", "Error", 2))
    body = {
        "type": f"urn:prov:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "exit_code": code,
        **extra,
    }
    return Response(
        json.dumps(body, ensure_ascii=False), status, headers=headers, media_type=MEDIA_TYPE
    )


def status_of(e: RegistryError | ProvenanceError) -> int:
    """The HTTP status of a registry error (the CLI's exit code, as SPEC §10 maps it)."""
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, RefusedError):
        return 423 if isinstance(e, RetentionRefusedError) else 403
    if isinstance(e, StorageError | KeyAccessError | ConfigError):
        return 503
    return 422  # InputError and the core's invalid records, envelopes and proofs


def install_handlers(app: Any) -> None:
    """Make every error a problem+json response; nothing escapes as a bare 500."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_problem(request: Request, e: Problem) -> Response:
        return problem_response(e.status, e.detail, e.headers)

    async def on_registry(request: Request, e: Exception) -> Response:
        assert isinstance(e, RegistryError | ProvenanceError)
        status = status_of(e)
        if status == 503:
            log.error("%s %s: %s", request.method, request.url.path, e)
        return problem_response(status, str(e))

    async def on_validation(request: Request, e: Exception) -> Response:
        assert isinstance(e, RequestValidationError)
        errors = [
            {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", ""))} for err in e.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem_response(422, f"{where}: {first['msg']}", errors=errors)

    async def on_http(request: Request, e: Exception) -> Response:
        assert isinstance(e, HTTPException)
        return problem_response(e.status_code, str(e.detail), dict(e.headers or {}))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RegistryError, on_registry)
    app.add_exception_handler(ProvenanceError, on_registry)
    app.add_exception_handler(InputError, on_registry)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_middleware(Crashes)  # outermost of ours: a crash anywhere below is answered


class _TrackedSend:
    """An ASGI ``send`` that remembers whether the answer has started (after which a middleware
    can no longer answer in its place)."""

    def __init__(self, send: Send) -> None:
        self.send, self.started = send, False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)


class Crashes:
    """ASGI middleware answering an unexpected exception with a 500 problem (and logging it)
    without re-raising: Starlette's own catch-all re-raises after answering, and uvicorn then
    closes the client's keep-alive connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if tracked.started:
                raise  # half an answer is out: only closing the connection ends it
            await problem_response(500, "internal error: see the server log")(scope, receive, send)


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes with a 413 problem: by the
    declared ``Content-Length`` before reading anything, and by counting a chunked body as it
    arrives (Starlette's own limit answers in plain text)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = problem_response(413, f"the request body is over {self.limit} bytes")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await problem_response(400, "malformed Content-Length")(scope, receive, send)
                return
            if int(declared) > self.limit:
                await too_big(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        tracked = _TrackedSend(send)
        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if tracked.started:
                raise
            await too_big(scope, receive, send)


class _TooLarge(Exception):
    """Raised into the app by :class:`BodyLimit` when a body grows past the cap."""
