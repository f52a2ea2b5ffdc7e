"""``/v1/records``, ``/v1/lookup`` and lineage: registering and reading records."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from provenance.dsse import Envelope
from provenance.errors import ProvenanceError
from provenance.records import KINDS, REGISTRY_PREDICATES
from registry.api.deps import Reader, Writer, registry
from registry.api.problems import PROBLEMS, Problem
from registry.api.responses import REF, json_body, json_response, read_json
from registry.results import Registered
from registry.tokens import Principal

router = APIRouter(prefix="/v1", tags=["records"], responses=PROBLEMS)

#: A record whose envelope is larger than this is read and encoded on the thread pool, not
#: on the event loop that every other request shares (records are capped at 1 MiB; older
#: registries may hold larger ones).
INLINE_READ_MAX = 64 << 10
#: Items in one ``POST /v1/records/batch``.
MAX_BATCH = 1000
#: Kinds only an admin may register through the API: they change whom the log trusts and
#: what it keeps (SPEC §10: admin holds tokens, policies, holds and retention).
ADMIN_KINDS = frozenset({"key", "policy", "tombstone"})

_RECORD_SCHEMA = {
    "type": "object",
    "description": "A record (SPEC §2) for the server to sign; created_by is set to the "
    "token's principal, type and created_at are filled in when missing",
    "required": ["kind", "name"],
    "properties": {
        "type": {"type": "string", "enum": ["prov.record/v1"]},
        "kind": {"type": "string", "enum": list(KINDS)},
        "name": {"type": "string", "minLength": 1, "maxLength": 256},
        "created_at": {"type": "string", "format": "date-time"},
        "subject": {"type": "object"},
        "links": {"type": "array", "items": {"type": "object"}},
        "attributes": {"type": "object"},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "created_by": {"type": "string"},
    },
    "additionalProperties": False,
}
_ENVELOPE_SCHEMA = {
    "type": "object",
    "description": "A DSSE envelope signed by the client with a signer key registered in the log",
    "required": ["payloadType", "payload", "signatures"],
    "properties": {
        "payloadType": {"type": "string"},
        "payload": {"type": "string", "contentEncoding": "base64"},
        "signatures": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["keyid", "sig"],
                "properties": {"keyid": {"type": "string"}, "sig": {"type": "string"}},
            },
        },
    },
}
_ITEM_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "required": ["record"],
            "properties": {"record": _RECORD_SCHEMA},
            "additionalProperties": False,
        },
        _ENVELOPE_SCHEMA,
    ]
}
_RESULT_SCHEMA = {
    "type": "object",
    "required": ["id", "seq", "checkpoint"],
    "properties": {
        "id": {"type": "string"},
        "seq": {"type": "integer"},
        "checkpoint": {"type": "string", "description": "signed C2SP checkpoint note"},
    },
}


def parse_item(obj: Any, principal: Principal, where: str = "body") -> dict[str, Any] | Envelope:
    """A ``{"record": {...}}`` to sign here, or a client-signed envelope, after the checks
    that depend on who sends it (the record's own checks run when it is appended)."""
    if isinstance(obj, dict) and set(obj) == {"record"}:
        record = obj["record"]
        if not isinstance(record, dict):
            raise Problem(422, f"{where}.record must be an object")
    elif isinstance(obj, dict) and "payloadType" in obj:
        try:
            envelope = Envelope.from_json(obj)
            record = json.loads(envelope.payload)
        except (ProvenanceError, ValueError, UnicodeDecodeError, RecursionError) as e:
            raise Problem(
                422, f"{where}: not a prov record envelope ({type(e).__name__})"
            ) from None
        if not isinstance(record, dict):
            raise Problem(422, f"{where}: the envelope's payload is not a record")
        if record.get("created_by") != principal.name:
            raise Problem(
                422,
                f"{where}: a signed record's created_by must be the token's principal "
                f"{principal.name!r}",
            )
    else:
        raise Problem(422, f'{where} must be a DSSE envelope or {{"record": {{...}}}}')
    _check_role(record, principal, where)
    return envelope if "payloadType" in obj else record


def _check_role(record: dict[str, Any], principal: Principal, where: str) -> None:
    kind = record.get("kind")
    predicate = (record.get("attributes") or {}).get("predicate")
    admin_only = kind in ADMIN_KINDS or (
        kind == "attestation" and isinstance(predicate, str) and predicate in REGISTRY_PREDICATES
    )
    if admin_only and principal.role != "admin":
        what = f"{predicate!r} attestations" if kind == "attestation" else f"{kind} records"
        raise Problem(403, f"{where}: only an admin token may register {what}")


def _result(r: Registered, note: str) -> dict[str, Any]:
    return {"id": r.id, "seq": r.seq, "checkpoint": note}


@router.post(
    "/records",
    status_code=201,
    summary="Register one record",
    openapi_extra=json_body(_ITEM_SCHEMA),
    responses={
        200: {
            "description": "Already registered",
            "content": {"application/json": {"schema": _RESULT_SCHEMA}},
        },
        201: {
            "description": "Registered",
            "content": {"application/json": {"schema": _RESULT_SCHEMA}},
        },
    },
)
async def post_record(request: Request, principal: Writer) -> Response:
    item = parse_item(await read_json(request), principal)
    results, note = await run_in_threadpool(registry(request).submit, [item], principal.name)
    return json_response(_result(results[0], note), 200 if results[0].existing else 201)


@router.post(
    "/records/batch",
    status_code=201,
    summary=f"Register up to {MAX_BATCH} records in one transaction",
    openapi_extra=json_body(
        {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": _ITEM_SCHEMA}
    ),
)
async def post_batch(request: Request, principal: Writer) -> Response:
    body = await read_json(request)
    if not isinstance(body, list) or not 1 <= len(body) <= MAX_BATCH:
        raise Problem(422, f"the body must be a JSON array of 1 to {MAX_BATCH} items")
    items = [parse_item(obj, principal, f"item {i}") for i, obj in enumerate(body)]
    results, note = await run_in_threadpool(registry(request).submit, items, principal.name)
    created = any(not r.existing for r in results)
    return json_response(
        {
            "results": [{"id": r.id, "seq": r.seq, "existing": r.existing} for r in results],
            "checkpoint": note,
        },
        201 if created else 200,
    )


@router.get("/records/{ref}", summary="One record, as prov show --json")
async def get_record(ref: REF, request: Request, _: Reader) -> Response:
    reg = registry(request)
    if reg.envelope_size(ref) > INLINE_READ_MAX:  # decoding and encoding it would stall others
        return await run_in_threadpool(lambda: json_response(reg.show(ref)))
    return json_response(reg.show(ref))


@router.get("/records", summary="Records, newest first, paged")
def list_records(
    request: Request,
    _: Reader,
    kind: Literal[KINDS] | None = None,  # type: ignore[valid-type]
    name: Annotated[str | None, Query(max_length=256, description="a glob: * and ?")] = None,
    tag: Annotated[str | None, Query(max_length=1200, description="KEY or KEY=VALUE")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="the cursor `next`")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    wanted = None
    if tag is not None:
        key, eq, value = tag.partition("=")
        wanted = (key, value if eq else None)
    rows = registry(request).log(kind, name, limit + 1, wanted, after)
    page, more = rows[:limit], len(rows) > limit
    return json_response({"records": page, "next": page[-1]["seq"] if more else None})


@router.get("/lookup/{algorithm}/{hex}", summary="Records whose bytes have this digest")
async def lookup(
    algorithm: Literal["sha256", "md5"],
    hex: Annotated[str, Path(pattern="^[0-9a-fA-F]{32}([0-9a-fA-F]{32})?$")],
    request: Request,
    _: Reader,
) -> Response:
    return json_response({"records": registry(request).lookup_digest(algorithm, hex.lower())})


@router.get("/records/{ref}/lineage", summary="Lineage, as prov lineage --format json")
def get_lineage(
    ref: REF,
    request: Request,
    _: Reader,
    direction: Literal["up", "down", "both"] = "up",
    depth: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    as_of: Annotated[str | None, Query(max_length=40, description="RFC 3339 time or date")] = None,
) -> Response:
    answer = registry(request).lineage_json(ref, direction, depth, as_of)
    return Response(answer, media_type="application/json")
