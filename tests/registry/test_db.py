"""The raw-driver read helpers report a broken database as StorageError (exit 5, HTTP 503),
as the SQLAlchemy paths do, never as a bare driver exception."""

from __future__ import annotations

import pytest

from registry import db
from registry.errors import StorageError


def test_raw_reads_turn_driver_errors_into_storage_errors(reg):
    with pytest.raises(StorageError, match="no such table"):
        db.fetch_one(reg.engine, "SELECT id FROM no_such_table WHERE id = :i", {"i": 1})
    with db.read_tx(reg.engine) as conn, pytest.raises(StorageError, match="no such table"):
        db.query(conn, "SELECT seq FROM no_such_table", {})
    assert db.fetch_one(reg.engine, "SELECT COUNT(*) FROM log_entries", {}) == (3,)
