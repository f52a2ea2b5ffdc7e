"""Many writers through the API at once: one linear log, each record once (issue 4)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from registry.service import Registry
from tests.helpers import run_prov, spawn_serve

WRITER = """
import hashlib, sys, httpx
base, token, who = sys.argv[1], sys.argv[2], sys.argv[3]
with httpx.Client(base_url=base, headers={"Authorization": "Bearer " + token}, timeout=120) as c:
    for i in range(250):
        data = f"{who}-{i}".encode()
        digest = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
        body = {"record": {"kind": "dataset", "name": f"{who}/{i}",
                           "subject": {"digest": digest, "size": len(data)}}}
        r = c.post("/v1/records", json=body)
        assert r.status_code == 201, r.text
        print(r.json()["id"])
"""


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "workers"), [("sqlite", 1), ("postgresql", 2)])
def test_eight_writers_make_one_log(tmp_path, request, monkeypatch, backend, workers):
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    reg = Registry.init(tmp_path, database_url=url)
    token = reg.create_token("pipelines", "writer")[0]
    genesis = len(reg.log())
    proc, base = spawn_serve(reg.prov_dir, "--workers", str(workers))
    try:
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, base, token, f"w{n}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(8)
        ]
        ids = []
        for w in writers:
            out, err = w.communicate(timeout=600)
            assert w.returncode == 0, err
            ids += out.split()
    finally:
        proc.terminate()
        proc.wait(60)
    assert len(ids) == len(set(ids)) == 2000
    log = reg.log()
    assert len(log) == genesis + 2000
    assert sorted(r["seq"] for r in log) == list(range(genesis + 2000))  # one linear log
    assert {r["id"] for r in log} >= set(ids)
    env = {"PROV_DATABASE_URL": url} if url else None
    verified = run_prov("verify", "--full", "--json", cwd=tmp_path, env=env)
    assert verified.code == 0, verified
    assert verified.json()["ok"] is True
    reg.close()
