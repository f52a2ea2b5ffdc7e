"""``/v1/health``: liveness and database reachability, without a token (for load balancers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from registry import db
from registry.api.deps import registry
from registry.api.problems import PROBLEMS
from registry.api.responses import json_response

router = APIRouter(prefix="/v1", responses=PROBLEMS)


@router.get("/health", tags=["health"], summary="Liveness and database reachability (no token)")
def health(request: Request) -> Response:
    reg = registry(request)
    with db.read_tx(reg.engine) as conn:
        size = reg.merkle.size(conn)
    return json_response({"status": "ok", "database": "reachable", "tree_size": size})
