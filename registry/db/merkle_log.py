"""The persistent Merkle log: appends, stored complete-subtree hashes, proofs, checkpoints.

Every complete subtree's hash is stored once, when its last leaf arrives (``log_nodes``, keyed by
``level << 40 | index``). MTH of any range that appears in an RFC 9162 proof is a fold of at most
log2(n) such subtrees, so a proof is one indexed ``IN`` query of O(log n) rows, and an append
costs one read of the right frontier plus the new nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from provenance import merkle
from provenance.logentry import leaf_input
from registry import db

__all__ = ["AppendedLeaf", "MerkleLog", "node_key"]

_INSERT_ENTRY = (
    "INSERT INTO log_entries (seq, record_id, envelope, logged_at) "
    "VALUES (:seq, :record_id, :envelope, :logged_at)"
)
_INSERT_NODE = "INSERT INTO log_nodes (node, hash) VALUES (:node, :hash)"


def node_key(level: int, index: int) -> int:
    return level << 40 | index


@dataclass(frozen=True)
class AppendedLeaf:
    seq: int
    record_id: str
    logged_at: str


class MerkleLog:
    """Log operations on an open connection (the caller owns the transaction)."""

    @staticmethod
    def head(conn: Connection) -> tuple[int, str | None]:
        """The log's size and its last entry's log time (None while empty)."""
        found = db.query(
            conn, "SELECT seq, logged_at FROM log_entries ORDER BY seq DESC LIMIT 1", {}
        )
        return (0, None) if not found else (int(found[0][0]) + 1, str(found[0][1]))

    def size(self, conn: Connection) -> int:
        return self.head(conn)[0]

    @staticmethod
    def nodes(conn: Connection, blocks: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Fetch stored subtree hashes; a missing one is absent from the result."""
        keys = {node_key(lv, ix): (lv, ix) for lv, ix in blocks}
        found = db.query_in(conn, "SELECT node, hash FROM log_nodes WHERE node IN ({})", keys)
        return {keys[int(node)]: bytes(h) for node, h in found}

    def range_hashes(self, conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """MTH of each leaf range, from stored subtrees in one query.

        Raises:
            LookupError: a subtree hash the ranges need is missing from the database.
        """
        decomposed = [merkle.subtree_blocks(s, e) for s, e in ranges]
        wanted = {b for blocks in decomposed for b in blocks}
        found = self.nodes(conn, list(wanted))
        missing = wanted - set(found)
        if missing:
            level, index = min(missing)
            raise LookupError(f"log node level {level} index {index} is missing")
        return [merkle.fold_blocks([found[b] for b in blocks]) for blocks in decomposed]

    def root(self, conn: Connection, size: int) -> bytes:
        """MTH of the first ``size`` leaves."""
        if size == 0:
            return merkle.root_from_leaves([])
        return self.range_hashes(conn, [(0, size)])[0]

    def inclusion(self, conn: Connection, index: int, size: int) -> list[bytes]:
        return self.range_hashes(conn, merkle.inclusion_ranges(index, size))

    def consistency(self, conn: Connection, old: int, new: int) -> list[bytes]:
        return self.range_hashes(conn, merkle.consistency_ranges(old, new))

    def leaf(self, conn: Connection, index: int) -> bytes:
        return self.range_hashes(conn, [(index, index + 1)])[0]

    def append(
        self,
        conn: Connection,
        items: Sequence[tuple[str, bytes]],
        now: str,
        head: tuple[int, str | None] | None = None,
    ) -> tuple[list[AppendedLeaf], int, bytes]:
        """Append ``(record id, envelope bytes)`` pairs; the caller holds the writer lock (and
        may pass the :meth:`head` it read under it).

        ``logged_at`` never goes backwards: a clock stepped back reuses the last log time.

        Returns:
            The appended leaves, the new tree size and the new root.
        """
        size, last = head or self.head(conn)
        logged_at = max(now, last) if last else now
        frontier: list[tuple[int, int, bytes]] = []
        if size:
            blocks = merkle.subtree_blocks(0, size)
            found = self.nodes(conn, blocks)
            frontier = [(lv, ix, found[(lv, ix)]) for lv, ix in blocks]
        entries, nodes, leaves = [], [], []
        for offset, (rid, envelope) in enumerate(items):
            seq = size + offset
            h = merkle.leaf_hash(leaf_input(envelope, rid, logged_at, seq))
            entries.append(
                {"seq": seq, "record_id": rid, "envelope": envelope, "logged_at": logged_at}
            )
            nodes.append({"node": node_key(0, seq), "hash": h})
            frontier.append((0, seq, h))
            while len(frontier) > 1 and frontier[-1][0] == frontier[-2][0]:
                (lv, ix, right), (_, _, left) = frontier.pop(), frontier.pop()
                merged = (lv + 1, ix >> 1, merkle.node_hash(left, right))
                frontier.append(merged)
                nodes.append({"node": node_key(merged[0], merged[1]), "hash": merged[2]})
            leaves.append(AppendedLeaf(seq, rid, logged_at))
        db.execute_many(conn, _INSERT_ENTRY, entries)
        db.execute_many(conn, _INSERT_NODE, nodes)
        new_size = size + len(items)
        root = merkle.fold_blocks([h for _, _, h in frontier]) if frontier else self.root(conn, 0)
        return leaves, new_size, root

    @staticmethod
    def save_checkpoint(conn: Connection, size: int, note: str, now: str) -> None:
        db.execute_many(
            conn,
            "INSERT INTO checkpoints (tree_size, note, created_at) "
            "VALUES (:tree_size, :note, :created_at)",
            [{"tree_size": size, "note": note, "created_at": now}],
        )

    @staticmethod
    def latest_checkpoint(conn: Connection) -> tuple[int, str] | None:
        found = db.query(
            conn, "SELECT tree_size, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1", {}
        )
        return None if not found else (int(found[0][0]), str(found[0][1]))
