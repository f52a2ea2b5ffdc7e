"""Verification of a registry (SPEC §8).

Fast: every checkpoint's signature, the tree recomputed from the stored leaf hashes (its root
against the latest checkpoint, its interior nodes against the stored ones, every earlier
checkpoint and the ``.prov/checkpoint`` witness as prefixes of it).

``--full``: every envelope is decoded, its record re-hashed to its id, checked canonical and
validated, its leaf recomputed, and its signatures checked against the keys the log itself
trusted at that position; links must point backwards; the derived tables are rebuilt from the
envelopes and compared row by row. The per-record work (decoding, hashing and Ed25519, about
100 µs a record) runs in worker processes, one per core (:mod:`registry.service.verify_ranges`); the
main process replays the log in order to decide which keys were trusted when.

``--content``: every stored object is re-hashed, in every store that holds it (objects of
tombstoned records are excused; a configured remote that cannot be reached is a problem).
"""

from __future__ import annotations

import base64
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from provenance import merkle
from provenance.checkpoint import SignedNote
from provenance.errors import ProvenanceError
from provenance.keys import key_id
from registry import db
from registry.db.derive import DerivedTables, key_trusted
from registry.db.merkle_log import node_key
from registry.db.tables import (
    T_CHECKPOINTS,
    T_ENTRIES,
    T_KEYS,
    T_LINKS,
    T_LOCATIONS,
    T_NODES,
    T_RECORDS,
    T_TAGS,
)
from registry.errors import InputError
from registry.service.read import authenticated_keys
from registry.service.verify_content import check_content
from registry.service.verify_ranges import (
    RangeResult,
    TrustReplay,
    check_range,
    check_range_in_worker,
    compare_rows,
    init_worker,
    problem,
)
from registry.service.witness import WitnessError, read_note, read_witness

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["Verifier"]


