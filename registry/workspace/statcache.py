"""The digest cache: which digests a file had when it last had this inode, size and mtime.

It is a fact about this machine's files, so it lives beside the registry directory in
``.prov/cache/files.db`` (SQLite through the standard library), never in the registry database,
which on PostgreSQL is shared by many machines: there a file copied with ``rsync -a`` (same size
and mtime) that happened to get the same inode number would borrow another machine's digest. It
is a cache, not evidence: deleting it costs one re-read of each file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["StatCache"]

_COLUMNS = ("path", "inode", "size", "mtime_ns", "hashed_at_ns", "sha256", "md5")
_SCHEMA = f"""CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, inode INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, hashed_at_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,
    md5 TEXT NOT NULL) -- {",".join(_COLUMNS)}"""


class StatCache:
    """Cached digests by absolute path."""

    def __init__(self, prov_dir: Path) -> None:
        self.path = prov_dir / "cache" / "files.db"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            yield conn
        finally:
            conn.close()

    def load(self, target: Path) -> dict[str, dict[str, Any]]:
        """Entries for a file, or for every file under a directory."""
        key = str(target.absolute())
        try:
            with self._connect() as conn:
                if target.is_dir():
                    prefix = key.rstrip("/") + "/"
                    rows = conn.execute(
                        "SELECT * FROM files WHERE path >= ? AND path < ?",
                        (prefix, prefix[:-1] + "0"),
                    )
                else:
                    rows = conn.execute("SELECT * FROM files WHERE path = ?", (key,))
                return {r[0]: dict(zip(_COLUMNS, r, strict=True)) for r in rows}
        except sqlite3.Error:
            return {}  # an unreadable cache only means reading the files again

    def save(self, entries: Iterable[Mapping[str, Any]]) -> None:
        rows = [tuple(e[c] for c in _COLUMNS) for e in entries]
        if not rows:
            return
        with contextlib.suppress(sqlite3.Error), self._connect() as conn:
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT OR REPLACE INTO files VALUES ({','.join('?' * len(_COLUMNS))})", rows
            )
            conn.execute("COMMIT")
