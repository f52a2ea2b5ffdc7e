"""A pytest plugin that makes the database, web and store packages (and the registry above the
core) impossible to import, as if they were not installed: ``make test`` runs the core's tests
(tests/provenance, tests/retention) under it, so the pure core stays installable alone.

    python -m pytest -p tests.support.no_database tests/provenance tests/retention
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

#: What the core must not need: the database layer, the web stack, store clients, the UI, and
#: everything above the core in this project.
ABSENT = frozenset(
    {
        "sqlalchemy",
        "sqlmodel",
        "psycopg",
        "psycopg2",
        "fastapi",
        "starlette",
        "uvicorn",
        "httpx",
        "pyarrow",
        "boto3",
        "botocore",
        "dvc",
        "dvc_data",
        "dvc_objects",
        "lakefs",
        "lakefs_sdk",
        "textual",
        "registry",
        "tui",
    }
)


class _Absent:
    """A meta path finder that answers "not installed" for :data:`ABSENT` packages."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.partition(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r} (absent for the core)", name=name)
        return None


already = sorted(m for m in sys.modules if m.partition(".")[0] in ABSENT)
if already:  # a plugin loaded one before us: the check would prove nothing
    raise RuntimeError(f"loaded before tests.support.no_database: {', '.join(already[:5])}")
sys.meta_path.insert(0, _Absent())
