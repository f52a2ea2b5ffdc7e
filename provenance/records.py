"""Records (SPEC §2): validation, canonical bytes and ids.

A record is a plain JSON object. :func:`validate_record` checks every field and rejects
unknown ones, so a typo never becomes part of a signed record; :func:`record_id` hashes the
canonical bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from provenance.canonical import canonical_bytes
from provenance.errors import RecordError, RefError
from provenance.timefmt import parse_duration, parse_time

__all__ = [
    "ARTIFACT_KINDS",
    "KINDS",
    "PREDICATES",
    "RECORD_TYPE",
    "REGISTRY_PREDICATES",
    "RELATIONS",
    "encode_record",
    "id_prefix",
    "is_uri",
    "record_id",
    "short_id",
    "validate_id",
    "validate_record",
]

RECORD_TYPE = "prov.record/v1"
KINDS = (
    "dataset",
    "model",
    "code",
    "environment",
    "run",
    "attestation",
    "key",
    "policy",
    "tombstone",
)
ARTIFACT_KINDS = frozenset({"dataset", "model"})
RELATIONS = ("used", "generated_by", "derived_from", "code", "environment", "about", "supersedes")
#: Predicates the registry writes itself (through key revocation, stores, retention, exports).
REGISTRY_PREDICATES = frozenset({"revocation", "stored-at", "legal-hold", "hold-release", "export"})
#: Every named predicate; users write the others (or a URI) with ``prov attest``.
PREDICATES = REGISTRY_PREDICATES | {"approval", "evaluation", "quality-check", "review"}
KEY_ROLES = ("signer", "log")

_FIELDS = frozenset(
    {
        "type",
        "kind",
        "name",
        "created_at",
        "subject",
        "links",
        "attributes",
        "tags",
        "created_by",
    }
)
_REQUIRED = ("type", "kind", "name", "created_at")
_SUBJECT_FIELDS = frozenset({"digest", "size", "media_type", "files", "manifest"})
_DIGEST_LEN = {"sha256": 64, "md5": 32}
_ID_RE = re.compile(r"\Asha256:[0-9a-f]{64}\Z")
_HEX_RE = re.compile(r"\A[0-9a-f]+\Z")
_URI_RE = re.compile(r"\A[a-zA-Z][a-zA-Z0-9+.-]*:\S+\Z")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
_PREFIX_MIN = 6


def is_uri(value: Any) -> bool:
    """Whether ``value`` looks like an absolute URI (a predicate that names its own schema)."""
    return isinstance(value, str) and bool(_URI_RE.match(value)) and len(value) <= 1024


def _fail(path: str, message: str) -> RecordError:
    return RecordError(f"{path}: {message}")


def _text(value: Any, path: str, max_len: int = 256) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= max_len:
        raise _fail(path, f"must be 1 to {max_len} characters, got {len(value)}")
    if _CONTROL_RE.search(value):
        raise _fail(path, "must not contain control characters")
    return value


def _int(value: Any, path: str) -> int:
    if type(value) is not int or value < 0:
        raise _fail(path, "must be a non-negative integer")
    return value


def validate_id(value: Any, path: str = "id") -> str:
    """Check ``value`` is a full record id, ``sha256:`` and 64 lowercase hex digits."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise _fail(path, f"must be a record id sha256:<64 lowercase hex>, got {value!r}")
    return value


def _hex_digest(value: Any, algorithm: str, path: str) -> None:
    n = _DIGEST_LEN[algorithm]
    if not isinstance(value, str) or len(value) != n or not _HEX_RE.match(value):
        raise _fail(path, f"must be {n} lowercase hex digits")


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"must be an object, got {type(value).__name__}")
    return value


