"""Helpers the tests share (fixtures live in the conftest files).

``run_prov`` runs the ``prov`` command in this process, as dvc's tests call ``main([...])``: the
same entry point, exit codes and output as the console script, without a Python start-up per
call. ``run_prov_process`` runs the real command in a subprocess, for what only a process
shows: start-up imports, signals, kill -9, tracebacks.

Nothing here imports the registry at module level, so the core's tests (tests/provenance,
tests/retention) load without the database packages.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from registry.api.app import Settings
    from registry.service import Registry


class Result:
    """What a ``prov`` command did: its exit code, stdout and stderr."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.out[:2000]}\nstderr: {self.err[:2000]}>"


@contextlib.contextmanager
def _as_a_command(
    cwd: Path, env: dict[str, str] | None
) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """This process as a fresh ``prov`` would see it, for one call: ``cwd``, the environment
    without PROV_* variables (then ``env``), an empty stdin, captured stdout and stderr."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    try:
        for key in [k for k in os.environ if k.startswith("PROV_")]:
            del os.environ[key]
        os.environ.update(env or {})
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(), out, err
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_prov(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    """Run ``prov ARGS`` in this process (``registry.cli.main.run``) in ``cwd``."""
    from registry.cli.main import run

    with _as_a_command(cwd, env) as (out, err):
        code = run(list(args))
    return Result(code, out.getvalue(), err.getvalue())


def run_prov_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> Result:
    """Run the real CLI (``python -m registry.cli.main``) in a subprocess in ``cwd``."""
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
    return Result(proc.returncode, proc.stdout, proc.stderr)


def state(project: Path) -> tuple[int, list[str]]:
    """What a failed command must leave untouched in a project's SQLite registry: the log's
    size and the stored objects."""
    import sqlite3

    with sqlite3.connect(project / ".prov" / "registry.db") as conn:
        (n,) = conn.execute("SELECT count(*) FROM log_entries").fetchone()
    objects = sorted(p.name for p in (project / ".prov" / "objects").rglob("*") if p.is_file())
    return n, objects


def one_line_error(r: Result, code: int) -> str:
    """Assert ``r`` failed as SPEC §5 says (exit ``code``, one line on stderr, nothing on
    stdout, no traceback); returns the line."""
    assert r.code == code, r
    assert r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prov: error: "), r.err
    assert "Traceback" not in r.err
    return lines[0]


def write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` at ``path``, making its directory; returns the path."""
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


# ---------------------------------------------------------------------------- a live prov serve

#: The API's token roles, one token each in the ``live`` fixture.
ROLES = ("reader", "writer", "auditor", "admin")


@dataclass
class Live:
    """A running ``prov serve``: its URL, the registry it serves, a token per role."""

    url: str
    reg: Registry
    tokens: dict[str, str]

    def client(self, role: str | None = "writer") -> httpx.Client:
        import httpx

        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def run_app(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on a free loopback port; yields the URL."""
    from registry.api.app import create_app
    from tests.support.asgi import serve

    with serve(create_app(settings)) as url:
        yield url


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_serve(
    prov_dir: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start the real ``prov serve`` on a free port; returns (process, base URL)."""
    import httpx

    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry.cli.main",
            "--registry",
            str(prov_dir),
            "serve",
            "--port",
            str(port),
            *args,
        ],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prov serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("prov serve did not answer /v1/health")
