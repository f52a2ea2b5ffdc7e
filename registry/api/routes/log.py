"""``/v1/log``: the latest signed checkpoint and RFC 9162 proofs, for auditors' own checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from registry.api.deps import Reader, registry
from registry.api.problems import PROBLEMS
from registry.api.responses import json_response

router = APIRouter(prefix="/v1/log", tags=["log"], responses=PROBLEMS)

SIZE = Annotated[int, Query(ge=1, le=2**62)]


@router.get("/checkpoint", summary="The latest signed checkpoint, as prov checkpoint --json")
async def checkpoint(request: Request, _: Reader) -> Response:
    return json_response(registry(request).checkpoint())


@router.get("/proof/inclusion", summary="Inclusion proof of a record in the tree of `size`")
async def inclusion(
    request: Request,
    _: Reader,
    id: Annotated[str, Query(max_length=71, description="record id or unique prefix")],
    size: SIZE | None = None,
) -> Response:
    return json_response(registry(request).inclusion_proof(id, size))


@router.get("/proof/consistency", summary="Consistency proof between two tree sizes")
async def consistency(
    request: Request,
    _: Reader,
    old: SIZE,
    new: SIZE | None = None,
) -> Response:
    return json_response(registry(request).consistency_proof(old, new))
