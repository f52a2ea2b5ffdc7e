"""Verification of a registry (SPEC §8).

Fast: every checkpoint's signature, the tree recomputed from the stored leaf hashes (its root
against the latest checkpoint, its interior nodes against the stored ones, every earlier
checkpoint and the ``.prov/checkpoint`` witness as prefixes of it).

``--full``: every envelope is decoded, its record re-hashed to its id, re-canonicalized and
validated, its leaf recomputed, and its signatures checked against the keys the log itself
trusted at that position; links must point backwards; the derived tables are rebuilt from the
envelopes and compared row by row. The per-record work (decoding, hashing and Ed25519, about
100 µs a record) runs in worker processes, one per core; the main process replays the log in
order to decide which keys were trusted when.

``--content``: every stored object is re-hashed.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from provenance import merkle
from provenance.canonical import canonical_bytes
from provenance.checkpoint import SignedNote
from provenance.dsse import Envelope
from provenance.errors import ProvenanceError, SignatureError
from provenance.keys import key_id, verify_signature
from provenance.logentry import leaf_input
from provenance.records import record_id, validate_record
from registry import db
from registry.derive import Derived, DerivedTables, derive, key_trusted
from registry.errors import InputError
from registry.log import node_key
from registry.tables import (
    CheckpointRow,
    KeyRow,
    LinkRow,
    LocationRow,
    LogEntry,
    LogNode,
    RecordRow,
    TagRow,
)

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["Verifier"]

_CHUNK = 2000
#: Below this many records the full check runs in-process (a pool costs more than it saves).
_POOL_MIN = 4000


def _problem(
    problem: str, detail: str, seq: int | None = None, rid: str | None = None
) -> dict[str, Any]:
    p: dict[str, Any] = {"problem": problem, "detail": detail}
    if seq is not None:
        p["seq"] = seq
    if rid is not None:
        p["id"] = rid
    return p


def check_entries(
    rows: Sequence[tuple[int, str, bytes, str, bytes | None]], pubkeys: Mapping[str, bytes]
) -> list[tuple[int, str, Derived | None, list[tuple[str, bool | None]], list[dict[str, Any]]]]:
    """Check log entries on their own (no ordering, no trust): runs in worker processes.

    Each row is ``(seq, record id, envelope bytes, logged_at, stored leaf hash)``. Returns per
    row ``(seq, id, derived rows, [(keyid, signature valid or None if key unknown)], problems)``.
    """
    out = []
    for seq, rid, env_bytes, logged_at, stored_leaf in rows:
        problems: list[dict[str, Any]] = []
        leaf = merkle.leaf_hash(leaf_input(env_bytes, rid, logged_at, seq))
        if stored_leaf is None:
            problems.append(
                _problem("missing-leaf", "no leaf hash stored for this entry", seq, rid)
            )
        elif leaf != stored_leaf:
            problems.append(
                _problem(
                    "leaf-mismatch",
                    "the entry (envelope, id, logged_at or seq) does not hash to its logged leaf",
                    seq,
                    rid,
                )
            )
        try:
            envelope = Envelope.from_bytes(env_bytes)
            if canonical_bytes(envelope.to_json()) != env_bytes:
                raise ProvenanceError("envelope bytes are not canonical")
        except ProvenanceError as e:
            problems.append(_problem("bad-envelope", str(e), seq, rid))
            out.append((seq, rid, None, [], problems))
            continue
        payload = envelope.payload
        derived = None
        if record_id(payload) != rid:
            problems.append(
                _problem(
                    "id-mismatch",
                    f"payload hashes to {record_id(payload)}, not to its id",
                    seq,
                    rid,
                )
            )
        try:
            record = json.loads(payload)
            validate_record(record)
            if canonical_bytes(record) != payload:
                raise ProvenanceError("payload is not canonical JSON")
            derived = derive(rid, seq, record)
        except (ProvenanceError, ValueError) as e:
            problems.append(_problem("invalid-record", str(e), seq, rid))
        sigs: list[tuple[str, bool | None]] = []
        message = envelope.pae()
        for s in envelope.signatures:
            pub = pubkeys.get(s.keyid)
            if pub is None:
                sigs.append((s.keyid, None))
                continue
            try:
                verify_signature(pub, s.sig, message)
                sigs.append((s.keyid, True))
            except SignatureError:
                sigs.append((s.keyid, False))
        out.append((seq, rid, derived, sigs, problems))
    return out


class Verifier:
    """One verification run over a registry."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.problems: list[dict[str, Any]] = []
        self.checked: dict[str, int] = {}

    def run(
        self, full: bool = False, content: bool = False, since: str | None = None
    ) -> dict[str, Any]:
        since_text = None
        if since is not None:
            try:
                since_text = Path(since).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(f"cannot read checkpoint file {since}: {e}") from None
        with db.read_tx(self.reg.engine) as conn:
            size = self.reg.log.size(conn)
            levels = self._tree(conn, size)
            root = self._root(levels, size)
            keys = {r["keyid"]: dict(r) for r in conn.execute(select(KeyRow.__table__)).mappings()}  # type: ignore[attr-defined]
            self._checkpoints(conn, levels, size, keys)
            self._witness(levels, size, keys)
            if since_text is not None:
                self._note(
                    since_text, f"checkpoint {since}", "since-inconsistent", levels, size, keys
                )
            if full:
                self._full(conn, levels, size)
            if content:
                self._content(conn)
        return {
            "ok": not self.problems,
            "tree_size": size,
            "root": root.hex(),
            "checked": self.checked,
            "problems": self.problems,
        }

    # ---------------------------------------------------------------- the tree

    def _tree(self, conn: Connection, size: int) -> list[list[bytes]]:
        """All complete-subtree hashes recomputed from the stored leaves; checks stored nodes."""
        t = LogNode.__table__  # type: ignore[attr-defined]
        leaves: list[bytes] = []
        stored_interior: dict[int, bytes] = {}
        for node, h in conn.execute(select(t.c.node, t.c.hash).order_by(t.c.node)):
            node = int(node)
            if node >> 40 == 0:
                if node != len(leaves):
                    self.problems.append(_problem(
                        "missing-leaf", f"leaf hashes {len(leaves)}..{node - 1} are missing",
                        len(leaves)))
                    leaves.extend([b"\0" * 32] * (node - len(leaves)))
                leaves.append(bytes(h))
            else:
                stored_interior[node] = bytes(h)
        if len(leaves) != size:
            self.problems.append(
                _problem("leaf-count", f"{len(leaves)} leaf hashes stored for {size} log entries")
            )
            leaves = (leaves + [b"\0" * 32] * size)[:size]
        levels = [leaves]
        while len(levels[-1]) > 1:
            prev = levels[-1]
            levels.append(
                [merkle.node_hash(prev[i], prev[i + 1]) for i in range(0, len(prev) - 1, 2)]
            )
        for lv in range(1, len(levels)):
            for ix, h in enumerate(levels[lv]):
                if stored_interior.pop(node_key(lv, ix), None) != h:
                    self.problems.append(
                        _problem(
                            "node-mismatch",
                            f"stored subtree hash level {lv} index {ix} is wrong "
                            "or missing (proofs would not verify)",
                        )
                    )
        for node in stored_interior:
            self.problems.append(
                _problem(
                    "node-extra",
                    f"a subtree hash level {node >> 40} index {node & (2**40 - 1)} "
                    "is stored beyond the tree",
                )
            )
        self.checked["leaves"] = size
        return levels

    @staticmethod
    def _root(levels: list[list[bytes]], size: int) -> bytes:
        if size == 0:
            return merkle.root_from_leaves([])
        return merkle.fold_blocks([levels[lv][ix] for lv, ix in merkle.subtree_blocks(0, size)])

    def _verify_note(self, text: str, keys: Mapping[str, Mapping[str, Any]]) -> SignedNote:
        """Parse a note and verify it with a log key trusted at its tree size."""
        note = SignedNote.parse(text)
        origin = self.reg.config.origin
        if note.checkpoint.origin != origin:
            raise ProvenanceError(f"origin is {note.checkpoint.origin!r}, this log is {origin!r}")
        for key in keys.values():
            if key["role"] != "log" or not key_trusted(key, note.checkpoint.size):
                continue
            try:
                note.verify(origin, base64.b64decode(key["public_key"]))
                return note
            except ProvenanceError:
                continue
        raise ProvenanceError("no signature by a log key trusted at that size verifies")

    def _note(
        self,
        text: str,
        what: str,
        problem: str,
        levels: list[list[bytes]],
        size: int,
        keys: Mapping[str, Mapping[str, Any]],
    ) -> SignedNote | None:
        try:
            note = self._verify_note(text, keys)
        except ProvenanceError as e:
            self.problems.append(_problem("checkpoint-signature", f"{what}: {e}"))
            return None
        n = note.checkpoint.size
        if n > size:
            self.problems.append(
                _problem(
                    "log-truncated", f"{what} has {n} leaves but the log has only {size}", size
                )
            )
        elif n and self._root(levels, n) != note.checkpoint.root:
            self.problems.append(
                _problem(problem, f"the log's first {n} leaves do not have the root {what} signed")
            )
        return note

    def _checkpoints(
        self,
        conn: Connection,
        levels: list[list[bytes]],
        size: int,
        keys: Mapping[str, Mapping[str, Any]],
    ) -> None:
        t = CheckpointRow.__table__  # type: ignore[attr-defined]
        rows = conn.execute(select(t.c.tree_size, t.c.note).order_by(t.c.tree_size)).all()
        for n, text in rows:
            note = self._note(
                text, f"checkpoint {n}", "inconsistent-checkpoint", levels, size, keys
            )
            if note is not None and note.checkpoint.size != n:
                self.problems.append(
                    _problem(
                        "checkpoint-size",
                        f"checkpoint row {n} holds a note for size {note.checkpoint.size}",
                    )
                )
        self.checked["checkpoints"] = len(rows)
        latest = int(rows[-1][0]) if rows else 0
        if size > latest:
            self.problems.append(
                _problem(
                    "uncheckpointed-leaves",
                    f"leaves {latest}..{size - 1} are in the log but in no signed checkpoint "
                    "(inserted behind the log's back?)",
                    latest,
                )
            )

    def _witness(
        self, levels: list[list[bytes]], size: int, keys: Mapping[str, Mapping[str, Any]]
    ) -> None:
        path = self.reg.prov_dir / "checkpoint"
        if path.exists():
            self._note(
                path.read_text(encoding="utf-8", errors="replace"),
                str(path),
                "witness-inconsistent",
                levels,
                size,
                keys,
            )

    # ---------------------------------------------------------------- records

    def _entries(
        self, conn: Connection, levels: list[list[bytes]]
    ) -> Iterator[list[tuple[int, str, bytes, str, bytes | None]]]:
        e = LogEntry.__table__  # type: ignore[attr-defined]
        leaves = levels[0]
        chunk: list[tuple[int, str, bytes, str, bytes | None]] = []
        result = conn.execution_options(yield_per=_CHUNK).execute(
            select(e.c.seq, e.c.record_id, e.c.envelope, e.c.logged_at).order_by(e.c.seq)
        )
        last_logged_at = ""
        for seq, rid, env, logged_at in result:
            seq = int(seq)
            if logged_at < last_logged_at:
                self.problems.append(
                    _problem(
                        "logged-at-backwards",
                        f"logged at {logged_at}, before the entry ahead of it ({last_logged_at})",
                        seq,
                        rid,
                    )
                )
            last_logged_at = max(logged_at, last_logged_at)
            chunk.append(
                (seq, rid, bytes(env), logged_at, leaves[seq] if 0 <= seq < len(leaves) else None)
            )
            if len(chunk) >= _CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _full(self, conn: Connection, levels: list[list[bytes]], size: int) -> None:
        k = KeyRow.__table__  # type: ignore[attr-defined]
        # keyid -> public key from any key record; self-authenticating (keyid = sha256(key)).
        pubkeys = {}
        for keyid, pub in conn.execute(select(k.c.keyid, k.c.public_key)):
            raw = base64.b64decode(pub)
            if key_id(raw) == keyid:
                pubkeys[keyid] = raw
        tables = DerivedTables()
        state = _Replay(tables, self.problems)
        workers = os.cpu_count() or 1
        if size >= _POOL_MIN and workers > 1:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                self._pipeline(pool, conn, levels, pubkeys, state)
        else:
            for chunk in self._entries(conn, levels):
                state.apply(check_entries(chunk, pubkeys))
        if state.next_seq != size:
            self.problems.append(
                _problem("log-gap", f"{state.next_seq} entries read but the log has {size}")
            )
        self.checked["records"] = state.records
        self.checked["signatures"] = state.signatures
        self._compare_derived(conn, tables)

    def _pipeline(
        self,
        pool: Executor,
        conn: Connection,
        levels: list[list[bytes]],
        pubkeys: Mapping[str, bytes],
        state: _Replay,
    ) -> None:
        pending: list[Future[Any]] = []
        for chunk in self._entries(conn, levels):
            pending.append(pool.submit(check_entries, chunk, pubkeys))
            while len(pending) > 4:
                state.apply(pending.pop(0).result())
        for f in pending:
            state.apply(f.result())

    def _compare_derived(self, conn: Connection, expected: DerivedTables) -> None:
        def rows(table: Any) -> list[dict[str, Any]]:
            return [dict(r) for r in conn.execute(select(table)).mappings()]

        def report(table: str, key: object, rid: str | None, what: str) -> None:
            self.problems.append(
                _problem("derived-mismatch", f"table {table}: row {key} {what}", rid=rid)
            )

        def compare(table: str, actual: dict[Any, Any], want: dict[Any, Any], rid_of: Any) -> None:
            for key in actual.keys() | want.keys():
                if key not in want:
                    report(table, key, rid_of(key), "is not in any record")
                elif key not in actual:
                    report(table, key, rid_of(key), "is missing")
                elif actual[key] != want[key]:
                    report(
                        table,
                        key,
                        rid_of(key),
                        f"differs from its record: {actual[key]} instead of {want[key]}",
                    )

        rec = {
            r["id"]: r
            | {"seq": int(r["seq"]), "size": r["size"] if r["size"] is None else int(r["size"])}
            for r in rows(RecordRow.__table__)
        }  # type: ignore[attr-defined]
        compare("records", rec, expected.records, lambda key: key)
        links = {(r["src"], r["rel"], r["dst"]): True for r in rows(LinkRow.__table__)}  # type: ignore[attr-defined]
        compare("links", links, dict.fromkeys(expected.links, True), lambda key: key[0])
        tags = {(r["record_id"], r["key"]): r["value"] for r in rows(TagRow.__table__)}  # type: ignore[attr-defined]
        compare("tags", tags, expected.tags, lambda key: key[0])

        def norm_key(r: Mapping[str, Any]) -> dict[str, Any]:
            return dict(r) | {
                "registered_seq": int(r["registered_seq"]),
                "revoked_seq": None if r["revoked_seq"] is None else int(r["revoked_seq"]),
            }

        keys = {r["keyid"]: norm_key(r) for r in rows(KeyRow.__table__)}  # type: ignore[attr-defined]
        compare(
            "keys",
            keys,
            {k: norm_key(v) for k, v in expected.keys.items()},
            lambda key: (keys.get(key) or expected.keys.get(key) or {}).get("record_id"),
        )
        locs = {
            (r["record_id"], r["store"], r["uri"]): r | {"present": bool(r["present"])}
            for r in rows(LocationRow.__table__)
        }  # type: ignore[attr-defined]
        compare("locations", locs, expected.locations, lambda key: key[0])

    # ---------------------------------------------------------------- content

    def _content(self, conn: Connection) -> None:
        loc = LocationRow.__table__  # type: ignore[attr-defined]
        rec = RecordRow.__table__  # type: ignore[attr-defined]
        tomb = (
            select(LinkRow.__table__.c.dst)
            .join(  # type: ignore[attr-defined]
                rec, rec.c.id == LinkRow.__table__.c.src
            )
            .where(  # type: ignore[attr-defined]
                rec.c.kind == "tombstone", LinkRow.__table__.c.rel == "about"
            )
        )  # type: ignore[attr-defined]
        tombstoned = set(conn.execute(tomb).scalars())
        q = (
            select(loc.c.record_id, loc.c.uri, rec.c.sha256)
            .join(rec, rec.c.id == loc.c.record_id)
            .where(loc.c.store == self.reg.store.name, loc.c.present.is_(True))
        )
        store = self.reg.store
        objects = 0
        for rid, _uri, sha in conn.execute(q):
            if rid in tombstoned or sha is None:
                continue
            objects += self._object(store, rid, sha)
            manifest = self._manifest(store, rid, sha)
            for entry in manifest:
                objects += self._object(store, rid, entry["sha256"], entry["path"])
        self.checked["objects"] = objects

    def _object(self, store: Any, rid: str, sha: str, path: str | None = None) -> int:
        what = f"object {sha[:12]}" + (f" ({path})" if path else "")
        try:
            got = store.rehash(sha).sha256
        except FileNotFoundError:
            self.problems.append(_problem("object-missing", f"{what} is not in the store", rid=rid))
            return 1
        except OSError as e:
            self.problems.append(_problem("object-unreadable", f"{what}: {e.strerror}", rid=rid))
            return 1
        if got != sha:
            self.problems.append(
                _problem(
                    "object-corrupt",
                    f"{what} re-hashes to {got[:12]}: its bytes were replaced",
                    rid=rid,
                )
            )
        return 1

    @staticmethod
    def _manifest(store: Any, rid: str, sha: str) -> list[dict[str, Any]]:
        try:
            data = store.read_bytes(sha)
            manifest = json.loads(data)
        except (OSError, ValueError):
            return []
        if isinstance(manifest, list) and all(
            isinstance(e, dict) and "sha256" in e for e in manifest
        ):
            return manifest
        return []


