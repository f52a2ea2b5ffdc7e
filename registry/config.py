"""The registry directory: finding ``.prov/`` like git finds ``.git``, and ``.prov/config``.

``.prov/config`` is INI, like ``.git/config`` and ``.dvc/config``::

    [registry]
    uuid = 3f2c...
    origin = prov/3f2c...
    database_url = postgresql+psycopg://...   (optional; PROV_DATABASE_URL overrides)

    [keys]
    signer = <keyid>
    log = <keyid>

    [core]
    remote = backup                             (the default remote of push/pull; optional)

    [remote "backup"]                           (prov remote add; docs/storage.md)
    url = s3://bucket/prefix
    endpoint_url = http://127.0.0.1:8333        (store options, never credentials)
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path

from registry.errors import ConfigError

__all__ = ["PROV_DIR", "Config", "find_registry"]

PROV_DIR = ".prov"


def find_registry(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """The ``.prov`` directory: ``explicit``, else ``$PROV_REGISTRY``, else the nearest upward.

    ``explicit`` may name the ``.prov`` directory itself or the directory that holds it.

    Raises:
        ConfigError: none found.
    """
    given = explicit or os.environ.get("PROV_REGISTRY")
    if given:
        p = Path(given).expanduser().absolute()
        for candidate in (p, p / PROV_DIR):
            if (candidate / "config").is_file():
                return candidate
        raise ConfigError(f"no registry at {p}: run `prov init` there or fix --registry")
    here = (cwd or Path.cwd()).absolute()
    for d in (here, *here.parents):
        if (d / PROV_DIR / "config").is_file():
            return d / PROV_DIR
    raise ConfigError("no registry here: run `prov init` or pass --registry")


#: The default cap on a record's canonical bytes.
MAX_RECORD_BYTES = 1 << 20


@dataclass
class Config:
    """The parsed ``.prov/config``."""

    uuid: str
    origin: str
    signer: str
    log_key: str
    database_url: str | None = None
    #: Remote name -> its options (``url`` and store options such as ``endpoint_url``).
    remotes: dict[str, dict[str, str]] = field(default_factory=dict)
    default_remote: str | None = None
    #: A record's canonical bytes may not pass this (SPEC §2: 1 MiB unless configured).
    max_record_bytes: int = MAX_RECORD_BYTES

    @classmethod
    def load(cls, prov_dir: Path) -> Config:
        """Read and check ``prov_dir/config``.

        Raises:
            ConfigError: unreadable, not INI, or a required entry is missing.
        """
        path = prov_dir / "config"
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with path.open(encoding="utf-8") as f:
                parser.read_file(f)
            return cls(
                uuid=parser.get("registry", "uuid"),
                origin=parser.get("registry", "origin"),
                signer=parser.get("keys", "signer"),
                log_key=parser.get("keys", "log"),
                database_url=parser.get("registry", "database_url", fallback=None),
                remotes={
                    section[len('remote "') : -1]: dict(parser[section])
                    for section in parser.sections()
                    if section.startswith('remote "') and section.endswith('"')
                },
                default_remote=parser.get("core", "remote", fallback=None),
                max_record_bytes=parser.getint(
                    "registry", "max_record_bytes", fallback=MAX_RECORD_BYTES
                ),
            )
        except (configparser.Error, UnicodeDecodeError, ValueError) as e:
            reason = str(e).splitlines()[0]
            raise ConfigError(f"{path} is corrupt ({reason}): restore it from a backup") from None
        except OSError as e:
            raise ConfigError(f"cannot read {path}: {e.strerror}") from None

    def save(self, prov_dir: Path) -> None:
        """Write ``prov_dir/config`` atomically."""
        parser = configparser.ConfigParser(interpolation=None)
        parser["registry"] = {"uuid": self.uuid, "origin": self.origin}
        if self.database_url:
            parser["registry"]["database_url"] = self.database_url
        if self.max_record_bytes != MAX_RECORD_BYTES:
            parser["registry"]["max_record_bytes"] = str(self.max_record_bytes)
        parser["keys"] = {"signer": self.signer, "log": self.log_key}
        if self.default_remote:
            parser["core"] = {"remote": self.default_remote}
        for name, options in sorted(self.remotes.items()):
            parser[f'remote "{name}"'] = options
        tmp = prov_dir / "config.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            parser.write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, prov_dir / "config")
