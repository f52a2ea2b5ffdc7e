"""Opening a registry, and creating one (``prov init``): config, database, keys, genesis.

Functions take the :class:`~registry.service.Registry` class to build (``Registry.open`` and
``Registry.init`` pass theirs), so this module never imports the service above it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, inspect, select

from provenance.checkpoint import check_key_name
from provenance.errors import ProvenanceError
from provenance.keys import Signer
from registry import db
from registry.capture.identity import who
from registry.config import PROV_DIR, Config, find_registry
from registry.db.tables import T_META
from registry.errors import InputError, StorageError
from registry.keystore import KeyStore
from registry.service.writer import Plan, key_record, new_record
from retention.presets import PRESETS, preset_attributes

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["GITIGNORE", "init_registry", "open_registry", "resolve_database_url"]

#: ``.prov/.gitignore``: nothing of a registry goes into git (``git add -A`` in a project would
#: otherwise commit its private keys, database and stored bytes). A clone holds no registry.
GITIGNORE = """# Written by prov init: keys, the database and stored bytes never go into git.
*
"""


def resolve_database_url(prov_dir: Path, configured: str | None) -> str:
    """The registry's database: ``PROV_DATABASE_URL``, else the config's, else SQLite."""
    return (
        os.environ.get("PROV_DATABASE_URL") or configured or f"sqlite:///{prov_dir / 'registry.db'}"
    )


def open_registry(
    cls: type[Registry], path: str | os.PathLike[str] | None, pool_size: int
) -> Registry:
    """:meth:`Registry.open <registry.service.Registry.open>`."""
    prov_dir = find_registry(path)
    config = Config.load(prov_dir)
    url = resolve_database_url(prov_dir, config.database_url)
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
    try:
        db.migrate(engine)  # an older prov's registry opens, migrated; a newer one is refused
    except BaseException:
        engine.dispose()
        raise
    return reg


def init_registry(
    cls: type[Registry],
    directory: str | os.PathLike[str],
    origin: str | None,
    retention: str | None,
    database_url: str | None,
) -> Registry:
    """:meth:`Registry.init <registry.service.Registry.init>`."""
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
        # Only its owner may enter: it holds private keys, the database and every stored byte.
        prov_dir.mkdir(mode=0o700, exist_ok=True)
        if created:
            os.chmod(prov_dir, 0o700)  # whatever the umask
        (prov_dir / "objects").mkdir(exist_ok=True)
        (prov_dir / ".gitignore").write_text(GITIGNORE)
    except OSError as e:
        raise InputError(f"cannot create {prov_dir}: {e.strerror}") from None
    try:
        return _create(cls, prov_dir, reg_uuid, origin, retention, database_url)
    except BaseException:
        if created:  # leave nothing half made: the config, written last, marks a registry
            shutil.rmtree(prov_dir, ignore_errors=True)
        raise


def _create(
    cls: type[Registry],
    prov_dir: Path,
    reg_uuid: str,
    origin: str,
    retention: str | None,
    configured: str | None,
) -> Registry:
    url = resolve_database_url(prov_dir, configured)
    engine = db.connect(url)
    db.create_schema(engine)
    with db.write_tx(engine) as conn:
        if conn.execute(select(T_META.c.value).where(T_META.c.key == "uuid")).scalar():
            raise InputError(f"the database at {db.redact(url)} already holds a registry")
        conn.execute(
            insert(T_META),
            [
                {"key": "uuid", "value": reg_uuid},
                {"key": "schema_version", "value": str(db.SCHEMA_VERSION)},
            ],
        )
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
    reg.writer.signers.update({signer.keyid: signer, log_key.keyid: log_key})
    owner = who()
    genesis: list[dict[str, Any]] = [
        key_record(signer, "signer", owner),
        key_record(log_key, "log", owner),
    ]
    if retention:
        genesis.append(new_record("policy", retention, attributes=preset_attributes(retention)))
    reg.writer.append(lambda conn: Plan(list(genesis)), trust_check=False)
    config.save(prov_dir)
    return reg
