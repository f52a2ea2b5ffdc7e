"""The service: the porcelain API that the CLI, the HTTP API and the TUI call.

``Registry`` owns a ``.prov/`` directory: its config, database, object store and keys. Every
write goes through :meth:`Registry._append`, which holds the log's writer lock while it decides
what to write (deduplication and versioning need the current state), signs, appends to the
Merkle log, fills the derived tables and signs a checkpoint, all in one transaction.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert, inspect, select

from provenance.checkpoint import Checkpoint, SignedNote, check_key_name
from provenance.digests import Digest
from provenance.dsse import PAYLOAD_TYPE, Envelope
from provenance.errors import ProvenanceError
from provenance.keys import Signer, verify_signature
from provenance.records import (
    ARTIFACT_KINDS,
    PREDICATES,
    RECORD_TYPE,
    REGISTRY_PREDICATES,
    RELATIONS,
    encode_record,
    is_uri,
    record_id,
)
from provenance.timefmt import format_time, parse_instant, utcnow
from registry import db, queries
from registry.config import PROV_DIR, Config, find_registry
from registry.derive import Derived, derive, key_trusted
from registry.errors import InputError, NotFoundError, RefusedError, StorageError
from registry.files import (
    FileHasher,
    artifact_kind,
    guess_kind,
    subject_of,
)
from registry.keystore import KeyStore
from registry.log import MerkleLog
from registry.objects import ObjectStore
from registry.statcache import StatCache
from registry.stores import LOCAL, Store
from registry.stores.local import LocalStore
from registry.tables import (
    KeyRow,
    LocationRow,
    Meta,
    RecordRow,
)
from registry.tabular import describe, is_tabular
from retention.presets import PRESETS, preset_attributes

if TYPE_CHECKING:
    import networkx

    from registry.lineage import Lineage
    from registry.remote import RemoteRegistry
    from registry.runs import Run

__all__ = ["Added", "Registered", "Registry"]

T_RECORDS = RecordRow.__table__  # type: ignore[attr-defined]
T_KEYS = KeyRow.__table__  # type: ignore[attr-defined]
T_LOCATIONS = LocationRow.__table__  # type: ignore[attr-defined]
T_META = Meta.__table__  # type: ignore[attr-defined]

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

#: Records per transaction in bulk registration.
BATCH_SIZE = 1000


@dataclass
class Registered:
    """A record in the log."""

    id: str
    seq: int
    record: dict[str, Any]
    logged_at: str
    existing: bool = False

    @property
    def kind(self) -> str:
        return str(self.record["kind"])

    @property
    def name(self) -> str:
        return str(self.record["name"])

    def summary(self) -> dict[str, Any]:
        """The ``prov add --json`` shape."""
        subject = self.record.get("subject") or {}
        digest = subject.get("digest", {})
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "seq": self.seq,
            "sha256": digest.get("sha256"),
            "md5": digest.get("md5"),
            "size": subject.get("size"),
            "existing": self.existing,
        }


@dataclass
class Added(Registered):
    """The result of :meth:`Registry.add`: the record and how many files had to be read."""

    files_read: int = 0
    files: int = 0


@dataclass
class _Plan:
    """What a write decided under the lock: records to append (dicts to sign here, or envelopes
    signed elsewhere), existing ones to return."""

    items: list[dict[str, Any] | Registered | Envelope] = field(default_factory=list)


#: A checked envelope signed elsewhere: (id, canonical payload, record, envelope bytes).
_Signed = tuple[str, bytes, dict[str, Any], bytes]


def add_arguments(
    path: str | os.PathLike[str],
    kind: str | None,
    links: Sequence[tuple[str, str]],
    resolve: Callable[[str], str],
) -> tuple[Path, list[dict[str, str]]]:
    """Check ``add``'s arguments (the local and the remote registry's): the path, the kind,
    each link's relation; returns the path and the links with their targets resolved.

    Raises:
        InputError: a missing path, an unknown kind or relation.
        NotFoundError: a link target does not exist.
    """
    if kind is not None:
        artifact_kind(kind)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    resolved = []
    for rel, ref in links:
        if rel not in RELATIONS:
            raise InputError(f"unknown link relation {rel!r} (one of {', '.join(RELATIONS)})")
        resolved.append({"rel": rel, "id": resolve(ref)})
    return p, resolved


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _now() -> str:
    return format_time(utcnow())


def _instant(when: str | datetime | None) -> str | None:
    """An ``as_of`` argument (a datetime, an RFC 3339 time, or a date meaning the end of that
    day) as the log's time format."""
    if when is None:
        return None
    try:
        return format_time(when if isinstance(when, datetime) else parse_instant(when))
    except ProvenanceError as e:
        raise InputError(str(e)) from None


def _changes_trust(record: Mapping[str, Any]) -> bool:
    """A key record or a key's revocation: it changes which signatures the log accepts."""
    predicate = (record.get("attributes") or {}).get("predicate")
    return record.get("kind") == "key" or predicate == "revocation"


def _same_bytes(record: Mapping[str, Any], subject: Mapping[str, Any]) -> bool:
    """Whether a record's subject names these bytes: every digest both give agrees (md5 alone
    for bytes known only by DVC's hash)."""
    have, want = (record.get("subject") or {}).get("digest", {}), subject["digest"]
    shared = [k for k in ("sha256", "md5") if k in have and k in want]
    return bool(shared) and all(have[k] == want[k] for k in shared)


