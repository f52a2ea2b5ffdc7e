"""``/v1/verify`` and ``/v1/exports``: what an auditor asks of the log."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from starlette.responses import Response

from registry.api.deps import Auditor, registry
from registry.api.problems import PROBLEMS, Problem
from registry.api.responses import json_response

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
    return json_response(registry(request).verify(full=full, content=content))


@router.get("/exports/{format}", tags=["audit"], summary="An export (SPEC §9)")
def export(
    format: Literal[EXPORT_FORMATS],  # type: ignore[valid-type]
    request: Request,
    _: Auditor,
    root: str | None = None,
) -> Response:
    raise Problem(404, f"the {format} export is not available in this version of prov")
