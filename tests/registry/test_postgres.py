"""The same registry on PostgreSQL: the CLI end to end, and tampering there is caught too."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers import write


@pytest.fixture
def pg_project(tmp_path, prov, pg_url):
    env = {"PROV_DATABASE_URL": pg_url}
    assert prov("init", ".", env=env).code == 0
    return tmp_path, env, pg_url


def test_cli_end_to_end_on_postgresql(pg_project, prov):
    d, env, _ = pg_project
    write(d / "data" / "a.csv", "a\n1\n")
    write(d / "data" / "sub" / "b.csv", "b\n2\n")
    first = prov("add", "data", "--json", env=env).json()["records"][0]
    assert first["kind"] == "dataset"
    assert prov("add", "data", "--json", env=env).json()["records"][0]["id"] == first["id"]
    assert (
        prov("lookup", f"sha256:{first['sha256']}", "--json", env=env).json()["records"][0]["id"]
        == first["id"]
    )
    r = prov("verify", "--full", "--content", "--json", env=env)
    assert r.code == 0 and r.json()["ok"], r
    # database_url was recorded at init: later commands find it without the variable
    assert prov("log", "--json").code == 0


def test_a_registry_refuses_a_database_that_is_not_its_own(pg_project, prov, tmp_path):
    _, env, _ = pg_project
    other = tmp_path / "other"
    r = prov("init", str(other), env=env)
    assert r.code == 2 and "already holds a registry" in r.err


def test_tampering_on_postgresql_is_caught(pg_project, prov):
    d, env, url = pg_project
    write(d / "a.csv", "a")
    rid = prov("add", "a.csv", "--json", env=env).json()["records"][0]["id"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE records SET name = 'b.csv' WHERE id = %s", (rid,))
        conn.execute(
            "UPDATE log_entries SET logged_at = '2020-01-01T00:00:00.000000Z' WHERE record_id = %s",
            (rid,),
        )
    r = prov("verify", "--full", "--json", env=env)
    assert r.code == 1
    problems = {(p["problem"], p.get("id")) for p in r.json()["problems"]}
    assert ("derived-mismatch", rid) in problems and ("leaf-mismatch", rid) in problems


def test_an_unreachable_database_is_exit_5(tmp_path, prov):
    env = {"PROV_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    r = prov("init", ".", env=env)
    assert r.code == 5 and "database unavailable" in r.err and len(r.err.splitlines()) == 1
    assert not (tmp_path / ".prov").exists()  # nothing half made


def test_capture_runs_diff_and_import_on_postgresql(pg_project, prov):
    import sys

    from tests.helpers import git_repo

    d, _, _ = pg_project
    git_repo(d, {"train.py": "import sys; open('m.onnx', 'w').write(sys.argv[1])\n"})
    write(d / "data.csv", "x\n1\n")
    env1 = prov("env", "--json").json()
    assert prov("env", "--json").json()["id"] == env1["id"]  # deduplicated on PostgreSQL too
    models = []
    for lr in ("0.1", "0.2"):
        r = prov("run", "train", "-i", "data.csv", "-p", f"lr={lr}", "-o", "m.onnx", "--json",
                 "--", sys.executable, "train.py", lr)  # fmt: skip
        assert r.code == 0, r
        models.append(r.json()["outputs"][0]["id"])
    d_json = prov("diff", *models, "--json").json()
    assert d_json["runs"]["params"][0]["key"] == "lr"
    up = prov("lineage", models[1], "--format", "json").json()
    assert {n["kind"] for n in up["nodes"]} == {"model", "run", "dataset", "code", "environment"}
    assert prov("verify", "--full").code == 0
