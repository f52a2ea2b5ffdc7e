"""Shared fixtures: registries on SQLite (and PostgreSQL when PROV_TEST_DATABASE_URL is set),
and a runner for the real ``prov`` command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.service import Registry

PG_URL = os.environ.get("PROV_TEST_DATABASE_URL")


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.out[:2000]}\nstderr: {self.err[:2000]}>"


def run_prov(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> Result:
    """Run the real CLI (``python -m registry.cli.main``) in ``cwd``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "registry.cli.main", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc)


@pytest.fixture
def prov(tmp_path):
    """``prov(*args)`` runs the CLI in a fresh project directory (tmp_path)."""

    def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
        return run_prov(*args, cwd=cwd or tmp_path, env=env)

    return _run


@pytest.fixture
def reg(tmp_path, monkeypatch) -> Iterator[Registry]:
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    monkeypatch.delenv("PROV_KEY_PASSPHRASE", raising=False)
    r = Registry.init(tmp_path)
    yield r
    r.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not PG_URL:
        pytest.skip("PROV_TEST_DATABASE_URL is not set")
    import psycopg

    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"prov_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def drop_local_objects(reg: Registry) -> None:
    """Delete every object from the registry's own store behind its back (bytes lost)."""
    for obj in (reg.prov_dir / "objects" / "sha256").rglob("*"):
        if obj.is_file():
            obj.chmod(0o644)
            obj.unlink()


def age(path: Path, seconds: int = 60) -> Path:
    """Set a file's mtime into the past, so the digest cache may trust it (racy-git rule)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))
    return path


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (a real repository), returning its stdout."""
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def git_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A git repository at ``path`` with ``files`` committed (and .prov ignored)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in {".gitignore": ".prov/\n", **(files or {"train.py": "print(1)\n"})}.items():
        write(path / name, text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return path