def _only(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _fail(path, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _subject(value: Any) -> None:
    s = _object(value, "subject")
    _only(s, _SUBJECT_FIELDS, "subject")
    digest = _object(s.get("digest"), "subject.digest")
    _only(digest, frozenset(_DIGEST_LEN), "subject.digest")
    if not digest:
        # sha256 is what prov computes; md5 alone is for bytes known only by DVC's hash
        # (a DVC project whose cache lacks the file: `prov import dvc`).
        raise _fail("subject.digest", "sha256 (or, for bytes known only to DVC, md5) is required")
    for algorithm, hexval in digest.items():
        _hex_digest(hexval, algorithm, f"subject.digest.{algorithm}")
    if "size" not in s:
        raise _fail("subject", "size is required")
    _int(s["size"], "subject.size")
    if "files" in s:
        _int(s["files"], "subject.files")
    if "media_type" in s:
        _text(s["media_type"], "subject.media_type")
    if "manifest" in s:
        validate_id(s["manifest"], "subject.manifest")


def _links(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise _fail("links", "must be a list of {rel, id}")
    seen: list[tuple[str, str]] = []
    for i, link in enumerate(value):
        path = f"links[{i}]"
        link = _object(link, path)
        _only(link, frozenset({"rel", "id"}), path)
        rel = link.get("rel")
        if rel not in RELATIONS:
            raise _fail(f"{path}.rel", f"unknown relation {rel!r} (one of {', '.join(RELATIONS)})")
        validate_id(link.get("id"), f"{path}.id")
        pair = (rel, link["id"])
        if pair in seen:
            raise _fail(path, f"duplicate link {rel}={link['id']}")
        seen.append(pair)
    return seen


def _key_attributes(attrs: Mapping[str, Any]) -> None:
    _only(attrs, frozenset({"algorithm", "public_key", "owner", "role"}), "attributes")
    if attrs.get("algorithm") != "ed25519":
        raise _fail("attributes.algorithm", "must be ed25519")
    pub = attrs.get("public_key")
    try:
        raw = base64.b64decode(pub, validate=True) if isinstance(pub, str) else b""
    except binascii.Error:
        raw = b""
    if len(raw) != 32 or base64.b64encode(raw).decode() != pub:
        raise _fail("attributes.public_key", "must be the base64 of a raw 32-byte Ed25519 key")
    _text(attrs.get("owner"), "attributes.owner")
    if attrs.get("role") not in KEY_ROLES:
        raise _fail("attributes.role", "must be signer or log")


def _policy_attributes(attrs: Mapping[str, Any]) -> None:
    _only(attrs, frozenset({"duration", "from", "applies_to", "on_expiry", "basis"}), "attributes")
    try:
        parse_duration(attrs.get("duration"))  # type: ignore[arg-type]
    except RecordError as e:
        raise _fail("attributes.duration", str(e)) from None
    if attrs.get("from", "created_at") not in ("created_at", "logged_at"):
        raise _fail("attributes.from", "must be created_at or logged_at")
    applies = _object(attrs.get("applies_to", {}), "attributes.applies_to")
    _only(applies, frozenset({"kinds", "name_glob", "tags"}), "attributes.applies_to")
    kinds = applies.get("kinds", [])
    if not isinstance(kinds, list) or any(k not in KINDS for k in kinds):
        raise _fail("attributes.applies_to.kinds", f"must be a list of kinds ({', '.join(KINDS)})")
    if "name_glob" in applies:
        _text(applies["name_glob"], "attributes.applies_to.name_glob")
    _tags(applies.get("tags", {}), "attributes.applies_to.tags")
    if attrs.get("on_expiry") not in ("purge", "review", "keep"):
        raise _fail("attributes.on_expiry", "must be purge, review or keep")
    _text(attrs.get("basis"), "attributes.basis", 4096)


def _tags(value: Any, path: str) -> None:
    tags = _object(value, path)
    for k, v in tags.items():
        _text(k, f"{path} key", 128)
        if not isinstance(v, str) or len(v) > 1024:
            raise _fail(f"{path}.{k}", "must be a string of at most 1024 characters")


def _kind_rules(record: Mapping[str, Any], links: list[tuple[str, str]]) -> None:
    kind = record["kind"]
    attrs = _object(record.get("attributes", {}), "attributes")
    if kind in ARTIFACT_KINDS and "subject" not in record:
        raise _fail("subject", f"is required for a {kind} record")
    if kind == "key":
        _key_attributes(attrs)
    elif kind == "policy":
        _policy_attributes(attrs)
    elif kind in ("attestation", "tombstone"):
        if not any(rel == "about" for rel, _ in links):
            raise _fail("links", f"a {kind} needs an 'about' link to the record it concerns")
        if kind == "attestation":
            predicate = attrs.get("predicate")
            if predicate not in PREDICATES and not is_uri(predicate):
                raise _fail(
                    "attributes.predicate",
                    f"must be one of {', '.join(sorted(PREDICATES))} or a URI",
                )
            if predicate in ("legal-hold", "hold-release") and record["name"] != predicate:
                # The registry finds holds by name: one named otherwise would go unseen.
                raise _fail("name", f"a {predicate} attestation is named {predicate!r}")
        else:
            _text(attrs.get("reason"), "attributes.reason")


def validate_record(record: Any) -> dict[str, Any]:
    """Check a record against SPEC §2 and return it.

    Raises:
        RecordError: naming the first field that is wrong and why.
    """
    record = _object(record, "record")
    _only(record, _FIELDS, "record")
    for field in _REQUIRED:
        if field not in record:
            raise _fail("record", f"missing required field {field!r}")
    if record["type"] != RECORD_TYPE:
        raise _fail("type", f"must be {RECORD_TYPE!r}")
    if record["kind"] not in KINDS:
        raise _fail("kind", f"unknown kind {record['kind']!r} (one of {', '.join(KINDS)})")
    _text(record["name"], "name")
    parse_time(record["created_at"], "created_at")
    if "subject" in record:
        _subject(record["subject"])
    links = _links(record.get("links", []))
    if "attributes" in record:
        _object(record["attributes"], "attributes")
    if "tags" in record:
        _tags(record["tags"], "tags")
    if "created_by" in record:
        _text(record["created_by"], "created_by")
    _kind_rules(record, links)
    return dict(record)


def encode_record(record: Mapping[str, Any]) -> tuple[str, bytes]:
    """Validate a record and return ``(id, canonical bytes)``.

    Raises:
        RecordError: the record is invalid.
        CanonicalizationError: a value has no canonical JSON form.
    """
    validate_record(record)
    data = canonical_bytes(record)
    return record_id(data), data


def record_id(canonical: bytes) -> str:
    """The id of a record given its canonical bytes: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def short_id(record_id_: str) -> str:
    """The 12-hex-digit abbreviation shown to people."""
    return record_id_.removeprefix("sha256:")[:12]


def id_prefix(ref: str) -> str:
    """Normalize a user's reference (full id or prefix, with or without ``sha256:``) to hex.

    Raises:
        RefError: fewer than 6 hex digits, or not hex.
    """
    hexpart = ref.strip().lower().removeprefix("sha256:")
    if len(hexpart) < _PREFIX_MIN or len(hexpart) > 64 or not _HEX_RE.match(hexpart):
        raise RefError(
            f"{ref!r} is not a record id: give at least {_PREFIX_MIN} hex digits of one "
            "(sha256: optional)"
        )
    return hexpart
