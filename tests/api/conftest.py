"""A live ``prov serve`` for API tests: uvicorn on an ephemeral loopback port, real HTTP.

``live`` runs the app in this process (one worker, on a thread), on a registry over SQLite
and, when ``PROV_TEST_DATABASE_URL`` is set, over PostgreSQL, with one token per role.
``tests.helpers.spawn_serve`` runs the real ``prov serve`` command (for several workers).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry.api.app import Settings
from registry.service import Registry
from tests.helpers import ROLES, Live, run_app


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
