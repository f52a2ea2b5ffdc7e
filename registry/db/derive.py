"""The query tables derived from records: one function decides them, for appends and for
``prov verify --full`` (which rebuilds them from the envelopes and compares).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provenance import keys as pkeys

__all__ = ["Derived", "DerivedTables", "derive", "key_trusted", "link_key"]


@dataclass
class Derived:
    """Rows one record adds, and the updates it makes to earlier rows."""

    record: dict[str, Any]
    links: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    key: dict[str, Any] | None = None
    revokes: str | None = None  # record id of a key record this revocation revokes
    location: dict[str, Any] | None = None  # a stored-at attestation's location (upsert)


def derive(rid: str, seq: int, record: Mapping[str, Any], seq_of: Mapping[str, int]) -> Derived:
    """The derived rows for record ``rid`` logged at ``seq``; ``seq_of`` gives the log
    positions of the records it links to (-1 for one not logged, which verification reports)."""
    subject = record.get("subject") or {}
    digest = subject.get("digest", {})
    d = Derived(
        record={
            "id": rid,
            "seq": seq,
            "kind": record["kind"],
            "name": record["name"],
            "created_at": record["created_at"],
            "created_by": record.get("created_by"),
            "sha256": digest.get("sha256"),
            "md5": digest.get("md5"),
            "size": subject.get("size"),
        }
    )
    d.links = [
        {
            "src": rid,
            "rel": ln["rel"],
            "dst": ln["id"],
            "src_seq": seq,
            "dst_seq": seq_of.get(ln["id"], -1),
        }
        for ln in record.get("links", [])
    ]
    d.tags = [{"record_id": rid, "key": k, "value": v} for k, v in record.get("tags", {}).items()]
    attrs = record.get("attributes", {})
    if record["kind"] == "key":
        d.key = {
            "keyid": pkeys.key_id(base64.b64decode(attrs["public_key"])),
            "record_id": rid,
            "role": attrs["role"],
            "owner": attrs["owner"],
            "public_key": attrs["public_key"],
            "registered_seq": seq,
            "revoked_seq": None,
        }
    elif record["kind"] == "attestation":
        about = next(ln["id"] for ln in record["links"] if ln["rel"] == "about")
        predicate = attrs.get("predicate")
        body = attrs.get("body") if isinstance(attrs.get("body"), Mapping) else {}
        if predicate == "revocation":
            d.revokes = about
        elif (
            predicate == "stored-at"
            and isinstance(body.get("store"), str)
            and isinstance(body.get("uri"), str)
        ):
            d.location = {
                "record_id": about,
                "store": body["store"],
                "uri": body["uri"],
                "version": body.get("version"),
                # "released": the bytes stay there, but as another record's, not this one's.
                "present": body.get("action") not in ("removed", "released"),
                "attestation_id": rid,
            }
    return d


@dataclass
class DerivedTables:
    """The whole derived state, replayed in log order (for verification)."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: set[tuple[str, str, str, int, int]] = field(default_factory=set)
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    locations: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def apply(self, d: Derived) -> None:
        self.records[d.record["id"]] = d.record
        self.links.update(link_key(ln) for ln in d.links)
        self.tags.update({(t["record_id"], t["key"]): t["value"] for t in d.tags})
        if d.key:
            self.keys[d.key["keyid"]] = dict(d.key)
        if d.revokes:
            for row in self.keys.values():
                if row["record_id"] == d.revokes and row["revoked_seq"] is None:
                    row["revoked_seq"] = d.record["seq"]
        if d.location:
            loc = d.location
            self.locations[(loc["record_id"], loc["store"], loc["uri"])] = dict(loc)


def link_key(ln: Mapping[Any, Any]) -> tuple[str, str, str, int, int]:
    """A links row as a comparable tuple."""
    return (ln["src"], ln["rel"], ln["dst"], int(ln["src_seq"]), int(ln["dst_seq"]))


def key_trusted(key: Mapping[str, Any], seq: int) -> bool:
    """Whether a key (a ``keys`` row) may sign the record at log position ``seq``.

    A key counts from the record after its own ``key`` record (the genesis key, at 0, signs
    itself) up to and including its revocation, which it may sign itself.
    """
    registered, revoked = key["registered_seq"], key["revoked_seq"]
    if seq < registered or (seq == registered and seq != 0):
        return False
    return revoked is None or seq <= revoked
