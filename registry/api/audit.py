"""Verification, exports, retention status and health."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from provenance.timefmt import utcnow
from registry import db
from registry.api.app import Admin, Auditor, Reader, registry
from registry.api.problems import PROBLEMS, Problem
from registry.api.records import REF, _json

router = APIRouter(prefix="/v1", responses=PROBLEMS)

#: SPEC §9's export formats.
EXPORT_FORMATS = (
    "bundle",
    "prov-json",
    "prov-n",
    "slsa",
    "cyclonedx",
    "openlineage",
    "spdx",
    "model-signing",
    "parquet",
)


@router.get("/verify", tags=["audit"], summary="Verify the log, as prov verify --json")
def verify(request: Request, _: Auditor, full: bool = False, content: bool = False) -> Response:
    return _json(registry(request).verify(full=full, content=content))


@router.get("/exports/{format}", tags=["audit"], summary="An export (SPEC §9)")
def export(
    format: Literal[EXPORT_FORMATS],  # type: ignore[valid-type]
    request: Request,
    _: Auditor,
    root: str | None = None,
) -> Response:
    raise Problem(404, f"the {format} export is not available in this version of prov")


@router.get("/retention/policies", tags=["retention"], summary="Retention policies in force")
def policies(request: Request, _: Reader) -> Response:
    from registry.queries import policies

    reg = registry(request)
    with db.read_tx(reg.engine) as conn:
        found = policies(reg, conn)
    return _json({"policies": [{"id": pid, **record} for pid, record in found]})


@router.get("/retention/status/{ref}", tags=["retention"], summary="A record's retention")
def retention_status(ref: REF, request: Request, _: Reader) -> Response:
    shown = registry(request).show(ref)
    return _json({"id": shown["id"], **shown["retention"]})


@router.get("/retention/plan", tags=["retention"], summary="What expires when (a dry run)")
def retention_plan(request: Request, _: Reader) -> Response:
    return _json(registry(request).retention_plan())


class RetentionAct(BaseModel):
    """A hold, a release or a purge: the record and why (logged with the principal)."""

    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=6, max_length=200)
    reason: str = Field(min_length=1, max_length=10_000)


def _logged(r: Any) -> Response:
    return _json({"id": r.id, "seq": r.seq}, status=201)


@router.post("/retention/holds", tags=["retention"], summary="Put a legal hold on a record")
async def retention_hold(body: RetentionAct, request: Request, who: Admin) -> Response:
    from registry import retain

    reg = registry(request)
    return _logged(await run_in_threadpool(retain.hold, reg, body.ref, body.reason, who.name))


@router.post("/retention/releases", tags=["retention"], summary="Release a record's holds")
async def retention_release(body: RetentionAct, request: Request, who: Admin) -> Response:
    from registry import retain

    reg = registry(request)
    return _logged(await run_in_threadpool(retain.release, reg, body.ref, body.reason, who.name))


@router.post(
    "/retention/purges",
    tags=["retention"],
    summary="Purge a record's bytes with a tombstone (423 while retained or held)",
)
async def retention_purge(body: RetentionAct, request: Request, who: Admin) -> Response:
    from registry import retain

    reg = registry(request)
    done = await run_in_threadpool(retain.rm, reg, body.ref, body.reason, utcnow(), who.name)
    return _json(done)


@router.post("/retention/apply", tags=["retention"], summary="Purge what the policies say to")
async def retention_apply(request: Request, who: Admin) -> Response:
    from registry import retain

    reg = registry(request)
    return _json(await run_in_threadpool(retain.apply, reg, utcnow(), who.name))


@router.get("/health", tags=["health"], summary="Liveness and database reachability (no token)")
def health(request: Request) -> Response:
    reg = registry(request)
    with db.read_tx(reg.engine) as conn:
        size = reg.merkle.size(conn)
    return _json({"status": "ok", "database": "reachable", "tree_size": size})
