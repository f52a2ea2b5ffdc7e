"""The layers point one way: importing the core loads nothing heavy and nothing above it."""

import subprocess
import sys

HEAVY = (
    "sqlmodel",
    "sqlalchemy",
    "fastapi",
    "textual",
    "dvc",
    "lakefs",
    "lakefs_sdk",
    "uvicorn",
    "pyarrow",
    "registry",
    "tui",
)


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {m.split(".")[0] for m in out}


def test_core_and_retention_import_nothing_heavy_or_above_them():
    import pkgutil

    import provenance
    import retention

    modules = [f"provenance.{m.name}" for m in pkgutil.iter_modules(provenance.__path__)]
    modules += [f"retention.{m.name}" for m in pkgutil.iter_modules(retention.__path__)]
    loaded = _loaded_after("\n".join(f"import {m}" for m in modules))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_registry_facade_resolves_lazily():
    loaded = _loaded_after("from provenance import Registry")
    assert "registry" in loaded


def test_cli_startup_does_not_import_the_database_layer():
    loaded = _loaded_after("import registry.cli.main")
    assert not loaded & {"sqlalchemy", "sqlmodel", "pydantic"}
