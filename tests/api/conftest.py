"""A live ``prov serve`` for API tests: uvicorn on an ephemeral loopback port, real HTTP.

``server`` runs the app in this process (one worker, on a thread), on a registry over SQLite
and, when ``PROV_TEST_DATABASE_URL`` is set, over PostgreSQL; ``tokens`` holds one token per
role. ``spawn_serve`` runs the real ``prov serve`` command (for several workers).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from registry.api.app import Settings, create_app
from registry.service import Registry
from tests.support.asgi import serve

ROLES = ("reader", "writer", "auditor", "admin")


@dataclass
class Live:
    url: str
    reg: Registry
    tokens: dict[str, str]

    def client(self, role: str | None = "writer") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def run_app(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on a free loopback port; yields the URL."""
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def live(tmp_path, backend, monkeypatch, request) -> Iterator[Live]:
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    monkeypatch.delenv("PROV_KEY_PASSPHRASE", raising=False)
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    reg = Registry.init(tmp_path / "reg", database_url=url)
    tokens = {role: reg.create_token(f"{role}-1", role)[0] for role in ROLES}
    try:
        for base in run_app(Settings(str(reg.prov_dir))):
            yield Live(base, reg, tokens)
    finally:
        reg.close()


def free_port() -> int:
    with _listening_socket() as sock:
        return int(sock.getsockname()[1])


def spawn_serve(prov_dir: Path, *args: str, env: dict[str, str] | None = None):
    """Start the real ``prov serve`` on a free port; returns (process, base URL)."""
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