class _Replay:
    """Applies checked entries in log order: contiguity, time, links and key trust."""

    def __init__(self, tables: DerivedTables, problems: list[dict[str, Any]]) -> None:
        self.tables = tables
        self.problems = problems
        self.next_seq = 0
        self.seen: set[str] = set()
        self.records = 0
        self.signatures = 0

    def apply(
        self,
        results: Sequence[
            tuple[int, str, Derived | None, list[tuple[str, bool | None]], list[dict[str, Any]]]
        ],
    ) -> None:
        for seq, rid, derived, sigs, problems in results:
            self.problems.extend(problems)
            if seq != self.next_seq:
                self.problems.append(
                    _problem(
                        "log-gap",
                        f"expected entry {self.next_seq}, found {seq} (an entry was "
                        "deleted or inserted)",
                        seq,
                        rid,
                    )
                )
            self.next_seq = seq + 1
            self.records += 1
            if derived is None:
                self.seen.add(rid)
                continue
            for link in derived.links:
                if link["dst"] not in self.seen:
                    self.problems.append(
                        _problem(
                            "link-forward",
                            f"links to {link['dst']}, which is not logged before it",
                            seq,
                            rid,
                        )
                    )
            self.seen.add(rid)
            self.tables.apply(derived)
            self._signatures(seq, rid, sigs)

    def _signatures(self, seq: int, rid: str, sigs: list[tuple[str, bool | None]]) -> None:
        trusted = bad = 0
        for keyid, valid in sigs:
            self.signatures += 1
            key = self.tables.keys.get(keyid)
            if key is None or key["role"] != "signer" or not key_trusted(key, seq):
                continue  # a signature by a key the log did not trust then does not count
            if valid:
                trusted += 1
                continue
            bad += 1
            detail = (
                f"signature by key {keyid[:12]} does not verify"
                if valid is False
                else f"key {keyid[:12]} is missing from the keys table: signature not checked"
            )
            self.problems.append(_problem("bad-signature", detail, seq, rid))
        if not trusted and not bad:
            self.problems.append(
                _problem(
                    "untrusted-signature",
                    "no signature by a signer key that the log trusted at this position",
                    seq,
                    rid,
                )
            )
