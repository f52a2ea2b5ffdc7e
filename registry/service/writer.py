"""The append machinery: every write of the registry goes through :meth:`LogWriter.append`.

``append`` holds the log's writer lock while a caller's ``build`` decides what to write (dedup
and versioning need the current state), then signs, appends to the Merkle log, fills the
derived tables and signs a checkpoint, all in one transaction; the ``.prov/checkpoint`` witness
follows the commit. The verbs (:mod:`registry.service.add`, ``register``, ``retention`` ...)
build :class:`Plan` s; none of them touches the log's tables directly.

A leaf: it imports nothing of the service above it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from provenance.checkpoint import Checkpoint, SignedNote
from provenance.dsse import PAYLOAD_TYPE, Envelope
from provenance.errors import ProvenanceError
from provenance.keys import Signer, verify_signature
from provenance.records import RECORD_TYPE, encode_record, short_id
from provenance.timefmt import (
    now_text,
    utcnow,
)
from registry import db
from registry.capture.identity import who
from registry.config import Config
from registry.db.derive import Derived, derive, key_trusted
from registry.db.merkle_log import MerkleLog
from registry.errors import (
    InputError,
    NotFoundError,
    RefusedError,
    StorageError,
)
from registry.keystore import KeyStore
from registry.results import Registered
from registry.service.admission import (
    MAX_SIGNATURES,
    admit,
    check_clock,
    check_new_keys,
    check_retention_records,
    check_revocations,
    check_size,
)
from registry.service.read import entry
from registry.service.witness import witnessed, write_witness

__all__ = [
    "LogWriter",
    "Plan",
    "changes_trust",
    "key_record",
    "key_rows",
    "new_record",
    "same_bytes",
    "write_derived",
]

_INSERT_RECORD = (
    "INSERT INTO records (seq, id, kind, name, created_at, created_by, sha256, md5, size) "
    "VALUES (:seq, :id, :kind, :name, :created_at, :created_by, :sha256, :md5, :size)"
)
_INSERT_LINK = (
    "INSERT INTO links (src, rel, dst, src_seq, dst_seq) "
    "VALUES (:src, :rel, :dst, :src_seq, :dst_seq)"
)
_INSERT_TAG = "INSERT INTO tags (record_id, key, value) VALUES (:record_id, :key, :value)"
_INSERT_KEY = (
    "INSERT INTO keys (keyid, record_id, role, owner, public_key, registered_seq, revoked_seq) "
    "VALUES (:keyid, :record_id, :role, :owner, :public_key, :registered_seq, :revoked_seq)"
)
_INSERT_LOCATION = (
    "INSERT INTO locations (record_id, store, uri, version, present, attestation_id) "
    "VALUES (:record_id, :store, :uri, :version, :present, :attestation_id)"
)


@dataclass
class Plan:
    """What a write decided under the lock: records to append (dicts to sign here, or envelopes
    signed elsewhere), existing ones to return. ``purge``: the purge path, the only one whose
    plans may hold a ``tombstone`` (SPEC §2: only the registry writes them, after checking
    holds and retention)."""

    items: list[dict[str, Any] | Registered | Envelope] = field(default_factory=list)
    purge: bool = False


#: A checked envelope signed elsewhere: (id, canonical payload, record, envelope bytes).
_Signed = tuple[str, bytes, dict[str, Any], bytes]


def new_record(kind: str, name: str, **fields: Any) -> dict[str, Any]:
    """A record made here, by this machine's user, now; empty ``fields`` are left out."""
    record: dict[str, Any] = {
        "type": RECORD_TYPE,
        "kind": kind,
        "name": name,
        "created_at": now_text(),
        "created_by": who(),
    }
    record.update({k: v for k, v in fields.items() if v})
    return record


def key_record(signer: Signer, role: str, owner: str) -> dict[str, Any]:
    """The ``key`` record registering ``signer``'s public key in ``role``."""
    return new_record(
        "key",
        f"{role}-{signer.keyid[:12]}",
        attributes={
            "algorithm": "ed25519",
            "public_key": signer.public_b64,
            "owner": owner,
            "role": role,
        },
    )


