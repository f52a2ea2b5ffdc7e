"""The service: the porcelain API that the CLI, the HTTP API and the TUI call (SPEC §11).

``Registry`` owns a ``.prov/`` directory: its config, database, object store and keys. This
module is its table of contents, shaped like dvc's ``dvc/repo/``: opening and creating a
registry live here, and each verb is a one-line delegator to the module of its group (``add``,
``register``, ``capture``, ``keys``, ``read``, ``lineage``, ``retention``, ``remotes``,
``verify``, ``rebuild`` in this package). Every write goes through
:class:`~registry.service.writer.LogWriter` (``reg.writer``), which decides, signs and appends
under the log's writer lock, all in one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from provenance.dsse import Envelope
from provenance.timefmt import utcnow
from registry.client import RemoteRegistry
from registry.config import Config
from registry.db.merkle_log import MerkleLog
from registry.keystore import KeyStore
from registry.results import Added, Registered
from registry.service import add as adding
from registry.service import capture as capturing
from registry.service import keys as keying
from registry.service import lineage as lineages
from registry.service import opening
from registry.service import read as reading
from registry.service import rebuild as rebuilding
from registry.service import register as registering
from registry.service import remotes as remoting
from registry.service import retention as retaining
from registry.service.register import BATCH_SIZE
from registry.service.verify import Verifier
from registry.service.writer import LogWriter
from registry.stores.base import LOCAL, Store
from registry.stores.local import LocalStore
from registry.stores.objects import ObjectStore
from registry.workspace.hashing import FileHasher

if TYPE_CHECKING:
    import networkx

    from registry.runs import Run
    from registry.service.lineage import Lineage

__all__ = ["Added", "Registered", "Registry"]


class Registry:
    """An open registry. Use :meth:`open` or :meth:`init`; close with :meth:`close`."""

    def __init__(self, prov_dir: Path, config: Config, engine: Engine) -> None:
        self.prov_dir = prov_dir
        self.root = prov_dir.parent
        self.config = config
        self.engine = engine
        self.store = ObjectStore(prov_dir / "objects")
        self.local = LocalStore(LOCAL, prov_dir / "objects", self.store)
        #: Remote stores opened so far, by name (:func:`registry.service.remotes.store`).
        self.remote_stores: dict[str, Store] = {}
        self.keystore = KeyStore(prov_dir / "keys")
        self.merkle = MerkleLog()
        #: Signs and appends: every write goes through ``writer.append``.
        self.writer = LogWriter(prov_dir, config, engine, self.keystore, self.merkle)
        #: (log size, keys, policies) as :func:`registry.service.read.show` last read them.
        self.read_cache: tuple[int, dict[str, Any], list[tuple[str, dict[str, Any]]]] | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, pool_size: int = 5) -> Registry:
        """Open the registry at ``path`` (a ``.prov`` directory or its parent), or find one.
        ``pool_size``: database connections kept open (``prov serve`` matches its threads).

        Raises:
            ConfigError: no registry, or a corrupt config.
            StorageError: the database is unreachable or holds another registry.
        """
        return opening.open_registry(cls, path, pool_size)

    @staticmethod
    def connect(url: str, token: str | None = None, timeout: float = 60.0) -> RemoteRegistry:
        """A registry served by ``prov serve`` at ``url``, with this interface (SPEC §11):
        ``add`` (registers by digest), ``register``, ``run``, ``show``, ``log``, ``lookup``,
        ``lineage``, ``verify``, checkpoints and proofs. ``token`` defaults to ``PROV_TOKEN``.
        Connection errors are retried; a retried registration never duplicates a record."""
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
        return opening.init_registry(cls, directory, origin, retention, database_url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

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
        return registering.register(self, records, batch_size)

    def submit(
        self, items: Sequence[Mapping[str, Any] | Envelope], principal: str
    ) -> tuple[list[Registered], str]:
        """Register what API clients sent, in one transaction (``POST /v1/records[/batch]``).

        A record is signed here (``created_by`` set to ``principal``, ``type`` and
        ``created_at`` filled in); an envelope is logged as it is when a signer key the log
        trusts signed it (signatures by other keys do not count). Returns one result per item,
        in order (a repeated item repeats its result), and the checkpoint note covering them;
        a record registered before comes back with ``existing``.

        Raises:
            InputError: an invalid record or envelope (nothing of the batch is written).
            NotFoundError: a link names an unregistered record.
            RefusedError: no signature by a key the log trusts, or a record only the registry
                writes (a tombstone, a revocation of its own key).
        """
        return registering.submit(self, items, principal)

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
        follow_links_outside: bool = False,
    ) -> Added:
        """Hash a file or directory, store its bytes, and register it.

        Unchanged files are not read again. Bytes already registered under the same name (with
        the links asked for) return the existing record; new bytes under a used name get a
        ``supersedes`` link. Tabular files (Parquet, CSV, Arrow) get ``attributes.schema`` and
        ``attributes.profile`` (:mod:`registry.workspace.tabular`).

        Args:
            kind: ``dataset`` or ``model``; by default the kind of the name's latest record,
                else a guess from the path (:func:`registry.workspace.kinds.guess_kind`).
            links: ``(rel, ref)`` pairs; refs are ids or unique prefixes.
            hasher: a :meth:`hasher` that may already hold digests (and staged objects) of the
                files, hashed before the registry's database layer was even loaded.
            remote: also copy the bytes to this remote, before anything is logged (a remote
                that fails leaves nothing registered), then log that location too.
            follow_links_outside: follow symlinks in a directory that lead out of it (by
                default refused: a link must not smuggle another file's bytes into the store).
                Directories named ``.prov``, ``.git``, ``.dvc`` and ``.hg`` are never walked.

        Raises:
            InputError: bad kind, missing/unreadable path, a path inside ``.prov``, a symlink
                loop or one leading out of the directory, bad link relation.
            NotFoundError: a link target or the remote does not exist.
            StorageError: the remote cannot be reached or written.
        """
        given = (path, kind, name, tags, links, store, progress, hasher, remote)
        return adding.add(self, *given, follow_links_outside=follow_links_outside)

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
        return adding.register_artifact(
            self, kind, name, subject, links, tags, attributes, store, keep_kind
        )

    def hasher(
        self, p: Path, store: bool = True, progress: Callable[[int], None] | None = None
    ) -> FileHasher:
        """A hasher for ``p`` primed with this machine's digest cache (see :meth:`add`)."""
        return adding.hasher(self, p, store, progress)

    def attest(self, ref: str, predicate: str, body: Any = None) -> Registered:
        """Sign a statement about a record (``prov attest``): ``approval``, ``evaluation``,
        ``quality-check``, ``review`` or a predicate URI, with an optional JSON ``body``.

        Raises:
            NotFoundError: no such record.
            InputError: an unknown predicate, or one only the registry writes (``stored-at``,
                ``revocation``, ``legal-hold`` ...: they change what the registry believes about
                locations, keys and retention, and have their own commands).
        """
        return registering.attest(self, ref, predicate, body)

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
        return registering.register_once(self, kind, name, attributes, links, same)

    def code(self, repo: str | os.PathLike[str] = ".") -> Registered:
        """Register the git commit checked out at ``repo`` as a ``code`` record (``prov code``).

        Raises:
            InputError: ``repo`` is not in a git working tree (or git is missing).
        """
        return capturing.code(self, repo)

    def environment(
        self, project: str | os.PathLike[str] | None = None, python: str | None = None
    ) -> Registered:
        """Capture and register this environment (``prov env``); the same environment returns
        the same record. ``project`` is where lock files are looked for (default: the git
        working tree of the current directory, else the current directory); ``python`` captures
        another interpreter's packages.
        """
        return capturing.environment(self, project, python)

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
        return capturing.run(self, name, params, capture_code, capture_environment, command)

    # ------------------------------------------------------------------ keys and tokens

    def keys(self) -> list[dict[str, Any]]:
        """Every registered key, as ``prov key list --json`` shows it."""
        return keying.keys(self)

    def new_key(self, role: str, owner: str | None = None, standby: bool = False) -> Registered:
        """Create a key, register it (signed by the current signer) and make it active; a
        ``standby`` signer key is registered but not made active (a backup to keep offline,
        which signs the successor when the active signer key is lost).

        Raises:
            KeyAccessError: the active signer key is lost and no standby key is at hand
                (nothing is written, no key file left behind).
        """
        return keying.new_key(self, role, owner, standby)

    def create_token(self, name: str, role: str) -> tuple[str, dict[str, Any]]:
        """A new API token (``prov token create``): (the secret, shown only now; its listing)."""
        return keying.create_token(self, name, role)

    def tokens(self) -> list[dict[str, Any]]:
        """API tokens, oldest first, without secrets (``prov token list``)."""
        return keying.list_tokens(self)

    def revoke_token(self, ref: str) -> dict[str, Any]:
        """Revoke an API token by name or id (``prov token revoke``)."""
        return keying.revoke_token(self, ref)

    def revoke_key(self, ref: str, reason: str) -> Registered:
        """Revoke a key by key id (prefix) or key record id.

        Raises:
            RefusedError: the key is the active signer or log key.
            NotFoundError: no such key.
        """
        return keying.revoke_key(self, ref, reason)

    # ------------------------------------------------------------------ reading

    def resolve(self, ref: str) -> str:
        """A record id from a full id or a unique prefix of at least 6 hex digits.

        Raises:
            NotFoundError: malformed, unknown or ambiguous.
        """
        return reading.resolve(self, ref)

    def get(self, ref: str) -> Registered:
        """One record as it stands in the log."""
        return reading.get(self, ref)

    def envelope_size(self, ref: str) -> int:
        """The bytes of the largest envelope ``ref`` may name, as logged (without reading them)."""
        return reading.envelope_size(self, ref)

    def show(self, ref: str, now: datetime | None = None) -> dict[str, Any]:
        """A record with its envelope, verified signatures, log position, locations, retention."""
        return reading.show(self, ref, now)

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
        return reading.log(self, kind, name, limit, tag, before)

    def lookup(self, target: str) -> list[dict[str, Any]]:
        """Records whose bytes are a file's, a directory's, or a digest (``sha256:``/``md5:``).

        Raises:
            InputError: neither an existing path nor a well-formed digest.
        """
        return reading.lookup(self, target)

    def lookup_digest(self, algorithm: str, hex_digest: str) -> list[dict[str, Any]]:
        """Records whose bytes have this digest (``GET /v1/lookup``): never reads a file.

        Raises:
            InputError: not ``sha256`` or ``md5`` with a hex digest of its length.
        """
        return reading.lookup_digest(self, algorithm, hex_digest)

    # ------------------------------------------------------------------ the log

    def checkpoint(self) -> dict[str, Any]:
        """The latest signed checkpoint (``prov checkpoint --json``)."""
        return reading.checkpoint(self)

    def inclusion_proof(self, ref: str, size: int | None = None) -> dict[str, Any]:
        """RFC 9162 inclusion proof of a record in the tree of ``size`` (default: current)."""
        return reading.inclusion_proof(self, ref, size)

    def consistency_proof(self, old: int, new: int | None = None) -> dict[str, Any]:
        """RFC 9162 consistency proof between two tree sizes."""
        return reading.consistency_proof(self, old, new)

    def lineage(
        self,
        ref: str,
        direction: str = "up",
        depth: int | None = None,
        as_of: str | datetime | None = None,
    ) -> networkx.DiGraph[str]:
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
        return lineages.lineage(self, ref, direction, depth, lineages.as_of_instant(as_of), edges)

    def lineage_json(
        self,
        ref: str,
        direction: str = "up",
        depth: int | None = None,
        as_of: str | datetime | None = None,
    ) -> str:
        """:meth:`lineage_query`'s answer as the JSON text of ``prov lineage --format json``,
        built by the database (the HTTP API's lineage route)."""
        return lineages.lineage_json(self, ref, direction, depth, lineages.as_of_instant(as_of))

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
        return retaining.add_policy(self, name, attributes, preset)

    def policies(self) -> list[Registered]:
        """The retention policies in force, oldest first."""
        return retaining.policy_records(self)

    def retention_status(self, ref: str, now: datetime | None = None) -> dict[str, Any]:
        """A record's retention: policies, retain-until, holds, tombstone and state."""
        return retaining.status(self, ref, now or utcnow())

    def hold(self, ref: str, reason: str, by: str | None = None) -> Registered:
        """Put a legal hold on a record (``prov retention hold``); ``by`` names who asked (the
        HTTP API's principal) instead of this machine's user."""
        return retaining.hold(self, ref, reason, by)

    def release(self, ref: str, reason: str, by: str | None = None) -> Registered:
        """Release the legal holds on a record (``prov retention release``)."""
        return retaining.release(self, ref, reason, by)

    def retention_plan(self, now: datetime | None = None) -> dict[str, Any]:
        """What expires when (``prov retention plan``); writes nothing."""
        return retaining.plan(self, now or utcnow())

    def retention_apply(self, now: datetime | None = None, by: str | None = None) -> dict[str, Any]:
        """Purge what the policies say to purge (``prov retention apply``)."""
        return retaining.apply(self, now or utcnow(), by)

    def rm(
        self, ref: str, reason: str, now: datetime | None = None, by: str | None = None
    ) -> dict[str, Any]:
        """Purge a record's bytes with a tombstone (``prov rm``); refused while retained or
        held (:class:`~registry.errors.RetentionRefusedError`, nothing changed)."""
        return retaining.rm(self, ref, reason, now or utcnow(), by)

    # ------------------------------------------------------------------ remotes

    def add_remote(self, name: str, url: str, **options: str) -> dict[str, Any]:
        """Configure an artifact store (``prov remote add``); see docs/storage.md."""
        return remoting.add_remote(self, name, url, dict(options))

    def remotes(self) -> list[dict[str, Any]]:
        """The configured remotes (``prov remote list``)."""
        return remoting.list_remotes(self)

    def set_default_remote(self, name: str) -> dict[str, Any]:
        """Make ``name`` the remote push and pull use by default (``prov remote default``)."""
        return remoting.set_default(self, name)

    def push(
        self, ref: str | None = None, remote: str | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Copy bytes to a remote, re-hashed, each new location logged (``prov push``)."""
        return remoting.push(self, ref, remote, now or utcnow())

    def pull(
        self, ref: str | None = None, remote: str | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Copy bytes from a remote into the local store, re-hashed (``prov pull``)."""
        return remoting.pull(self, ref, remote, now or utcnow())

    # ------------------------------------------------------------------ integrity

    def rebuild(self) -> dict[str, Any]:
        """Recompute the Merkle nodes and derived tables from the envelopes (``prov rebuild``)."""
        return rebuilding.rebuild(self)

    def verify(
        self, full: bool = False, content: bool = False, since: str | None = None
    ) -> dict[str, Any]:
        """Check the log and records (SPEC §8); see :mod:`registry.service.verify`."""
        return Verifier(self).run(full=full, content=content, since=since)
