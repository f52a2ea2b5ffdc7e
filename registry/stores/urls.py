"""Remote URLs: which store a URL names (a path, ``s3://``, ``lakefs://``, ``dvc://``,
``dvc+URL``), the check ``prov remote add`` makes, and opening the store (its client library
imported only then, so ``prov --help`` stays fast)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from registry.errors import InputError
from registry.stores.base import LOCAL, Store

__all__ = ["OPTIONS", "check_remote", "open_store"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Store options ``prov remote add`` accepts (credentials never go in the config).
OPTIONS = {"endpoint_url", "lock_mode", "region"}
_LAKEFS_REPO = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
_LAKEFS_BRANCH = re.compile(r"\w[-\w]*", re.ASCII)


def check_remote(name: str, url: str, options: Mapping[str, str]) -> None:
    """Refuse a remote ``prov remote add`` cannot use, with one clear line.

    Raises:
        InputError: a bad name, an unknown scheme or option, a malformed URL.
    """
    if not _NAME.fullmatch(name) or name == LOCAL:
        raise InputError(
            f"bad remote name {name!r}: letters, digits, '.', '_' and '-' "
            f"(and not {LOCAL!r}, the registry's own store)"
        )
    unknown = set(options) - OPTIONS
    if unknown:
        raise InputError(
            f"unknown remote option {sorted(unknown)[0]!r} (known: {', '.join(sorted(OPTIONS))})"
        )
    if options.get("lock_mode", "compliance") not in ("compliance", "governance"):
        raise InputError("lock_mode is compliance or governance")
    _parse(url)


def _parse(url: str) -> tuple[str, str, str]:
    """(kind, first part, rest) of a remote URL."""
    if not url:
        raise InputError("a remote needs a URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and url[1:3] in (":\\", ":/")):
        path = parts.path if scheme == "file" else url
        return "local", path, ""
    if scheme == "s3":
        if not parts.netloc:
            raise InputError(f"{url}: an S3 remote is s3://BUCKET[/PREFIX]")
        return "s3", parts.netloc, parts.path.strip("/")
    if scheme == "lakefs":
        repo, branch = parts.netloc, parts.path.strip("/").partition("/")[0]
        if not _LAKEFS_REPO.fullmatch(repo) or not _LAKEFS_BRANCH.fullmatch(branch):
            raise InputError(
                f"{url}: a lakeFS remote is lakefs://REPOSITORY/BRANCH[/PREFIX] "
                "(a repository of 3-63 lowercase letters, digits and '-'; a branch of letters, "
                "digits, '_' and '-')"
            )
        return "lakefs", repo, parts.path.strip("/")
    if scheme == "dvc":
        if not parts.netloc:
            raise InputError(f"{url}: a DVC remote is dvc://REMOTE_NAME (of the DVC project)")
        return "dvc", parts.netloc, ""
    if scheme.startswith("dvc+"):
        return "dvc", "", url[len("dvc+") :]
    raise InputError(
        f"unknown remote scheme {scheme!r} in {url} (a path, s3://, lakefs://, dvc://NAME "
        "or dvc+URL for any URL DVC understands)"
    )


def open_store(name: str, url: str, options: Mapping[str, str], base: Path) -> Store:
    """The store a remote's URL names (``base`` resolves relative local paths and finds the
    enclosing DVC project).

    Raises:
        InputError: an unknown scheme or a malformed URL.
        StorageError: the client library for the store is not installed.
    """
    kind, first, rest = _parse(url)
    if kind == "local":
        from registry.stores.local import LocalStore

        return LocalStore(name, (base / first).absolute())
    if kind == "s3":
        from registry.stores.s3 import S3Store

        return S3Store(name, url, first, rest, options)
    if kind == "lakefs":
        from registry.stores.lakefs import LakeFSStore

        return LakeFSStore(name, url, first, rest, options)
    from registry.stores.dvc import DVCStore

    return DVCStore(name, url, first or None, rest or None, base)
