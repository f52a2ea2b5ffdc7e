"""Crash safety and concurrency: SIGKILL mid-append leaves a verifiable registry holding every
registration that returned; several processes appending at once make one linear log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from registry.service import Registry

ROOT = Path(__file__).resolve().parents[2]


def spawn(registry: Path, tag: str, count: int, *extra: str, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.registry.writer", str(registry), tag, str(count), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def full_check(registry: Path) -> tuple[dict, list[dict]]:
    with Registry.open(registry) as reg:
        report = reg.verify(full=True, content=True)
        records = reg.log()
    return report, records


@pytest.mark.slow
@pytest.mark.parametrize("files", [False, True], ids=["records", "files"])
def test_sigkill_mid_append_leaves_a_verifiable_registry_with_every_returned_record(
    reg, tmp_path, files
):
    reg.close()
    returned: list[str] = []
    for round_ in range(4):
        proc = spawn(tmp_path, f"w{round_}", 100_000, *(["--files"] if files else []))
        # Let it append continuously, then kill it at a point that varies by round: by then it
        # is inside an append (signing, writing, committing) nearly all the time.
        for _ in range(10 + 7 * round_):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            returned.append(line.strip())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        returned.extend(line.strip() for line in proc.stdout.read().splitlines())
        report, records = full_check(tmp_path)
        assert report["ok"], report["problems"]
        present = {r["id"] for r in records}
        assert set(returned) <= present
    # The registry keeps working: the lock was released with the dead writer.
    done = spawn(tmp_path, "after", 3)
    assert done.wait(timeout=60) == 0, done.stderr.read()


def _run_writers(registry: Path, writers: int, count: int, env=None) -> list[str]:
    procs = [spawn(registry, f"p{i}", count, env=env) for i in range(writers)]
    ids: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        ids.extend(out.split())
    return ids


def _assert_one_linear_log(registry: Path, ids: list[str], expected: int) -> None:
    report, records = full_check(registry)
    assert report["ok"], report["problems"]
    seqs = sorted(r["seq"] for r in records)
    assert seqs == list(range(len(records)))
    names = [r["name"] for r in records if r["kind"] == "dataset"]
    assert len(names) == len(set(names)) == expected
    assert len(set(ids)) == expected and set(ids) <= {r["id"] for r in records}


@pytest.mark.slow
def test_concurrent_writers_on_sqlite_make_one_linear_log(reg, tmp_path):
    reg.close()
    ids = _run_writers(tmp_path, writers=4, count=40)
    _assert_one_linear_log(tmp_path, ids, 160)


@pytest.mark.slow
def test_concurrent_writers_on_postgresql_make_one_linear_log(tmp_path, pg_url, monkeypatch):
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    Registry.init(tmp_path, database_url=pg_url).close()
    ids = _run_writers(tmp_path, writers=4, count=40)
    _assert_one_linear_log(tmp_path, ids, 160)
