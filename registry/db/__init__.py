"""Database engines (SQLite in WAL mode, or PostgreSQL) and the write lock.

Writes that touch the log run in :func:`write_tx`, which holds the database's writer lock for the
whole transaction: ``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL. Appends are therefore serialized across processes and machines, and a writer killed
mid-transaction leaves nothing behind (the database rolls it back).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import SQLModel

from registry.db import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from registry.errors import StorageError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "connect",
    "create_schema",
    "execute_many",
    "fetch_one",
    "is_postgres",
    "migrate",
    "query",
    "query_in",
    "read_tx",
    "redact",
    "rows",
    "schema_version",
    "write_tx",
]

#: pg_advisory_xact_lock key: the ASCII bytes "provlog!" as a signed 64-bit integer.
_PG_LOCK_KEY = int.from_bytes(b"provlog!", "big", signed=True)
_SQLITE_BUSY_TIMEOUT_S = 120


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except Exception:
        return "<database URL>"


def without_password(url: str) -> str:
    """A database URL safe to write into ``.prov/config``: libpq reads the password from
    ``PGPASSWORD`` or ``~/.pgpass`` instead, so no secret lives in the registry directory."""
    from sqlalchemy.engine import make_url

    return make_url(normalize_url(url)).set(password=None).render_as_string(hide_password=False)


def connect(url: str, pool_size: int = 5) -> Engine:
    """An engine for ``url`` (``sqlite:///...`` or ``postgresql://...``) keeping up to
    ``pool_size`` connections open.

    Raises:
        StorageError: the URL names an unsupported database.
    """
    url = normalize_url(url)
    if url.startswith("sqlite:"):
        engine = create_engine(
            url,
            connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=pool_size,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql+psycopg:"):
        return create_engine(url, pool_pre_ping=True, pool_size=pool_size)
    raise StorageError(f"unsupported database URL (use sqlite:/// or postgresql://): {url[:40]}")


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can take the lock up front.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk when it returns (an audit log must survive power loss too).
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("prov_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def create_schema(engine: Engine) -> None:
    """Create the tables (idempotent)."""
    with storage_errors():
        SQLModel.metadata.create_all(engine)


#: The version of the database layout this prov writes (``meta.schema_version``). Registries
#: made before it was recorded are version 0. A change of layout raises it and adds its step to
#: :data:`MIGRATIONS`, and a fixture registry of the old version to tests/fixtures.
SCHEMA_VERSION = 1


def _migrate_0(conn: Connection) -> None:
    """0 → 1: the layout is unchanged; the tables added since (tokens, OpenLineage runs) are
    created by :func:`create_schema`."""


#: version → the step that brings a database of that version to the next one.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {0: _migrate_0}


def schema_version(conn: Connection) -> int:
    """The database's layout version (0 when none is recorded)."""
    found = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    try:
        return int(found) if found is not None else 0
    except ValueError:
        raise StorageError(f"the database's schema version {found!r} is not a number") from None


def migrate(engine: Engine) -> int:
    """Bring the database to :data:`SCHEMA_VERSION` in one transaction under the writer lock
    (nothing when it is there); returns the version it was.

    Raises:
        StorageError: a newer prov wrote it (this one does not know its layout).
    """
    with read_tx(engine) as conn:
        found = schema_version(conn)
    if found == SCHEMA_VERSION:
        return found
    _refuse_newer(found)
    create_schema(engine)
    with write_tx(engine) as conn:
        was = schema_version(conn)  # another process may have migrated it meanwhile
        _refuse_newer(was)
        for version in range(was, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
        conn.execute(text("DELETE FROM meta WHERE key = 'schema_version'"))
        conn.execute(
            text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"),
            {"v": str(SCHEMA_VERSION)},
        )
    return found


def _refuse_newer(found: int) -> None:
    if found > SCHEMA_VERSION:
        raise StorageError(
            f"this registry's database has layout version {found}, written by a newer prov; "
            f"this one knows up to {SCHEMA_VERSION}: upgrade prov"
        )


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn database connection and locking failures into :class:`StorageError` (exit 5)."""
    try:
        yield
    except OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        raise StorageError(f"database unavailable: {reason}") from e
    except DBAPIError as e:
        if e.connection_invalidated:
            raise StorageError("database connection lost") from e
        raise
    except Exception as e:  # the driver's own errors, from the raw cursors of query/fetch_one
        if not _driver_operational(e):
            raise
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StorageError(f"database unavailable: {reason}") from e


def _driver_operational(e: Exception) -> bool:
    import sqlite3
    import sys

    psycopg = sys.modules.get("psycopg")
    return isinstance(e, sqlite3.OperationalError) or (
        psycopg is not None and isinstance(e, psycopg.OperationalError)
    )


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the log's writer lock until it commits or rolls back."""
    with (
        storage_errors(),
        engine.connect().execution_options(prov_write=True) as conn,
        conn.begin(),
    ):
        if is_postgres(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read transaction: one consistent snapshot of the database."""
    opts = {"isolation_level": "REPEATABLE READ"} if is_postgres(engine) else {}
    with storage_errors(), engine.connect().execution_options(**opts) as conn, conn.begin():
        yield conn


@functools.lru_cache(maxsize=256)
def _compiled(dialect: Any, sql: str) -> tuple[str, tuple[str, ...] | None]:
    compiled = text(sql).compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ()) if compiled.positional else None


def _driver_sql(dialect: Any, sql: str, params: dict[str, Any]) -> tuple[str, Any]:
    """``sql`` with ``:name`` parameters in the driver's own paramstyle, and its arguments."""
    statement, order = _compiled(dialect, sql)
    return statement, params if order is None else tuple(params[k] for k in order)


def fetch_one(engine: Engine, sql: str, params: dict[str, Any]) -> Any:
    """The first row of one small read, as the driver's tuple, on a pooled connection without
    an explicit transaction: the cheapest query there is (``prov serve`` checks a bearer
    token on every request this way)."""
    statement, args = _driver_sql(engine.dialect, sql, params)
    with storage_errors():
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(statement, args)
            row = cursor.fetchone()
            cursor.close()
            return row
        finally:
            raw.close()  # back to the pool, which rolls back PostgreSQL's implicit transaction


def query(conn: Connection, sql: str, params: dict[str, Any]) -> Sequence[Any]:
    """A small read's rows as the driver's tuples, in the connection's transaction: no
    statement building or result objects, which cost more than the query itself on the API's
    hot reads."""
    statement, args = _driver_sql(conn.dialect, sql, params)
    cursor = conn.connection.cursor()
    try:
        with storage_errors():
            cursor.execute(statement, args)
            return cursor.fetchall()
    finally:
        cursor.close()


def execute_many(conn: Connection, sql: str, params: list[dict[str, Any]]) -> None:
    """One write statement for each of ``params``, in the connection's transaction, through the
    driver's ``executemany`` (psycopg pipelines it): the append path's inserts, where building
    SQLAlchemy statements cost more than the writes."""
    if not params:
        return
    statement, order = _compiled(conn.dialect, sql)
    args = params if order is None else [tuple(p[k] for k in order) for p in params]
    cursor = conn.connection.cursor()
    try:
        with storage_errors():
            cursor.executemany(statement, args)
    finally:
        cursor.close()


def query_in(conn: Connection, sql: str, values: Iterable[Any], chunk: int = 500) -> list[Any]:
    """:func:`query` of ``sql`` whose ``IN ({})`` takes each of ``values``, in statements of at
    most ``chunk`` parameters (the databases cap a statement's parameters: SQLite at 32,766)."""
    wanted, out = sorted(set(values)), list[Any]()
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        names = [f"v{i}" for i in range(len(part))]
        marks = ", ".join(f":{n}" for n in names)
        out += query(conn, sql.format(marks), dict(zip(names, part, strict=True)))
    return out


def rows(conn: Connection, sql: str, params: dict[str, Any], batch: int = 10_000) -> Iterator[Any]:
    """A large read's rows as the driver's plain tuples, in the connection's transaction, for
    answers of 100,000s of rows, where SQLAlchemy's per-row objects would cost as much as the
    query (lineage impact sets). The client holds one batch at a time, and the query is still
    one round trip: on PostgreSQL a chunked stream (libpq 17+; row by row before), on SQLite
    ``fetchmany``."""
    statement, args = _driver_sql(conn.dialect, sql, params)
    cursor = conn.connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            from psycopg import pq

            yield from cursor.stream(statement, args, size=batch if pq.version() >= 170000 else 1)
            return
        cursor.execute(statement, args)
        while chunk := cursor.fetchmany(batch):
            yield from chunk
    finally:
        cursor.close()