def changes_trust(record: Mapping[str, Any]) -> bool:
    """A key record or a key's revocation: it changes which signatures the log accepts."""
    predicate = (record.get("attributes") or {}).get("predicate")
    return record.get("kind") == "key" or predicate == "revocation"


def same_bytes(record: Mapping[str, Any], subject: Mapping[str, Any]) -> bool:
    """Whether a record's subject names these bytes: every digest both give agrees (md5 alone
    for bytes known only by DVC's hash)."""
    have, want = (record.get("subject") or {}).get("digest", {}), subject["digest"]
    shared = [k for k in ("sha256", "md5") if k in have and k in want]
    return bool(shared) and all(have[k] == want[k] for k in shared)


def key_rows(conn: Connection, keyids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The ``keys`` rows of ``keyids`` that exist."""
    found = db.query_in(
        conn,
        "SELECT keyid, role, public_key, registered_seq, revoked_seq FROM keys WHERE keyid IN ({})",
        keyids,
    )
    cols = ("keyid", "role", "public_key", "registered_seq", "revoked_seq")
    return {row[0]: dict(zip(cols, row, strict=True)) for row in found}


def _logged(conn: Connection, ids: set[str]) -> dict[str, int]:
    """Which of ``ids`` are in the log, with their sequence numbers."""
    found = db.query_in(conn, "SELECT record_id, seq FROM log_entries WHERE record_id IN ({})", ids)
    return {rid: int(seq) for rid, seq in found}


def write_derived(conn: Connection, derived: Sequence[Derived]) -> None:
    """Fill the derived tables (records, links, tags, keys, locations) from derived rows."""
    db.execute_many(conn, _INSERT_RECORD, [d.record for d in derived])
    db.execute_many(conn, _INSERT_LINK, [ln for d in derived for ln in d.links])
    db.execute_many(conn, _INSERT_TAG, [t for d in derived for t in d.tags])
    db.execute_many(conn, _INSERT_KEY, [d.key for d in derived if d.key])
    for d in derived:
        if d.revokes:
            db.execute_many(
                conn,
                "UPDATE keys SET revoked_seq = :seq WHERE record_id = :rid AND revoked_seq IS NULL",
                [{"seq": d.record["seq"], "rid": d.revokes}],
            )
        if d.location:
            db.execute_many(
                conn,
                "DELETE FROM locations "
                "WHERE record_id = :record_id AND store = :store AND uri = :uri",
                [d.location],
            )
            db.execute_many(conn, _INSERT_LOCATION, [d.location])


class LogWriter:
    """Signs and appends for one open registry: its keys, its log, its witness file."""

    def __init__(
        self, prov_dir: Path, config: Config, engine: Engine, keystore: KeyStore, merkle: MerkleLog
    ) -> None:
        self.prov_dir = prov_dir
        self.config = config
        self.engine = engine
        self.keystore = keystore
        self.merkle = merkle
        #: Private keys loaded so far, by key id (``init`` and ``key new`` add theirs).
        self.signers: dict[str, Signer] = {}

    def signer(self, keyid: str) -> Signer:
        """The private key ``keyid``, loaded from the keystore once."""
        if keyid not in self.signers:
            self.signers[keyid] = self.keystore.load(keyid)
        return self.signers[keyid]

    def check_signer(self, conn: Connection, keyid: str, seq: int) -> None:
        """``keyid`` is a signer key the log trusts at ``seq``.

        Raises:
            RefusedError: it is not.
        """
        row = key_rows(conn, [keyid]).get(keyid)
        if row is None or row["role"] != "signer" or not key_trusted(row, seq):
            raise RefusedError(f"key {keyid[:12]} is not a signer key the log trusts")

    def check_active_keys(self, conn: Connection, seq: int) -> None:
        """The configured signer and log keys may sign at ``seq``.

        Raises:
            RefusedError: one of them is revoked or was never registered.
        """
        wanted = {self.config.signer: "signer", self.config.log_key: "log"}
        rows = key_rows(conn, wanted)
        for keyid, role in wanted.items():
            row = rows.get(keyid)
            if row is None or row["role"] != role or not key_trusted(row, seq):
                raise RefusedError(
                    f"the {role} key {keyid[:12]} is not trusted (revoked or unregistered): "
                    f"run `prov key new --role {role}`"
                )

    def append(
        self,
        build: Callable[[Connection], Plan],
        trust_check: bool = True,
        signer: str | None = None,
    ) -> list[Registered]:
        """Decide, sign and append records in one transaction under the writer lock.

        ``signer``: the key id to sign with instead of the active signer key (a signer key the
        log trusts: only the recovery of a lost signer key needs this).
        """
        return self.append_noted(build, trust_check, signer)[0]

    def append_noted(
        self,
        build: Callable[[Connection], Plan],
        trust_check: bool = True,
        signer: str | None = None,
    ) -> tuple[list[Registered], str]:
        """:meth:`append`, also returning the signed checkpoint note that covers the results."""
        clock = utcnow()
        with db.write_tx(self.engine) as conn:
            plan = build(conn)
            head = self.merkle.head(conn)
            size = head[0]
            check_clock(head[1], clock)
            self._check_witness(conn, size)
            if trust_check:
                self.check_active_keys(conn, size)
            if signer is not None:
                self.check_signer(conn, signer, size)
            signing = self.signer(signer or self.config.signer)
            results: list[Registered] = []
            encoded: list[tuple[str, bytes, dict[str, Any]] | _Signed] = []
            for item in plan.items:
                if isinstance(item, Registered):
                    results.append(item)
                    continue
                if isinstance(item, Envelope):
                    checked = self.presigned(conn, item, size)
                    check_size(checked[1], self.config)
                    admit(checked[2], clock, signed_here=False)
                    encoded.append(checked)
                    continue
                try:
                    rid, data = encode_record(item)
                except ProvenanceError as e:
                    raise InputError(f"invalid record: {e}") from None
                check_size(data, self.config)
                admit(item, clock, signed_here=True)
                encoded.append((rid, data, item))
            fresh_records = [rec for _, _, rec, *_ in encoded]
            check_retention_records(conn, fresh_records, plan.purge)
            check_revocations(conn, fresh_records, self.config)
            check_new_keys(conn, fresh_records)
            if any(len(e) == 4 for e in encoded) and any(
                changes_trust(rec) for _, _, rec, *_ in encoded
            ):
                # A signature is checked against the keys as they stand before the batch.
                raise InputError(
                    "register keys and revocations in a request of their own, not in a batch "
                    "with client-signed envelopes"
                )
            targets = {ln["id"] for _, _, rec, *_ in encoded for ln in rec.get("links", [])}
            logged = _logged(conn, {rid for rid, *_ in encoded} | targets)
            fresh: list[tuple[str, bytes, dict[str, Any]]] = []
            pending: set[str] = set()
            for rid, data, item, *signed in encoded:
                if rid in pending:
                    continue
                if rid in logged:
                    prior = entry(conn, rid)
                    assert prior is not None
                    results.append(prior)
                    continue
                for link in item.get("links", []):
                    if link["id"] not in logged and link["id"] not in pending:
                        raise NotFoundError(f"link target {link['id']} is not a registered record")
                pending.add(rid)
                envelope = signed[0] if signed else Envelope.sign(data, [signing]).to_bytes()
                fresh.append((rid, envelope, item))
            if not fresh:
                latest = self.merkle.latest_checkpoint(conn)
                return results, latest[1] if latest else ""
            now = now_text()
            leaves, new_size, root = self.merkle.append(
                conn, [(r, e) for r, e, _ in fresh], now, head
            )
            seq_of = logged | {leaf.record_id: leaf.seq for leaf in leaves}
            derived = [
                derive(rid, leaf.seq, rec, seq_of)
                for leaf, (rid, _, rec) in zip(leaves, fresh, strict=True)
            ]
            write_derived(conn, derived)
            note = SignedNote.sign(
                Checkpoint(self.config.origin, new_size, root),
                self.config.origin,
                self.signer(self.config.log_key),
            ).text()
            self.merkle.save_checkpoint(conn, new_size, note, now)
            by_id = {leaf.record_id: leaf for leaf in leaves}
            fresh_results = {
                rid: Registered(rid, by_id[rid].seq, rec, by_id[rid].logged_at)
                for rid, _, rec in fresh
            }
            results.extend(fresh_results.values())
        done = sorted(results, key=lambda r: r.seq)
        try:
            write_witness(self.prov_dir, new_size, note)
        except OSError as e:  # the records are logged: say so, never that the write failed
            ids = ", ".join(short_id(r.id) for r in fresh_results.values())
            raise StorageError(
                f"logged {ids} (tree size {new_size}), but the witness "
                f"{self.prov_dir / 'checkpoint'} could not be updated: {e.strerror}; "
                "the next write updates it"
            ) from None
        return done, note

    def _check_witness(self, conn: Connection, size: int) -> None:
        """The log about to grow extends the witness (O(log n) stored subtree hashes): else
        the new entries would overwrite the evidence that the database was rolled back.

        Raises:
            WitnessError: the witness cannot be read as a checkpoint.
            StorageError: the log does not extend it.
        """
        witness = witnessed(self.prov_dir)
        if witness is None or witness.size == 0:
            return
        if size < witness.size or self.merkle.root(conn, witness.size) != witness.root:
            raise StorageError(
                f"the database's log ({size} entries) does not extend the witness "
                f"{self.prov_dir / 'checkpoint'} ({witness.size} entries): rolled back or "
                "swapped? nothing was written (prov verify says more)"
            )

    def presigned(self, conn: Connection, envelope: Envelope, seq: int) -> _Signed:
        """Check an envelope signed elsewhere (the HTTP API's clients) before it is logged: its
        payload is a valid record in canonical form, at least one signature is by a signer key
        the log trusts at ``seq``, and every such signature verifies (signatures by other keys
        do not count and are kept, as SPEC §3 says). Returns what :meth:`append` logs.

        Raises:
            InputError: not a prov record, not canonical, or a trusted key's signature that does
                not verify.
            RefusedError: no signature by a key the log trusts.
        """
        if envelope.payload_type != PAYLOAD_TYPE:
            raise InputError(f"envelope payloadType must be {PAYLOAD_TYPE}")
        if len(envelope.signatures) > MAX_SIGNATURES:
            raise InputError(
                f"an envelope carries at most {MAX_SIGNATURES} signatures, "
                f"not {len(envelope.signatures)}"
            )
        try:
            record = json.loads(envelope.payload)
            rid, data = encode_record(record)
        except (ValueError, UnicodeDecodeError, RecursionError, ProvenanceError) as e:
            raise InputError(f"invalid record in envelope: {e}") from None
        if data != envelope.payload:
            raise InputError("envelope payload is not the record's canonical JSON (RFC 8785)")
        message = envelope.pae()
        keys = key_rows(conn, (s.keyid for s in envelope.signatures))
        counted = 0
        for s in envelope.signatures:
            key = keys.get(s.keyid)
            if key is None or key["role"] != "signer" or not key_trusted(key, seq):
                continue  # SPEC §3: a signature by a key the log does not trust does not count
            try:
                verify_signature(base64.b64decode(key["public_key"]), s.sig, message)
            except ProvenanceError:
                raise InputError(f"the signature by key {s.keyid[:12]} does not verify") from None
            counted += 1
        if not counted:
            raise RefusedError(
                "the envelope has no signature by a signer key the log trusts (an admin "
                "registers a key as a key record first)"
            )
        return rid, data, record, envelope.to_bytes()
