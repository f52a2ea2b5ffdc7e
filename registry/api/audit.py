"""Verification, exports, retention status and health."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from starlette.responses import Response

from registry import db
from registry.api.app import Auditor, Reader, registry
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


@router.get("/health", tags=["health"], summary="Liveness and database reachability (no token)")
def health(request: Request) -> Response:
    reg = registry(request)
    with db.read_tx(reg.engine) as conn:
        size = reg.merkle.size(conn)
    return _json({"status": "ok", "database": "reachable", "tree_size": size})