#: Log entries per unit of work.
_CHUNK = 1000
#: Below this many records the full check runs in-process (a pool costs more than it saves).
_POOL_MIN = 4000


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
                since_text = read_note(Path(since), "checkpoint file")
            except FileNotFoundError:
                raise InputError(f"cannot read checkpoint file {since}: no such file") from None
            except WitnessError as e:
                raise InputError(str(e)) from None
        with db.read_tx(self.reg.engine) as conn:
            size = self._size(conn)
            levels = self._tree(conn, size)
            root = self._root(levels, size)
            keys = authenticated_keys(conn)
            self._checkpoints(conn, levels, size, keys)
            self._witness(levels, size, keys)
            if since_text is not None:
                self._note(
                    since_text, f"checkpoint {since}", "since-inconsistent", levels, size, keys
                )
            if full:
                self._full(conn, size)
            if content:
                self.checked["objects"] = check_content(self.reg, conn, self.problems)
        return {
            "ok": not self.problems,
            "tree_size": size,
            "root": root.hex(),
            "checked": self.checked,
            "problems": self.problems,
        }

    # ---------------------------------------------------------------- the tree

    def _size(self, conn: Connection) -> int:
        """The log's size: one past its last position. Positions running far past the number
        of entries (a position edited to a huge value) are reported at once, and the checks
        cover the entries there are: a five-entry log with a position edited to 10^12 must not
        be walked position by position. A few missing entries are the gap checks' to name."""
        ((count, last),) = db.query(conn, "SELECT count(*), max(seq) FROM log_entries", {})
        count, size = int(count), (-1 if last is None else int(last)) + 1
        if size > count + _CHUNK:
            self.problems.append(
                problem(
                    "log-positions",
                    f"the log's positions run to {size - 1} but it holds {count} entries "
                    "(a position edited?): checked as a log of its entries",
                )
            )
            return count
        return size

    def _tree(self, conn: Connection, size: int) -> list[list[bytes]]:
        """All complete-subtree hashes recomputed from the stored leaves; checks stored nodes."""
        t = T_NODES
        leaves: list[bytes] = []
        stored_interior: dict[int, bytes] = {}
        for node, h in conn.execute(select(t.c.node, t.c.hash).order_by(t.c.node)):
            node = int(node)
            if node >> 40 == 0 and node >= size:
                stored_interior[node] = bytes(h)  # beyond the log: reported as node-extra
            elif node >> 40 == 0:
                if node != len(leaves):
                    self.problems.append(
                        problem(
                            "missing-leaf",
                            f"leaf hashes {len(leaves)}..{node - 1} are missing",
                            len(leaves),
                        )
                    )
                    leaves.extend([b"\0" * 32] * (node - len(leaves)))
                leaves.append(bytes(h))
            else:
                stored_interior[node] = bytes(h)
        if len(leaves) != size:
            self.problems.append(
                problem("leaf-count", f"{len(leaves)} leaf hashes stored for {size} log entries")
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
                        problem(
                            "node-mismatch",
                            f"stored subtree hash level {lv} index {ix} is wrong "
                            "or missing (proofs would not verify)",
                        )
                    )
        for node in stored_interior:
            self.problems.append(
                problem(
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
        kind: str,
        levels: list[list[bytes]],
        size: int,
        keys: Mapping[str, Mapping[str, Any]],
    ) -> SignedNote | None:
        try:
            note = self._verify_note(text, keys)
        except ProvenanceError as e:
            self.problems.append(problem("checkpoint-signature", f"{what}: {e}"))
            return None
        n = note.checkpoint.size
        if n > size:
            self.problems.append(
                problem("log-truncated", f"{what} has {n} leaves but the log has only {size}", size)
            )
        elif n and self._root(levels, n) != note.checkpoint.root:
            self.problems.append(
                problem(kind, f"the log's first {n} leaves do not have the root {what} signed")
            )
        return note

    def _checkpoints(
        self,
        conn: Connection,
        levels: list[list[bytes]],
        size: int,
        keys: Mapping[str, Mapping[str, Any]],
    ) -> None:
        t = T_CHECKPOINTS
        rows = conn.execute(select(t.c.tree_size, t.c.note).order_by(t.c.tree_size)).all()
        for n, text in rows:
            note = self._note(
                text, f"checkpoint {n}", "inconsistent-checkpoint", levels, size, keys
            )
            if note is not None and note.checkpoint.size != n:
                self.problems.append(
                    problem(
                        "checkpoint-size",
                        f"checkpoint row {n} holds a note for size {note.checkpoint.size}",
                    )
                )
        self.checked["checkpoints"] = len(rows)
        self._checkpoint_times(conn)
        latest = int(rows[-1][0]) if rows else 0
        if size > latest:
            self.problems.append(
                problem(
                    "uncheckpointed-leaves",
                    f"leaves {latest}..{size - 1} are in the log but in no signed checkpoint "
                    "(inserted behind the log's back?)",
                    latest,
                )
            )

    def _checkpoint_times(self, conn: Connection) -> None:
        """A checkpoint's time is not signed, so it is checked: never before the last entry it
        covers was logged, never before an earlier checkpoint's."""
        rows = db.query(
            conn,
            "SELECT c.tree_size, c.created_at, e.logged_at FROM checkpoints c "
            "LEFT JOIN log_entries e ON e.seq = c.tree_size - 1 ORDER BY c.tree_size",
            {},
        )
        previous = ""
        for size, created_at, logged_at in rows:
            if (logged_at is not None and created_at < logged_at) or created_at < previous:
                self.problems.append(
                    problem(
                        "checkpoint-time",
                        f"checkpoint {size} is dated {created_at}, before the entries it "
                        "covers or an earlier checkpoint",
                        int(size) - 1,
                    )
                )
            previous = max(previous, created_at)

    def _witness(
        self, levels: list[list[bytes]], size: int, keys: Mapping[str, Mapping[str, Any]]
    ) -> None:
        path = self.reg.prov_dir / "checkpoint"
        try:
            text = read_witness(self.reg.prov_dir)
        except WitnessError as e:
            self.problems.append(problem("witness-unreadable", str(e)))
            return
        if text is None:
            if size:  # every append writes it: deleted, or the database is not this one's
                self.problems.append(
                    problem("witness-missing", f"{path} is missing from a log of {size} entries")
                )
            return
        self._note(text, str(path), "witness-inconsistent", levels, size, keys)

    # ---------------------------------------------------------------- records

    def _full(self, conn: Connection, size: int) -> None:
        k = T_KEYS
        # keyid -> public key from any key row; self-authenticating (keyid = sha256(key)).
        pubkeys = {}
        for keyid, pub in conn.execute(select(k.c.keyid, k.c.public_key)):
            raw = base64.b64decode(pub)
            if key_id(raw) == keyid:
                pubkeys[keyid] = raw
        replay = TrustReplay(self.problems)
        totals = {"records": 0, "links": 0, "tags": 0}
        entries = signatures = 0
        ranges = [(s, min(s + _CHUNK, size)) for s in range(0, size, _CHUNK)]
        for result in self._range_results(conn, ranges, pubkeys):
            self.problems.extend(result.problems)
            replay.apply(result)
            entries += result.entries
            signatures += result.signatures
            for t, n in result.counts.items():
                totals[t] += n
        self.checked["records"] = entries
        self.checked["signatures"] = signatures
        self._stray_rows(conn, totals)
        self._compare_ordered(conn, replay.tables)

    def _range_results(
        self, conn: Connection, ranges: list[tuple[int, int]], pubkeys: Mapping[str, bytes]
    ) -> Iterator[RangeResult]:
        """Check ranges in worker processes (one per core), yielding results in log order."""
        workers = os.cpu_count() or 1
        if len(ranges) * _CHUNK < _POOL_MIN or workers < 2:
            for start, end in ranges:
                yield check_range(conn, start, end, pubkeys)
            return
        url = self.reg.engine.url.render_as_string(hide_password=False)
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, ctx, initializer=init_worker, initargs=(url,)) as pool:
            pending: list[Future[RangeResult]] = []
            for start, end in ranges:
                pending.append(pool.submit(check_range_in_worker, start, end, pubkeys))
                if len(pending) > 4 * workers:
                    yield pending.pop(0).result()
            for f in pending:
                yield f.result()

    def _stray_rows(self, conn: Connection, expected: Mapping[str, int]) -> None:
        """Rows of the order-free tables that belong to no record in the log."""
        e = T_ENTRIES
        logged = select(e.c.record_id)
        for name, table, col in (
            ("records", T_RECORDS, "id"),
            ("links", T_LINKS, "src"),
            ("tags", T_TAGS, "record_id"),
        ):
            have = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if have == expected[name]:
                continue
            strays = (
                conn.execute(select(table.c[col]).where(table.c[col].not_in(logged)).limit(20))
                .scalars()
                .all()
            )
            for rid in strays:
                self.problems.append(
                    problem(
                        "derived-mismatch",
                        f"table {name}: a row for {rid}, which is not a logged record",
                        rid=rid,
                    )
                )
            if not strays:
                self.problems.append(
                    problem(
                        "derived-mismatch",
                        f"table {name} has {have} rows where the records say {expected[name]}",
                    )
                )

    def _compare_ordered(self, conn: Connection, expected: DerivedTables) -> None:
        """The order-dependent tables (keys, locations) against the log's replay."""

        def rows(table: Any) -> list[dict[str, Any]]:
            cols = [c.name for c in table.columns]
            return [dict(zip(cols, r, strict=True)) for r in conn.execute(select(table)).all()]

        def ints(row: dict[str, Any], *cols: str) -> dict[str, Any]:
            for c in cols:
                if row[c] is not None:
                    row[c] = int(row[c])
            return row

        keys = {r["keyid"]: ints(r, "registered_seq", "revoked_seq") for r in rows(T_KEYS)}
        compare_rows(
            self.problems,
            "keys",
            keys,
            expected.keys,
            lambda key: (keys.get(key) or expected.keys.get(key) or {}).get("record_id"),
        )
        locs = {
            (r["record_id"], r["store"], r["uri"]): r | {"present": bool(r["present"])}
            for r in rows(T_LOCATIONS)
        }
        compare_rows(self.problems, "locations", locs, expected.locations, lambda key: key[0])
