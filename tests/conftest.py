"""Shared fixtures: registries on SQLite (and PostgreSQL when PROV_TEST_DATABASE_URL is set),
and ``prov``, the command line run in a fresh project directory. Helpers are in tests/helpers.py.

The registry is imported inside fixtures only: the core's tests must load without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import Result, run_prov, run_prov_process

if TYPE_CHECKING:
    from registry.service import Registry

PG_URL = os.environ.get("PROV_TEST_DATABASE_URL")

Prov = Callable[..., Result]


@pytest.fixture
def prov(tmp_path) -> Prov:
    """``prov(*args)`` runs the CLI in this process in a fresh project directory (tmp_path)."""

    def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
        return run_prov(*args, cwd=cwd or tmp_path, env=env)

    return _run


@pytest.fixture
def prov_process(tmp_path) -> Prov:
    """As ``prov``, but the real command in a subprocess (start-up, signals, tracebacks)."""

    def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
        return run_prov_process(*args, cwd=cwd or tmp_path, env=env)

    return _run


@pytest.fixture
def reg(tmp_path, monkeypatch) -> Iterator[Registry]:
    from registry.service import Registry

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