class Registry:
    """An open registry. Use :meth:`open` or :meth:`init`; close with :meth:`close`."""

    def __init__(self, prov_dir: Path, config: Config, engine: Engine) -> None:
        self.prov_dir = prov_dir
        self.root = prov_dir.parent
        self.config = config
        self.engine = engine
        self.store = ObjectStore(prov_dir / "objects")
        self.local = LocalStore(LOCAL, prov_dir / "objects", self.store)
        self._stores: dict[str, Store] = {}  # remotes opened so far (registry.remotes.store)
        self.keystore = KeyStore(prov_dir / "keys")
        self.merkle = MerkleLog()
        self._signers: dict[str, Signer] = {}
        self._witness_lock = threading.Lock()  # the HTTP API appends from several threads
        #: (log size, keys, policies) as :func:`registry.queries.show` last read them
        self._read_cache: tuple[int, dict[str, Any], list[tuple[str, dict[str, Any]]]] | None = None

    # ------------------------------------------------------------------ opening

    @staticmethod
    def _database_url(prov_dir: Path, configured: str | None) -> str:
        return (
            os.environ.get("PROV_DATABASE_URL")
            or configured
            or f"sqlite:///{prov_dir / 'registry.db'}"
        )

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, pool_size: int = 5) -> Registry:
        """Open the registry at ``path`` (a ``.prov`` directory or its parent), or find one.
        ``pool_size``: database connections kept open (``prov serve`` matches its threads).

        Raises:
            ConfigError: no registry, or a corrupt config.
            StorageError: the database is unreachable or holds another registry.
        """
        prov_dir = find_registry(path)
        config = Config.load(prov_dir)
        url = cls._database_url(prov_dir, config.database_url)
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
            raise StorageError(f"the registry database {url[len('sqlite:///') :]} is missing")
        engine = db.connect(url, pool_size)
        reg = cls(prov_dir, config, engine)
        with db.read_tx(engine) as conn:
            found = None
            if inspect(conn).has_table("meta"):  # not a prov database at all otherwise
                found = conn.execute(select(T_META.c.value).where(T_META.c.key == "uuid")).scalar()
        if found != config.uuid:
            engine.dispose()
            raise StorageError(
                f"the database at {db.redact(url)} does not hold registry {config.uuid} "
                "(check PROV_DATABASE_URL)"
            )
        return reg

    @staticmethod
    def connect(url: str, token: str | None = None, timeout: float = 60.0) -> RemoteRegistry:
        """A registry served by ``prov serve`` at ``url``, with this interface (SPEC §11):
        ``add`` (registers by digest), ``register``, ``run``, ``show``, ``log``, ``lookup``,
        ``lineage``, ``verify``, checkpoints and proofs. ``token`` defaults to ``PROV_TOKEN``.
        Connection errors are retried; a retried registration never duplicates a record."""
        from registry.remote import RemoteRegistry

        return RemoteRegistry(url, token or os.environ.get("PROV_TOKEN"), timeout)

    @classmethod
    def init(
        cls,
        directory: str | os.PathLike[str] = ".",
        origin: str | None = None,
        retention: str | None = "seven-years",
        database_url: str | None = None,
    ) -> Registry:
        """Create ``directory/.prov``: config, database, object store, keys, genesis records.

        Raises:
            InputError: a registry exists there already, or an unknown retention preset.
        """
        if retention is not None and retention not in PRESETS:
            raise InputError(
                f"unknown retention preset {retention!r} (one of {', '.join(PRESETS)}, or none)"
            )
        reg_uuid = str(uuid.uuid4())
        origin = origin or f"prov/{reg_uuid}"
        try:
            check_key_name(origin)  # the origin names the log key in every checkpoint
        except ProvenanceError:
            raise InputError(
                f"origin must be one printable line without spaces or '+': {origin!r}"
            ) from None
        base = Path(directory).absolute()
        prov_dir = base / PROV_DIR
        if (prov_dir / "config").exists():
            raise InputError(f"a registry already exists at {prov_dir}")
        created = not prov_dir.exists()
        try:
            base.mkdir(parents=True, exist_ok=True)
            prov_dir.mkdir(exist_ok=True)
            (prov_dir / "objects").mkdir(exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create {prov_dir}: {e.strerror}") from None
        try:
            return cls._create(prov_dir, reg_uuid, origin, retention, database_url)
        except BaseException:
            if created:  # leave nothing half made: the config, written last, marks a registry
                shutil.rmtree(prov_dir, ignore_errors=True)
            raise

    @classmethod
    def _create(
        cls,
        prov_dir: Path,
        reg_uuid: str,
        origin: str,
        retention: str | None,
        database_url: str | None,
    ) -> Registry:
        url = cls._database_url(prov_dir, database_url)
        engine = db.connect(url)
        db.create_schema(engine)
        with db.write_tx(engine) as conn:
            if conn.execute(select(T_META.c.value).where(T_META.c.key == "uuid")).scalar():
                raise InputError(f"the database at {db.redact(url)} already holds a registry")
            conn.execute(insert(T_META), [{"key": "uuid", "value": reg_uuid}])
        keystore = KeyStore(prov_dir / "keys")
        signer, log_key = Signer.generate(), Signer.generate()
        keystore.save(signer)
        keystore.save(log_key)
        config = Config(
            uuid=reg_uuid,
            origin=origin,
            signer=signer.keyid,
            log_key=log_key.keyid,
            database_url=None if url.startswith("sqlite:") else db.without_password(url),
        )
        reg = cls(prov_dir, config, engine)
        reg._signers = {signer.keyid: signer, log_key.keyid: log_key}
        owner = _who()
        genesis: list[dict[str, Any]] = [
            reg._key_record(signer, "signer", owner),
            reg._key_record(log_key, "log", owner),
        ]
        if retention:
            genesis.append(
                reg._new_record("policy", retention, attributes=preset_attributes(retention))
            )
        reg._append(lambda conn: _Plan(list(genesis)), trust_check=False)
        config.save(prov_dir)
        return reg

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ keys

    def _signer(self, keyid: str) -> Signer:
        if keyid not in self._signers:
            self._signers[keyid] = self.keystore.load(keyid)
        return self._signers[keyid]

    def _new_record(self, kind: str, name: str, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "type": RECORD_TYPE,
            "kind": kind,
            "name": name,
            "created_at": _now(),
            "created_by": _who(),
        }
        record.update({k: v for k, v in fields.items() if v})
        return record

    def _key_record(self, signer: Signer, role: str, owner: str) -> dict[str, Any]:
        return self._new_record(
            "key",
            f"{role}-{signer.keyid[:12]}",
            attributes={
                "algorithm": "ed25519",
                "public_key": signer.public_b64,
                "owner": owner,
                "role": role,
            },
        )

    @staticmethod
    def _keys(conn: Connection, keyids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The ``keys`` rows of ``keyids`` that exist."""
        found = db.query_in(
            conn,
            "SELECT keyid, role, public_key, registered_seq, revoked_seq FROM keys "
            "WHERE keyid IN ({})",
            keyids,
        )
        cols = ("keyid", "role", "public_key", "registered_seq", "revoked_seq")
        return {row[0]: dict(zip(cols, row, strict=True)) for row in found}

    def _check_active_keys(self, conn: Connection, seq: int) -> None:
        """The configured signer and log keys may sign at ``seq``."""
        wanted = {self.config.signer: "signer", self.config.log_key: "log"}
        rows = self._keys(conn, wanted)
        for keyid, role in wanted.items():
            row = rows.get(keyid)
            if row is None or row["role"] != role or not key_trusted(row, seq):
                raise RefusedError(
                    f"the {role} key {keyid[:12]} is not trusted (revoked or unregistered): "
                    f"run `prov key new --role {role}`"
                )

    # ------------------------------------------------------------------ writing

    def _append(
        self, build: Callable[[Connection], _Plan], trust_check: bool = True
    ) -> list[Registered]:
        """Decide, sign and append records in one transaction under the writer lock."""
        return self._append_noted(build, trust_check)[0]

    def _append_noted(
        self, build: Callable[[Connection], _Plan], trust_check: bool = True
    ) -> tuple[list[Registered], str]:
        """:meth:`_append`, also returning the signed checkpoint note that covers the results."""
        with db.write_tx(self.engine) as conn:
            plan = build(conn)
            head = self.merkle.head(conn)
            size = head[0]
            if trust_check:
                self._check_active_keys(conn, size)
            signer = self._signer(self.config.signer)
            results: list[Registered] = []
            encoded: list[tuple[str, bytes, dict[str, Any]] | _Signed] = []
            for item in plan.items:
                if isinstance(item, Registered):
                    results.append(item)
                    continue
                if isinstance(item, Envelope):
                    encoded.append(self._presigned(conn, item, size))
                    continue
                try:
                    rid, data = encode_record(item)
                except ProvenanceError as e:
                    raise InputError(f"invalid record: {e}") from None
                encoded.append((rid, data, item))
            if any(len(e) == 4 for e in encoded) and any(
                _changes_trust(rec) for _, _, rec, *_ in encoded
            ):
                # A signature is checked against the keys as they stand before the batch.
                raise InputError(
                    "register keys and revocations in a request of their own, not in a batch "
                    "with client-signed envelopes"
                )
            targets = {ln["id"] for _, _, rec, *_ in encoded for ln in rec.get("links", [])}
            logged = self._logged(conn, {rid for rid, *_ in encoded} | targets)
            fresh: list[tuple[str, bytes, dict[str, Any]]] = []
            pending: set[str] = set()
            for rid, data, item, *signed in encoded:
                if rid in pending:
                    continue
                if rid in logged:
                    prior = self._entry(conn, rid)
                    assert prior is not None
                    results.append(prior)
                    continue
                for link in item.get("links", []):
                    if link["id"] not in logged and link["id"] not in pending:
                        raise NotFoundError(f"link target {link['id']} is not a registered record")
                pending.add(rid)
                envelope = signed[0] if signed else Envelope.sign(data, [signer]).to_bytes()
                fresh.append((rid, envelope, item))
            if not fresh:
                latest = self.merkle.latest_checkpoint(conn)
                return results, latest[1] if latest else ""
            now = _now()
            leaves, new_size, root = self.merkle.append(
                conn, [(r, e) for r, e, _ in fresh], now, head
            )
            seq_of = logged | {leaf.record_id: leaf.seq for leaf in leaves}
            derived = [
                derive(rid, leaf.seq, rec, seq_of)
                for leaf, (rid, _, rec) in zip(leaves, fresh, strict=True)
            ]
            self._write_derived(conn, derived)
            note = SignedNote.sign(
                Checkpoint(self.config.origin, new_size, root),
                self.config.origin,
                self._signer(self.config.log_key),
            ).text()
            self.merkle.save_checkpoint(conn, new_size, note, now)
            by_id = {leaf.record_id: leaf for leaf in leaves}
            fresh_results = {
                rid: Registered(rid, by_id[rid].seq, rec, by_id[rid].logged_at)
                for rid, _, rec in fresh
            }
            results.extend(fresh_results.values())
        self._write_witness(new_size, note)
        return sorted(results, key=lambda r: r.seq), note

    def _presigned(self, conn: Connection, envelope: Envelope, seq: int) -> _Signed:
        """Check an envelope signed elsewhere (the HTTP API's clients) before it is logged: its
        payload is a valid record in canonical form, and every signature is by a signer key the
        log trusts at ``seq`` and verifies. Returns what :meth:`_append` logs.

        Raises:
            InputError: not a prov record, not canonical, or a signature that does not verify.
            RefusedError: signed by a key the log does not trust.
        """
        if envelope.payload_type != PAYLOAD_TYPE:
            raise InputError(f"envelope payloadType must be {PAYLOAD_TYPE}")
        try:
            record = json.loads(envelope.payload)
            rid, data = encode_record(record)
        except (ValueError, UnicodeDecodeError, RecursionError, ProvenanceError) as e:
            raise InputError(f"invalid record in envelope: {e}") from None
        if data != envelope.payload:
            raise InputError("envelope payload is not the record's canonical JSON (RFC 8785)")
        message = envelope.pae()
        keys = self._keys(conn, (s.keyid for s in envelope.signatures))
        for s in envelope.signatures:
            key = keys.get(s.keyid)
            if key is None or key["role"] != "signer" or not key_trusted(key, seq):
                raise RefusedError(
                    f"envelope signed by key {s.keyid[:12]}, which is not a signer key the log "
                    "trusts (an admin registers it as a key record first)"
                )
            try:
                verify_signature(base64.b64decode(key["public_key"]), s.sig, message)
            except ProvenanceError:
                raise InputError(f"the signature by key {s.keyid[:12]} does not verify") from None
        return rid, data, record, envelope.to_bytes()

    def _entry(self, conn: Connection, rid: str) -> Registered | None:
        found = db.query(
            conn,
            "SELECT seq, envelope, logged_at FROM log_entries WHERE record_id = :rid",
            {"rid": rid},
        )
        if not found:
            return None
        seq, envelope, logged_at = found[0]
        record = json.loads(Envelope.from_bytes(bytes(envelope)).payload)
        return Registered(rid, int(seq), record, str(logged_at), existing=True)

    @staticmethod
    def _logged(conn: Connection, ids: set[str]) -> dict[str, int]:
        """Which of ``ids`` are in the log, with their sequence numbers."""
        found = db.query_in(
            conn, "SELECT record_id, seq FROM log_entries WHERE record_id IN ({})", ids
        )
        return {rid: int(seq) for rid, seq in found}

    @staticmethod
    def _write_derived(conn: Connection, derived: Sequence[Derived]) -> None:
        db.execute_many(conn, _INSERT_RECORD, [d.record for d in derived])
        db.execute_many(conn, _INSERT_LINK, [ln for d in derived for ln in d.links])
        db.execute_many(conn, _INSERT_TAG, [t for d in derived for t in d.tags])
        db.execute_many(conn, _INSERT_KEY, [d.key for d in derived if d.key])
        for d in derived:
            if d.revokes:
                db.execute_many(
                    conn,
                    "UPDATE keys SET revoked_seq = :seq "
                    "WHERE record_id = :rid AND revoked_seq IS NULL",
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

    def _write_witness(self, size: int, note: str) -> None:
        """Keep the newest checkpoint in ``.prov/checkpoint`` too: a copy outside the database,
        so a database rolled back or truncated behind our back is caught by ``prov verify``."""
        path = self.prov_dir / "checkpoint"
        with self._witness_lock:
            try:
                old = SignedNote.parse(path.read_text()).checkpoint.size
            except (OSError, ProvenanceError):
                old = -1
            if size <= old:
                return
            tmp = path.with_name(f"checkpoint.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(note)
            os.replace(tmp, path)

    def register(
        self, records: Iterable[Mapping[str, Any]], batch_size: int = BATCH_SIZE
    ) -> list[Registered]:
        """Register records in bulk: sign, log and commit in batches of ``batch_size``.

        Missing ``type``, ``created_at`` and ``created_by`` are filled in. A record already
        registered (same id) is returned as it is.

        Raises:
            InputError: a record is invalid (nothing of its batch is written).
            NotFoundError: a link names an unregistered record.
        """
        who, out = _who(), []
        batch: list[dict[str, Any] | Registered] = []

        def flush() -> None:
            items = list(batch)
            out.extend(self._append(lambda conn: _Plan(items)))
            batch.clear()

        for rec in records:
            full = {"type": RECORD_TYPE, "created_at": _now(), "created_by": who}
            full.update(rec)
            batch.append(full)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        return out

    def submit(
        self, items: Sequence[Mapping[str, Any] | Envelope], principal: str
    ) -> tuple[list[Registered], str]:
        """Register what API clients sent, in one transaction (``POST /v1/records[/batch]``).

        A record is signed here, with ``created_by`` set to ``principal`` and ``type`` and
        ``created_at`` filled in when missing; an envelope is logged as it is, if a signer key
        the log trusts made every signature (:meth:`_presigned`). Returns one result per item,
        in the order given (a repeated item repeats its result), and the signed checkpoint note
        that covers them all. Registering the same record again returns it with ``existing``.

        Raises:
            InputError: an invalid record or envelope (nothing of the batch is written).
            NotFoundError: a link names an unregistered record.
            RefusedError: an envelope signed by a key the log does not trust.
        """
        prepared: list[dict[str, Any] | Registered | Envelope] = []
        ids = []
        for item in items:
            if isinstance(item, Envelope):
                prepared.append(item)
                ids.append(record_id(item.payload))
                continue
            full = {"type": RECORD_TYPE, "created_at": _now(), **item, "created_by": principal}
            try:
                ids.append(encode_record(full)[0])
            except ProvenanceError as e:
                raise InputError(f"invalid record: {e}") from None
            prepared.append(full)
        results, note = self._append_noted(lambda conn: _Plan(prepared))
        by_id = {r.id: r for r in results}
        return [by_id[rid] for rid in ids], note

    def add(
        self,
        path: str | os.PathLike[str],
        kind: str | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        links: Sequence[tuple[str, str]] = (),
        store: bool = True,
        progress: Callable[[int], None] | None = None,
        hasher: FileHasher | None = None,
        remote: str | None = None,
    ) -> Added:
        """Hash a file or directory, store its bytes, and register it.

        Unchanged files are not read again. Bytes already registered under the same name (with
        the links asked for) return the existing record; new bytes under a used name get a
        ``supersedes`` link. Tabular files (Parquet, CSV, Arrow) get ``attributes.schema`` and
        ``attributes.profile`` (:mod:`registry.tabular`).

        Args:
            kind: ``dataset`` or ``model``; by default the kind of the name's latest record,
                else a guess from the path (:func:`registry.files.guess_kind`).
            links: ``(rel, ref)`` pairs; refs are ids or unique prefixes.
            hasher: a :meth:`hasher` that may already hold digests (and staged objects) of the
                files, hashed before the registry's database layer was even loaded.
            remote: also copy the bytes to this remote, before anything is logged (a remote
                that fails leaves nothing registered), then log that location too.

        Raises:
            InputError: bad kind, missing/unreadable path, symlink loop, bad link relation.
            NotFoundError: a link target or the remote does not exist.
            StorageError: the remote cannot be reached or written.
        """
        from registry import remotes, transfer

        p, resolved_links = add_arguments(path, kind, links, self.resolve)
        name = name or self._default_name(p)
        dst = remotes.store(self, remote) if remote else None
        if dst is not None:
            if not store:
                raise InputError("--remote stores bytes: it cannot go with --no-store")
            dst.check()
        if hasher is None:
            hasher = self.hasher(p, store, progress)
        try:
            subject, files = self._subject(p, hasher)
            if hasher.store is not None:
                hasher.store.publish()
        finally:
            if hasher.store is not None:
                hasher.store.discard()
        attributes = None
        if files == 1 and is_tabular(p):
            with db.read_tx(self.engine) as conn:
                latest = self._latest_named(conn, name)
            if not (latest and _same_bytes(latest.record, subject)):  # else the same profile
                attributes = describe(p)
        if dst is not None:
            transfer.copy(self.local, dst, transfer.root_of({"subject": subject}))
        result = self.register_artifact(
            kind or guess_kind(p),
            name,
            subject,
            resolved_links,
            tags,
            attributes,
            store=store,
            keep_kind=kind is None,
        )
        StatCache(self.prov_dir).save(hasher.updates)
        if dst is not None and dst.name != LOCAL:
            remotes.push(self, result.id, dst.name, utcnow())
        return Added(
            result.id,
            result.seq,
            result.record,
            result.logged_at,
            result.existing,
            files_read=hasher.files_read,
            files=files,
        )

    def register_artifact(
        self,
        kind: str,
        name: str,
        subject: Mapping[str, Any],
        links: Sequence[Mapping[str, str]] = (),
        tags: Mapping[str, str] | None = None,
        attributes: Mapping[str, Any] | None = None,
        store: bool = False,
        keep_kind: bool = False,
    ) -> Registered:
        """Register an artifact whose ``subject`` is already computed (hashed bytes).

        The name's latest record is returned when it has the same bytes and kind and already
        carries ``links``; otherwise a new record is made, with a ``supersedes`` link to that
        latest one. ``store`` says the bytes are in the local store (a ``stored-at``
        attestation follows); ``keep_kind`` takes the latest record's kind over ``kind``.
        """
        wanted = [dict(ln) for ln in links]

        def build(conn: Connection) -> _Plan:
            latest = self._latest_named(conn, name)
            want = latest.kind if (keep_kind and latest) else kind
            same = (
                latest is not None and latest.kind == want and _same_bytes(latest.record, subject)
            )
            known = latest.record.get("links", []) if latest else []
            if same and latest and all(ln in known for ln in wanted):
                plan = _Plan([latest])
                if store and not self._stored_locally(conn, latest.id):
                    plan.items.append(self._stored_at(latest.id, subject))
                return plan
            record_links = list(wanted)
            if latest and not any(ln["rel"] == "supersedes" for ln in record_links):
                record_links.append({"rel": "supersedes", "id": latest.id})
            record = self._new_record(
                want,
                name,
                subject=dict(subject),
                links=record_links,
                tags=dict(tags or {}),
                attributes=attributes or (latest.record.get("attributes") if same else None),
            )
            try:
                rid, _ = encode_record(record)
            except ProvenanceError as e:
                raise InputError(str(e)) from None
            plan = _Plan([record])
            if store:
                plan.items.append(self._stored_at(rid, subject))
            return plan

        return self._append(build)[0]

    def _default_name(self, p: Path) -> str:
        full = Path(os.path.normpath(p.absolute()))
        try:
            return full.relative_to(self.root).as_posix() or full.name
        except ValueError:
            return full.as_posix()

    def hasher(
        self, p: Path, store: bool = True, progress: Callable[[int], None] | None = None
    ) -> FileHasher:
        """A hasher for ``p`` primed with this machine's digest cache (see :meth:`add`)."""
        return FileHasher(StatCache(self.prov_dir).load(p), self.store if store else None, progress)

    def _subject(self, p: Path, hasher: FileHasher) -> tuple[dict[str, Any], int]:
        return subject_of(p, hasher, self.store if hasher.store else None)

    def _latest_named(self, conn: Connection, name: str) -> Registered | None:
        rid = conn.execute(
            select(T_RECORDS.c.id)
            .where(T_RECORDS.c.name == name)
            .where(T_RECORDS.c.kind.in_(sorted(ARTIFACT_KINDS)))
            .order_by(T_RECORDS.c.seq.desc())
            .limit(1)
        ).scalar()
        return self._entry(conn, rid) if rid else None

    def _stored_locally(self, conn: Connection, rid: str) -> bool:
        return (
            conn.execute(
                select(T_LOCATIONS.c.present).where(
                    T_LOCATIONS.c.record_id == rid, T_LOCATIONS.c.store == self.store.name
                )
            ).scalar()
            is True
        )

    def _stored_at(self, rid: str, subject: Mapping[str, Any]) -> dict[str, Any]:
        from registry.remotes import stored_at

        sha = subject["digest"]["sha256"]
        return stored_at(self, rid, self.store.name, self.store.uri_for(sha), None)

    def attest(self, ref: str, predicate: str, body: Any = None) -> Registered:
        """Sign a statement about a record (``prov attest``): ``approval``, ``evaluation``,
        ``quality-check``, ``review`` or a predicate URI, with an optional JSON ``body``.

        Raises:
            NotFoundError: no such record.
            InputError: an unknown predicate, or one only the registry writes (``stored-at``,
                ``revocation``, ``legal-hold`` ...: they change what the registry believes about
                locations, keys and retention, and have their own commands).
        """
        if predicate in REGISTRY_PREDICATES:
            raise InputError(
                f"the {predicate!r} predicate is written by the registry itself, not by "
                "prov attest (see prov key revoke, prov retention hold/release)"
            )
        if predicate not in PREDICATES and not is_uri(predicate):
            raise InputError(
                f"unknown predicate {predicate!r}: one of "
                f"{', '.join(sorted(PREDICATES - REGISTRY_PREDICATES))}, or a URI"
            )
        return self._attest(ref, predicate, body)

    def _attest(self, ref: str, predicate: str, body: Any = None) -> Registered:
        rid = self.resolve(ref)
        attributes: dict[str, Any] = {"predicate": predicate}
        if body is not None:
            attributes["body"] = body
        record = self._new_record(
            "attestation", predicate, links=[{"rel": "about", "id": rid}], attributes=attributes
        )
        return self._append(lambda conn: _Plan([record]))[0]

    # ------------------------------------------------------------------ capture

    def register_once(
        self,
        kind: str,
        name: str,
        attributes: Mapping[str, Any],
        links: Sequence[Mapping[str, str]] = (),
        same: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Registered:
        """Register a record unless one of that kind and name with the same attributes and
        links exists (newest first among the last 50 of the name); then return that one.

        Captured environments and commits, and imported runs, are facts that do not change
        when captured again: the second capture costs a read and returns the same id.
        ``same(record)`` replaces the attributes-and-links comparison.
        """
        attrs, wanted = json.loads(json.dumps(attributes)), [dict(ln) for ln in links]
        if same is None:

            def same(rec: Mapping[str, Any]) -> bool:
                return rec.get("attributes", {}) == attrs and rec.get("links", []) == wanted

        def existing(conn: Connection) -> Registered | None:
            ids = conn.execute(
                select(T_RECORDS.c.id)
                .where(T_RECORDS.c.name == name, T_RECORDS.c.kind == kind)
                .order_by(T_RECORDS.c.seq.desc())
                .limit(50)
            ).scalars()
            for rid in list(ids):
                entry = self._entry(conn, rid)
                if entry and same(entry.record):
                    return entry
            return None

        with db.read_tx(self.engine) as conn:
            found = existing(conn)
        if found:
            return found

        def build(conn: Connection) -> _Plan:
            again = existing(conn)  # another writer may have registered it meanwhile
            return _Plan([again or self._new_record(kind, name, attributes=attrs, links=wanted)])

        return self._append(build)[0]

    def code(self, repo: str | os.PathLike[str] = ".") -> Registered:
        """Register the git commit checked out at ``repo`` as a ``code`` record (``prov code``).

        Raises:
            InputError: ``repo`` is not in a git working tree (or git is missing).
        """
        from registry.capture.git import capture_code

        return self.register_once("code", *capture_code(repo))

    def environment(
        self, project: str | os.PathLike[str] | None = None, python: str | None = None
    ) -> Registered:
        """Capture and register this environment (``prov env``); the same environment returns
        the same record. ``project`` is where lock files are looked for (default: the git
        working tree of the current directory, else the current directory); ``python`` captures
        another interpreter's packages.
        """
        from registry.capture.environment import capture_environment
        from registry.capture.git import toplevel

        where = Path(project) if project is not None else (toplevel(Path.cwd()) or Path.cwd())
        return self.register_once("environment", *capture_environment(where, python))

    def run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        capture_code: bool = True,
        capture_environment: bool = True,
        command: str | None = None,
    ) -> Run:
        """A run to use as a context manager (SPEC §11)::

            with reg.run("train", params={"lr": 0.01}) as run:
                run.use(ds)
                run.log_metric("auc", 0.91)
                run.output("model.onnx", kind="model")

        On entry the code (git commit of the current directory, when there is one) and the
        environment are captured; on exit the run is registered with its status (an exception
        makes it ``failed`` and is re-raised) and, if it succeeded, each output as
        ``generated_by`` it. See :class:`registry.runs.Run`.
        """
        from registry.runs import Run

        return Run(self, name, params, capture_code, capture_environment, command)

    # ------------------------------------------------------------------ keys

    def keys(self) -> list[dict[str, Any]]:
        """Every registered key, as ``prov key list --json`` shows it."""
        with db.read_tx(self.engine) as conn:
            rows = conn.execute(select(T_KEYS).order_by(T_KEYS.c.registered_seq)).mappings()
            return [
                {
                    "keyid": r["keyid"],
                    "algorithm": "ed25519",
                    "public_key": r["public_key"],
                    "role": r["role"],
                    "owner": r["owner"],
                    "record": r["record_id"],
                    "revoked": r["revoked_seq"] is not None,
                    "active": r["keyid"] in (self.config.signer, self.config.log_key),
                }
                for r in rows
            ]

    def new_key(self, role: str, owner: str | None = None) -> Registered:
        """Create a key, register it (signed by the current signer) and make it active."""
        if role not in ("signer", "log"):
            raise InputError(f"unknown key role {role!r} (signer or log)")
        signer = Signer.generate()
        self.keystore.save(signer)
        self._signers[signer.keyid] = signer
        record = self._key_record(signer, role, owner or _who())
        result = self._append(lambda conn: _Plan([record]))[0]
        if role == "signer":
            self.config.signer = signer.keyid
        else:
            self.config.log_key = signer.keyid
        self.config.save(self.prov_dir)
        return result

    def create_token(self, name: str, role: str) -> tuple[str, dict[str, Any]]:
        """A new API token (``prov token create``): (the secret, shown only now; its listing)."""
        from registry import tokens

        return tokens.create(self.engine, name, role, _who())

    def tokens(self) -> list[dict[str, Any]]:
        """API tokens, oldest first, without secrets (``prov token list``)."""
        from registry import tokens

        return tokens.list_tokens(self.engine)

    def revoke_token(self, ref: str) -> dict[str, Any]:
        """Revoke an API token by name or id (``prov token revoke``)."""
        from registry import tokens

        return tokens.revoke(self.engine, ref)

    def revoke_key(self, ref: str, reason: str) -> Registered:
        """Revoke a key by key id (prefix) or key record id.

        Raises:
            RefusedError: the key is the active signer or log key.
            NotFoundError: no such key.
        """
        want = ref.lower().removeprefix("sha256:")
        matches = [
            k
            for k in self.keys()
            if k["keyid"].startswith(want) or k["record"].removeprefix("sha256:").startswith(want)
        ]
        if len(want) < 6 or not matches:
            raise NotFoundError(f"no key {ref!r}")
        if len(matches) > 1:
            raise NotFoundError(
                f"{ref!r} matches several keys: " + ", ".join(k["keyid"][:12] for k in matches)
            )
        key = matches[0]
        if key["revoked"]:
            raise InputError(f"key {key['keyid'][:12]} is already revoked")
        if key["active"]:
            raise RefusedError(
                f"key {key['keyid'][:12]} is the active {key['role']} key: create its successor "
                f"first (`prov key new --role {key['role']}`)"
            )
        return self._attest(key["record"], "revocation", {"reason": reason})

    # ------------------------------------------------------------------ reading

    def resolve(self, ref: str) -> str:
        """A record id from a full id or a unique prefix of at least 6 hex digits.

        Raises:
            NotFoundError: malformed, unknown or ambiguous.
        """
        with db.read_tx(self.engine) as conn:
            return queries.resolve_in(conn, ref)

    def get(self, ref: str) -> Registered:
        """One record as it stands in the log."""
        rid = self.resolve(ref)
        with db.read_tx(self.engine) as conn:
            entry = self._entry(conn, rid)
        assert entry is not None
        entry.existing = False
        return entry

    def show(self, ref: str, now: datetime | None = None) -> dict[str, Any]:
        """A record with its envelope, verified signatures, log position, locations, retention."""
        return queries.show(self, ref, now)

    def log(
        self,
        kind: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        tag: tuple[str, str | None] | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Records newest first (``prov log``); ``name`` is a glob; ``tag`` a (key, value or
        None) pair; ``before`` a seq to page from."""
        return queries.log(self, kind, name, limit, tag, before)

    def lookup(self, target: str) -> list[dict[str, Any]]:
        """Records whose bytes are a file's, a directory's, or a digest (``sha256:``/``md5:``).

        Raises:
            InputError: neither an existing path nor a well-formed digest.
        """
        p = Path(target)
        if p.exists():
            subject, _ = self._subject(p, self.hasher(p, store=False))
            return self.lookup_digest("sha256", subject["digest"]["sha256"])
        try:
            # DVC writes a directory's md5 as <hex>.dir; records keep the bare hex.
            digest = Digest.parse(target.removesuffix(".dir"))
        except ProvenanceError:
            raise InputError(
                f"{target}: no such file, and not a digest (sha256:<hex> or md5:<hex>)"
            ) from None
        return self.lookup_digest(digest.algorithm, digest.hex)

    def lookup_digest(self, algorithm: str, hex_digest: str) -> list[dict[str, Any]]:
        """Records whose bytes have this digest (``GET /v1/lookup``): never reads a file.

        Raises:
            InputError: not ``sha256`` or ``md5`` with a hex digest of its length.
        """
        try:
            digest = Digest.parse(f"{algorithm}:{hex_digest}")
        except ProvenanceError as e:
            raise InputError(str(e)) from None
        column = T_RECORDS.c.sha256 if digest.algorithm == "sha256" else T_RECORDS.c.md5
        match = column == digest.hex
        with db.read_tx(self.engine) as conn:
            rows = conn.execute(
                select(T_RECORDS.c.id, T_RECORDS.c.kind, T_RECORDS.c.name)
                .where(match)
                .order_by(T_RECORDS.c.seq)
            ).mappings()
            return [dict(r) for r in rows]

    # ------------------------------------------------------------------ the log

    def checkpoint(self) -> dict[str, Any]:
        """The latest signed checkpoint (``prov checkpoint --json``)."""
        return queries.checkpoint(self)

    def inclusion_proof(self, ref: str, size: int | None = None) -> dict[str, Any]:
        """RFC 9162 inclusion proof of a record in the tree of ``size`` (default: current)."""
        return queries.inclusion_proof(self, ref, size)

    def consistency_proof(self, old: int, new: int | None = None) -> dict[str, Any]:
        """RFC 9162 consistency proof between two tree sizes."""
        return queries.consistency_proof(self, old, new)

    def lineage(
        self,
        ref: str,
        direction: str = "up",
        depth: int | None = None,
        as_of: str | datetime | None = None,
    ) -> networkx.DiGraph:
        """Lineage as a networkx DiGraph (SPEC §11): nodes carry kind, name, created_at and seq,
        edges their relation; edges point from a record to what it links to."""
        return self.lineage_query(ref, direction, depth, as_of).graph()

    def lineage_query(
        self,
        ref: str,
        direction: str = "up",
        depth: int | None = None,
        as_of: str | datetime | None = None,
        edges: bool = True,
    ) -> Lineage:
        """Upstream provenance, downstream impact or both (``prov lineage``), answered in SQL.

        ``as_of`` (a datetime, an RFC 3339 time or a date meaning the end of that day) answers
        from the log as it stood then. ``edges=False`` returns the records reached without the
        links among them: the quick way to an impact set.
        """
        from registry.lineage import lineage

        return lineage(self, ref, direction, depth, _instant(as_of), edges)

    def lineage_json(
        self,
        ref: str,
        direction: str = "up",
        depth: int | None = None,
        as_of: str | datetime | None = None,
    ) -> str:
        """:meth:`lineage_query`'s answer as the JSON text of ``prov lineage --format json``,
        built by the database (the HTTP API's lineage route)."""
        from registry.lineage import lineage_json

        return lineage_json(self, ref, direction, depth, _instant(as_of))

    # ------------------------------------------------------------------ retention

    def add_policy(
        self, name: str, attributes: Mapping[str, Any] | None = None, preset: str | None = None
    ) -> Registered:
        """Log a retention policy (``prov retention policy add``): its SPEC §7 ``attributes``,
        or a shipped ``preset``.

        Raises:
            InputError: invalid attributes (an ISO 8601 duration that does not parse, an
                unknown kind or expiry action), or an unknown preset.
        """
        if preset is not None:
            if preset not in PRESETS:
                raise InputError(f"unknown preset {preset!r} (one of {', '.join(PRESETS)})")
            attributes = preset_attributes(preset)
        record = self._new_record("policy", name, attributes=dict(attributes or {}))
        record.setdefault("attributes", {})
        return self._append(lambda conn: _Plan([record]))[0]

    def policies(self) -> list[Registered]:
        """The retention policies in force, oldest first."""
        with db.read_tx(self.engine) as conn:
            found = queries.policies(self, conn)
            return [e for pid, _ in found if (e := self._entry(conn, pid))]

    def retention_status(self, ref: str, now: datetime | None = None) -> dict[str, Any]:
        """A record's retention: policies, retain-until, holds, tombstone and state."""
        from registry import retain

        return retain.status(self, ref, now or utcnow())

    def hold(self, ref: str, reason: str) -> Registered:
        """Put a legal hold on a record (``prov retention hold``)."""
        from registry import retain

        return retain.hold(self, ref, reason)

    def release(self, ref: str, reason: str) -> Registered:
        """Release the legal holds on a record (``prov retention release``)."""
        from registry import retain

        return retain.release(self, ref, reason)

    def retention_plan(self, now: datetime | None = None) -> dict[str, Any]:
        """What expires when (``prov retention plan``); writes nothing."""
        from registry import retain

        return retain.plan(self, now or utcnow())

    def retention_apply(self, now: datetime | None = None) -> dict[str, Any]:
        """Purge what the policies say to purge (``prov retention apply``)."""
        from registry import retain

        return retain.apply(self, now or utcnow())

    def rm(self, ref: str, reason: str, now: datetime | None = None) -> dict[str, Any]:
        """Purge a record's bytes with a tombstone (``prov rm``); refused while retained or
        held (:class:`RefusedError`, nothing changed)."""
        from registry import retain

        return retain.rm(self, ref, reason, now or utcnow())

    # ------------------------------------------------------------------ remotes

    def add_remote(self, name: str, url: str, **options: str) -> dict[str, Any]:
        """Configure an artifact store (``prov remote add``); see docs/storage.md."""
        from registry import remotes

        return remotes.add_remote(self, name, url, dict(options))

    def remotes(self) -> list[dict[str, Any]]:
        """The configured remotes (``prov remote list``)."""
        from registry import remotes

        return remotes.list_remotes(self)

    def set_default_remote(self, name: str) -> dict[str, Any]:
        """Make ``name`` the remote push and pull use by default (``prov remote default``)."""
        from registry import remotes

        return remotes.set_default(self, name)

    def push(
        self, ref: str | None = None, remote: str | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Copy bytes to a remote, re-hashed, each new location logged (``prov push``)."""
        from registry import remotes

        return remotes.push(self, ref, remote, now or utcnow())

    def pull(
        self, ref: str | None = None, remote: str | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Copy bytes from a remote into the local store, re-hashed (``prov pull``)."""
        from registry import remotes

        return remotes.pull(self, ref, remote, now or utcnow())

    def rebuild(self) -> dict[str, Any]:
        """Recompute the Merkle nodes and derived tables from the envelopes (``prov rebuild``)."""
        from registry.rebuild import rebuild

        return rebuild(self)

    def verify(
        self, full: bool = False, content: bool = False, since: str | None = None
    ) -> dict[str, Any]:
        """Check the log and records (SPEC §8); see :mod:`registry.verify`."""
        from registry.verify import Verifier

        return Verifier(self).run(full=full, content=content, since=since)
