"""Response and request helpers shared by the routes: JSON out, JSON in, the record path
parameter, and the OpenAPI body of a route that reads its own JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Path, Request
from starlette.responses import Response

from registry.api.problems import Problem

__all__ = ["REF", "json_body", "json_response", "read_json"]

REF = Annotated[
    str,
    Path(
        description="A record id (sha256:<hex>) or a unique prefix of at least 6 hex digits",
        max_length=71,
    ),
]


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body of ``schema`` (for routes that parse
    the body themselves, to answer problem+json rather than FastAPI's 422 shape)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def json_response(obj: Any, status: int = 200) -> Response:
    """``obj`` as a JSON response (non-ASCII kept as it is)."""
    return Response(
        json.dumps(obj, ensure_ascii=False), status_code=status, media_type="application/json"
    )


async def read_json(request: Request) -> Any:
    """The request body as JSON, sent as JSON.

    A body must say it is JSON (``Content-Type: application/json`` or ``+json``): a browser
    sends a cross-site ``text/plain`` POST without asking first, and it must register nothing.

    Raises:
        Problem: 415 when the body is not declared JSON; 400 when it is not JSON, or nested
            too deeply.
    """
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise Problem(415, "the request body must be sent as Content-Type: application/json")
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "the request body is not JSON") from None
    except RecursionError:
        raise Problem(400, "the request body is nested too deeply") from None
