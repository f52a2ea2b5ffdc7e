"""The database schema (SQLModel tables, same on SQLite and PostgreSQL).

``log_entries`` holds the source of truth: each record's DSSE envelope bytes with its sequence
number and log time. Everything else is derived from it and can be rebuilt: the Merkle nodes,
checkpoints (signed by the log key, so not forgeable), and the query tables (records, links,
tags, keys, locations), which ``prov verify --full`` checks against the envelopes.
``tokens`` is the one table that is neither the log nor derived from it: API tokens are access
control, not provenance, so ``prov rebuild`` leaves it alone and the log never holds a secret.
The digest cache of files (by inode, size and mtime) is machine-local and lives outside this
database (:mod:`registry.workspace.statcache`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table
from sqlmodel import Field, SQLModel

__all__ = [
    "T_CHECKPOINTS",
    "T_ENTRIES",
    "T_KEYS",
    "T_LINKS",
    "T_LOCATIONS",
    "T_META",
    "T_NODES",
    "T_OPENLINEAGE",
    "T_RECORDS",
    "T_TAGS",
    "T_TOKENS",
    "CheckpointRow",
    "KeyRow",
    "LinkRow",
    "LocationRow",
    "LogEntry",
    "LogNode",
    "Meta",
    "OpenLineageRun",
    "RecordRow",
    "TagRow",
    "TokenRow",
]


#: 64-bit integers; on SQLite a single-column integer primary key declared exactly ``INTEGER``
#: is the rowid itself, so the table is stored in that order and a lookup is one b-tree probe.
_BIG = BigInteger().with_variant(Integer, "sqlite")


def _big(primary_key: bool = False, nullable: bool | None = None) -> Column[int]:
    if nullable is None:
        return Column(_BIG, primary_key=primary_key, autoincrement=False)
    return Column(_BIG, primary_key=primary_key, autoincrement=False, nullable=nullable)


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class LogEntry(SQLModel, table=True):
    __tablename__ = "log_entries"
    seq: int = Field(sa_column=_big(primary_key=True))
    record_id: str = Field(sa_column=Column(String(71), nullable=False, unique=True))
    envelope: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    logged_at: str


class LogNode(SQLModel, table=True):
    """Hash of the complete subtree of 2**level leaves at ``index``; node = level << 40 | index."""

    __tablename__ = "log_nodes"
    node: int = Field(sa_column=_big(primary_key=True))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CheckpointRow(SQLModel, table=True):
    __tablename__ = "checkpoints"
    tree_size: int = Field(sa_column=_big(primary_key=True))
    note: str
    created_at: str


class RecordRow(SQLModel, table=True):
    """Keyed by log position, so lineage, which walks positions, reads records in place."""

    __tablename__ = "records"
    __table_args__ = (Index("ix_records_name_seq", "name", "seq"),)
    seq: int = Field(sa_column=_big(primary_key=True))
    id: str = Field(sa_column=Column(String, unique=True, nullable=False))
    kind: str = Field(index=True)
    name: str
    created_at: str
    created_by: str | None = None
    sha256: str | None = Field(default=None, index=True)
    md5: str | None = Field(default=None, index=True)
    size: int | None = Field(default=None, sa_column=_big(nullable=True))


class LinkRow(SQLModel, table=True):
    """A link, by record id and by log position: lineage walks the integer columns through two
    covering indexes (up from a record, down to it), never the 71-character ids."""

    __tablename__ = "links"
    __table_args__ = (
        Index("ix_links_up", "src_seq", "rel", "dst_seq"),
        Index("ix_links_down", "dst_seq", "rel", "src_seq"),
    )
    src: str = Field(primary_key=True)
    rel: str = Field(primary_key=True)
    dst: str = Field(primary_key=True)
    src_seq: int = Field(sa_column=_big(nullable=False))
    dst_seq: int = Field(sa_column=_big(nullable=False))  # -1: the target is not logged


class TagRow(SQLModel, table=True):
    __tablename__ = "tags"
    record_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    value: str


class KeyRow(SQLModel, table=True):
    __tablename__ = "keys"
    keyid: str = Field(primary_key=True)
    record_id: str = Field(unique=True)
    role: str
    owner: str
    public_key: str
    registered_seq: int = Field(sa_column=_big(nullable=False))
    revoked_seq: int | None = Field(default=None, sa_column=_big(nullable=True))


class LocationRow(SQLModel, table=True):
    __tablename__ = "locations"
    record_id: str = Field(primary_key=True)
    store: str = Field(primary_key=True)
    uri: str = Field(primary_key=True)
    version: str | None = None
    present: bool
    attestation_id: str


class TokenRow(SQLModel, table=True):
    """An API token: only the SHA-256 of the secret is kept, never the secret."""

    __tablename__ = "tokens"
    id: str = Field(primary_key=True)  # the first 16 hex digits of the hash, for list/revoke
    name: str = Field(index=True)
    role: str
    hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: str
    created_by: str
    revoked_at: str | None = None


class OpenLineageRun(SQLModel, table=True):
    """An OpenLineage run between its START and its COMPLETE/FAIL/ABORT event: the events
    merged so far (JSON), then the id of the ``run`` record they became. Not part of the log:
    the record is, once the run ends."""

    __tablename__ = "openlineage_runs"
    run_id: str = Field(primary_key=True)
    state: str
    record_id: str | None = None
    updated_at: str


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


#: The tables as SQLAlchemy Core sees them (queries are written against these).
T_META = _table(Meta)
T_ENTRIES = _table(LogEntry)
T_NODES = _table(LogNode)
T_CHECKPOINTS = _table(CheckpointRow)
T_RECORDS = _table(RecordRow)
T_LINKS = _table(LinkRow)
T_TAGS = _table(TagRow)
T_KEYS = _table(KeyRow)
T_LOCATIONS = _table(LocationRow)
T_TOKENS = _table(TokenRow)
T_OPENLINEAGE = _table(OpenLineageRun)
