"""The ``code`` record's attributes, read from git itself (the git CLI).

A ``code`` record names a commit: ``repo`` (the remote URL, credentials stripped), ``commit``
(full SHA), ``branch`` (absent on a detached HEAD), ``dirty`` and, when dirty, ``diff_sha256``:
the SHA-256 of ``git diff HEAD --binary``, so the uncommitted changes a run saw are pinned by
hash even though they are not in any commit. Untracked files that git does not ignore make the
working tree dirty too (a run of a script never committed must not claim a clean commit): the
record lists them (``untracked``, with ``untracked_sha256`` over their paths and sizes); keep
outputs and data in ``.gitignore``, as DVC does, to keep runs clean.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from registry.errors import InputError

__all__ = ["capture_code", "project_of", "strip_credentials", "toplevel"]


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")  # read-only: no index refresh
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, env=env)
    except FileNotFoundError:
        raise InputError("git is not installed (prov code reads the commit with git)") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"git {args[0]} failed in {cwd}: {message[-1] if message else '?'}")
    return proc


def _out(cwd: Path, *args: str) -> str | None:
    proc = _git(cwd, *args, check=False)
    text = proc.stdout.decode(errors="replace").strip()
    return text if proc.returncode == 0 and text else None


def strip_credentials(url: str) -> str:
    """A remote URL without user names, passwords or tokens (``https://tok@host/x`` → host),
    nor a query or fragment (where tokens go too: ``?access_token=…``).

    scp-like SSH addresses (``git@host:org/repo.git``) name an account, not a secret, and stay.
    """
    parts = urlsplit(url)
    if parts.scheme and parts.netloc and (parts.query or parts.fragment):
        parts = parts._replace(query="", fragment="")
        url = urlunsplit(parts)
    if not parts.scheme or not parts.netloc or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    if parts.scheme in ("ssh", "git+ssh"):
        user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
        host = f"{user}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _remote(cwd: Path, branch: str | None) -> str | None:
    names = (_out(cwd, "remote") or "").split()
    if not names:
        return None
    upstream = _out(cwd, "config", f"branch.{branch}.remote") if branch else None
    name = upstream if upstream in names else ("origin" if "origin" in names else names[0])
    url = _out(cwd, "remote", "get-url", name)
    return strip_credentials(url) if url else None


def toplevel(path: Path) -> Path | None:
    """The root of the git working tree holding ``path``, or None."""
    try:
        top = _out(path, "rev-parse", "--show-toplevel")
    except InputError:  # no git at all
        return None
    return Path(top) if top else None


def project_of(project: str | os.PathLike[str] | None) -> Path:
    """Where an environment's lock files are looked for: ``project``, else the git working tree
    of the current directory, else the current directory."""
    if project is not None:
        return Path(project)
    cwd = Path.cwd()
    return toplevel(cwd) or cwd


def capture_code(path: str | os.PathLike[str] = ".") -> tuple[str, dict[str, Any]]:
    """The name and attributes of the commit checked out in the working tree at ``path``.

    The name is ``repo@commit12`` (``+dirty.<diff12>`` when dirty): readable, one per state.

    Raises:
        InputError: ``path`` is not in a git working tree, or it has no commit yet.
    """
    cwd = Path(path)
    if not cwd.is_dir():
        cwd = cwd.parent
    if not cwd.is_dir():
        raise InputError(f"{path}: no such directory")
    if _out(cwd, "rev-parse", "--is-inside-work-tree") != "true":
        raise InputError(f"{Path(path).absolute()} is not in a git working tree")
    commit = _out(cwd, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    if commit is None:
        raise InputError(f"the git repository at {Path(path).absolute()} has no commit yet")
    branch = _out(cwd, "symbolic-ref", "--short", "-q", "HEAD")
    top = _out(cwd, "rev-parse", "--show-toplevel")
    diff = _git(cwd, "diff", "HEAD", "--binary", "--no-ext-diff", "--no-textconv").stdout
    untracked = _untracked(Path(top) if top else cwd)
    attrs: dict[str, Any] = {"commit": commit, "dirty": bool(diff or untracked)}
    remote = _remote(cwd, branch)
    if remote:
        attrs["repo"] = remote
    if branch:
        attrs["branch"] = branch
    if diff:
        attrs["diff_sha256"] = hashlib.sha256(diff).hexdigest()
    if untracked:
        listing = "".join(f"{path}\0{size}\n" for path, size in untracked).encode()
        attrs["untracked"] = [path for path, _ in untracked[:MAX_LISTED]]
        attrs["untracked_count"] = len(untracked)
        attrs["untracked_sha256"] = hashlib.sha256(listing).hexdigest()
    repo = remote or (Path(top).name if top else cwd.absolute().name)
    base = repo.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git") or repo
    name = f"{base}@{commit[:12]}"
    if diff and not untracked:
        name += f"+dirty.{attrs['diff_sha256'][:12]}"
    elif untracked:  # the name tells apart working trees that differ in what is untracked
        state = hashlib.sha256(diff + b"\0" + attrs["untracked_sha256"].encode()).hexdigest()
        name += f"+dirty.{state[:12]}"
    return name, attrs


#: Untracked paths a code record names one by one (their count and hash cover the rest).
MAX_LISTED = 100


def _untracked(top: Path) -> list[tuple[str, int]]:
    """Files git neither tracks nor ignores, with their sizes, sorted; a registry's own files
    (``.prov``) are never among them."""
    out = _git(top, "ls-files", "--others", "--exclude-standard", "-z", check=False).stdout
    found = []
    for raw in out.decode(errors="surrogateescape").split("\0"):
        if not raw or ".prov" in Path(raw).parts:
            continue
        try:
            size = (top / raw).lstat().st_size
        except OSError:
            size = -1
        found.append((raw, size))
    return sorted(found)
