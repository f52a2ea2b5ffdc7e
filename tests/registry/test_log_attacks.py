"""The log and its witness under attack (issue 15, items 7, 16, 17): a database rolled back
behind prov's back is never written on, a witness that is no file hangs nothing, and a write
that was logged is never reported as failed. Each test failed on the code before the fix."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import one_line_error, run_prov, write


@pytest.fixture
def project(tmp_path) -> Path:
    assert run_prov("init", cwd=tmp_path).code == 0
    return tmp_path


def _add(project: Path, name: str) -> str:
    r = run_prov("add", str(write(project / name, name)), "--json", cwd=project)
    assert r.code == 0, r
    return r.json()["records"][0]["id"]


def _db_files(prov_dir: Path) -> list[Path]:
    return [p for p in prov_dir.iterdir() if p.name.startswith("registry.db")]


def _backup(project: Path) -> Path:
    backup = project / "backup"
    backup.mkdir()
    for f in _db_files(project / ".prov"):
        shutil.copy2(f, backup / f.name)
    return backup


def _restore(project: Path, backup: Path) -> None:
    """An old registry.db copied back over the live one."""
    for f in _db_files(project / ".prov"):
        f.unlink()
    for f in backup.iterdir():
        shutil.copy2(f, project / ".prov" / f.name)


def _size(project: Path) -> int:
    return run_prov("checkpoint", "--json", cwd=project).json()["tree_size"]


def test_a_rolled_back_database_is_not_written_on(project):
    _add(project, "a.csv")
    backup = _backup(project)
    old = _size(project)
    _add(project, "b.csv")
    _add(project, "c.csv")
    witness = (project / ".prov" / "checkpoint").read_text()
    new = _size(project)
    _restore(project, backup)
    line = one_line_error(run_prov("add", str(write(project / "d.csv", "d")), cwd=project), 5)
    assert f"({old} entries)" in line and f"({new} entries)" in line
    assert _size(project) == old  # nothing written
    assert (project / ".prov" / "checkpoint").read_text() == witness  # the evidence stays
    verified = run_prov("verify", "--json", cwd=project)
    assert verified.code == 1
    assert "log-truncated" in {p["problem"] for p in verified.json()["problems"]}


def test_a_diverged_database_as_long_as_the_witness_is_not_written_on(project):
    """The same size, another history: the roots differ."""
    _add(project, "a.csv")
    backup = _backup(project)
    _add(project, "b.csv")
    witness = (project / ".prov" / "checkpoint").read_text()
    _restore(project, backup)
    (project / ".prov" / "checkpoint").unlink()
    _add(project, "other.csv")  # the same size as the witnessed log, another history
    (project / ".prov" / "checkpoint").write_text(witness)
    before = _size(project)
    one_line_error(run_prov("add", str(write(project / "d.csv", "d")), cwd=project), 5)
    assert _size(project) == before


def test_a_deleted_witness_is_reported_and_the_next_write_restores_it(project):
    _add(project, "a.csv")
    (project / ".prov" / "checkpoint").unlink()
    verified = run_prov("verify", "--json", cwd=project)
    assert verified.code == 1
    assert [p["problem"] for p in verified.json()["problems"]] == ["witness-missing"]
    _add(project, "b.csv")
    assert run_prov("verify", cwd=project).code == 0


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "fifo"])
def test_a_witness_that_is_no_file_fails_at_once(project, kind):
    witness = project / ".prov" / "checkpoint"
    witness.unlink()
    if kind == "fifo":
        os.mkfifo(witness)
    else:
        witness.symlink_to("/dev/zero")
    before = _size(project)
    line = one_line_error(run_prov("add", str(write(project / "a.csv", "a")), cwd=project), 5)
    assert "witness" in line
    assert _size(project) == before
    verified = run_prov("verify", "--json", cwd=project)
    assert verified.code == 1
    assert "witness-unreadable" in {p["problem"] for p in verified.json()["problems"]}


def test_a_logged_write_whose_witness_fails_says_it_was_logged(project, monkeypatch):
    import registry.service.writer as writer

    def disk_full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writer, "write_witness", disk_full)
    before = _size(project)
    r = run_prov("add", str(write(project / "a.csv", "a")), cwd=project)
    line = one_line_error(r, 5)
    assert line.startswith("prov: error: logged ") and "No space left" in line
    assert _size(project) == before + 2  # the record and its stored-at attestation
    monkeypatch.undo()
    again = run_prov("add", "a.csv", "--json", cwd=project)  # a retry finds it, adds nothing
    assert again.code == 0 and again.json()["records"][0]["existing"]


def test_a_position_edited_to_a_huge_value_is_reported_at_once(project):
    import sqlite3

    _add(project, "a.csv")
    with sqlite3.connect(project / ".prov" / "registry.db") as conn:
        conn.execute("UPDATE log_entries SET seq = 1000000000000 WHERE seq = 4")
    for flags in ((), ("--full",)):  # once walked every position up to 10^12
        verified = run_prov("verify", "--json", *flags, cwd=project)
        assert verified.code == 1
        assert "log-positions" in {p["problem"] for p in verified.json()["problems"]}


def test_a_checkpoint_dated_before_its_entries_is_reported(project):
    import sqlite3

    _add(project, "a.csv")
    with sqlite3.connect(project / ".prov" / "registry.db") as conn:
        conn.execute("UPDATE checkpoints SET created_at = '2001-01-01T00:00:00.000000Z'")
    verified = run_prov("verify", "--json", cwd=project)
    assert verified.code == 1
    assert "checkpoint-time" in {p["problem"] for p in verified.json()["problems"]}


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_adding_a_fifo_or_a_device_is_refused_at_once(project, kind):
    target = "/dev/zero"
    if kind == "fifo":
        target = str(project / "pipe")
        os.mkfifo(target)
    before = _size(project)
    assert "not a regular file" in one_line_error(run_prov("add", target, cwd=project), 2)
    assert _size(project) == before


def test_a_since_file_that_is_no_file_is_an_input_error(project):
    line = one_line_error(run_prov("verify", "--since", "/dev/zero", cwd=project), 2)
    assert "not a regular file" in line
