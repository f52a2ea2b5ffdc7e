"""``/v1/retention``: policies, a record's retention, the plan; holds, releases, purges and
apply (admin), each logged with the token's principal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from registry.api.deps import Admin, Reader, registry
from registry.api.problems import PROBLEMS
from registry.api.responses import REF, json_response

router = APIRouter(prefix="/v1", responses=PROBLEMS)


@router.get("/retention/policies", tags=["retention"], summary="Retention policies in force")
def policies(request: Request, _: Reader) -> Response:
    found = registry(request).policies()
    return json_response({"policies": [{"id": p.id, **p.record} for p in found]})


@router.get("/retention/status/{ref}", tags=["retention"], summary="A record's retention")
def retention_status(ref: REF, request: Request, _: Reader) -> Response:
    shown = registry(request).show(ref)
    return json_response({"id": shown["id"], **shown["retention"]})


@router.get("/retention/plan", tags=["retention"], summary="What expires when (a dry run)")
def retention_plan(request: Request, _: Reader) -> Response:
    return json_response(registry(request).retention_plan())


class RetentionAct(BaseModel):
    """A hold, a release or a purge: the record and why (logged with the principal)."""

    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=6, max_length=200)
    reason: str = Field(min_length=1, max_length=10_000)


def _logged(r: Any) -> Response:
    return json_response({"id": r.id, "seq": r.seq}, status=201)


@router.post("/retention/holds", tags=["retention"], summary="Put a legal hold on a record")
async def retention_hold(body: RetentionAct, request: Request, who: Admin) -> Response:
    reg = registry(request)
    return _logged(await run_in_threadpool(reg.hold, body.ref, body.reason, who.name))


@router.post("/retention/releases", tags=["retention"], summary="Release a record's holds")
async def retention_release(body: RetentionAct, request: Request, who: Admin) -> Response:
    reg = registry(request)
    return _logged(await run_in_threadpool(reg.release, body.ref, body.reason, who.name))


@router.post(
    "/retention/purges",
    tags=["retention"],
    summary="Purge a record's bytes with a tombstone (423 while retained or held)",
)
async def retention_purge(body: RetentionAct, request: Request, who: Admin) -> Response:
    reg = registry(request)
    done = await run_in_threadpool(reg.rm, body.ref, body.reason, None, who.name)
    return json_response(done)


@router.post("/retention/apply", tags=["retention"], summary="Purge what the policies say to")
async def retention_apply(request: Request, who: Admin) -> Response:
    reg = registry(request)
    return json_response(await run_in_threadpool(reg.retention_apply, None, who.name))
