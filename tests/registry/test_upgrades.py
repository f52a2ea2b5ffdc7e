"""A registry outlives the prov that wrote it (SPEC §1, issue 15): every registry kept under
tests/fixtures (one per database layout, each made by the prov of its day with
tests/support/fixture_registry.py) opens in this prov, migrated, verifies, and takes new
records; a registry from a newer prov is refused with one clear line."""

from __future__ import annotations

import sqlite3
import tarfile
from pathlib import Path

import pytest

from registry import db
from tests.helpers import one_line_error, run_prov, write

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures").glob("registry-schema-*.tar.gz"))


def _unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def _version(project: Path) -> int:
    with sqlite3.connect(project / ".prov" / "registry.db") as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def test_there_is_a_fixture_for_this_layout():
    assert f"registry-schema-{db.SCHEMA_VERSION}.tar.gz" in {f.name for f in FIXTURES}


@pytest.mark.parametrize("archive", FIXTURES, ids=lambda p: p.name.removesuffix(".tar.gz"))
def test_an_older_registry_opens_migrated_verifies_and_grows(archive, tmp_path):
    project = _unpack(archive, tmp_path)
    verified = run_prov("verify", "--full", "--content", "--json", cwd=project)
    assert verified.code == 0, verified
    assert _version(project) == db.SCHEMA_VERSION
    before = verified.json()["tree_size"]
    model = next(r for r in run_prov("log", "--json", cwd=project).json()["records"]
                 if r["name"] == "model.bin")  # fmt: skip
    lineage = run_prov("lineage", model["id"], "--format", "json", cwd=project).json()
    assert {n["name"] for n in lineage["nodes"]} >= {"model.bin", "train", "data/raw.csv"}
    added = run_prov("add", str(write(project / "data" / "new.csv", "a\n1\n")), cwd=project)
    assert added.code == 0, added
    assert run_prov("add", "data/raw.csv", "--json", cwd=project).json()["records"][0]["existing"]
    after = run_prov("verify", "--full", "--content", "--json", cwd=project)
    assert after.code == 0 and after.json()["tree_size"] > before
    assert [
        t["name"] for t in run_prov("token", "list", "--json", cwd=project).json()["tokens"]
    ] == ["fixture-reader"]


def test_a_registry_from_a_newer_prov_is_refused_with_one_line(tmp_path):
    project = _unpack(FIXTURES[-1], tmp_path)
    assert run_prov("log", cwd=project).code == 0
    with sqlite3.connect(project / ".prov" / "registry.db") as conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(db.SCHEMA_VERSION + 1),)
        )
    line = one_line_error(run_prov("log", cwd=project), 5)
    assert "newer prov" in line and "upgrade prov" in line
