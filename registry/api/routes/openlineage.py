"""``POST /api/v1/lineage``: OpenLineage RunEvents, at the path Marquez serves them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from registry.api.deps import Writer, registry
from registry.api.problems import PROBLEMS
from registry.api.responses import json_body, json_response, read_json
from registry.importers import openlineage

router = APIRouter(tags=["openlineage"], responses=PROBLEMS)

_EVENT_SCHEMA = {
    "type": "object",
    "description": "An OpenLineage RunEvent (spec 2-0-2), as the openlineage-python client's "
    "HTTP transport sends it",
    "required": ["eventTime", "run", "job"],
    "properties": {
        "eventType": {"type": "string", "enum": list(openlineage.EVENT_TYPES)},
        "eventTime": {"type": "string", "format": "date-time"},
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object"},
            },
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {
                "namespace": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1},
                "facets": {"type": "object"},
            },
        },
        "inputs": {"type": "array", "items": {"type": "object"}},
        "outputs": {"type": "array", "items": {"type": "object"}},
        "producer": {"type": "string"},
        "schemaURL": {"type": "string"},
    },
}


@router.post(
    "/api/v1/lineage",
    status_code=201,
    summary="Ingest an OpenLineage RunEvent",
    openapi_extra=json_body(_EVENT_SCHEMA),
    responses={200: {"description": "Event taken; the run is still open, or was registered"}},
)
async def post_lineage(request: Request, principal: Writer) -> Response:
    event = openlineage.parse_event(await read_json(request))
    result = await run_in_threadpool(openlineage.ingest, registry(request), event, principal.name)
    created = result["state"] == "registered" and not result["existing"]
    return json_response(result, 201 if created else 200)
