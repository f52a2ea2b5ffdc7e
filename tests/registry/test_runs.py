"""prov run, reg.run() and prov attest: runs with their inputs, code, environment, outputs."""

from __future__ import annotations

import json
import sys

import pytest

from registry.errors import InputError
from tests.helpers import git_repo, write

PY = sys.executable


def _upstream(prov, rid):
    doc = prov("lineage", rid, "--format", "json").json()
    return {(e["rel"], n["kind"]) for e in doc["edges"] for n in doc["nodes"] if n["id"] == e["to"]}


def test_prov_run_registers_run_inputs_code_environment_and_outputs(tmp_path, prov):
    git_repo(tmp_path, {"train.py": "import sys; open(sys.argv[1], 'w').write('weights')\n"})
    write(tmp_path / "data.csv", "a,b\n1,2\n")
    write(tmp_path / "metrics.json", "{}")
    assert prov("init").code == 0
    r = prov(
        "run", "train", "-i", "data.csv", "-o", "model.onnx", "-p", "lr=0.01", "-p", "opt=adam",
        "-m", "auc=0.91", "-m", "@metrics.json", "--json", "--",
        PY, "-c", "import json; open('model.onnx','w').write('w'); "
        "json.dump({'loss': {'final': 0.2}}, open('metrics.json', 'w'))",
    )  # fmt: skip
    assert r.code == 0, r
    doc = r.json()
    assert doc["run"]["status"] == "succeeded" and doc["exit_code"] == 0
    run = prov("show", doc["run"]["id"], "--json").json()["record"]
    attrs = run["attributes"]
    assert attrs["params"] == {"lr": 0.01, "opt": "adam"}
    assert attrs["metrics"] == {"auc": 0.91, "loss.final": 0.2}  # the file as the command left it
    assert attrs["exit_code"] == 0 and attrs["started_at"] <= attrs["ended_at"]
    assert attrs["command"].startswith(PY)
    rels = {ln["rel"] for ln in run["links"]}
    assert rels == {"used", "code", "environment"}
    [out] = doc["outputs"]
    assert out["kind"] == "model" and out["name"] == "model.onnx"
    assert _upstream(prov, out["id"]) >= {
        ("generated_by", "run"),
        ("used", "dataset"),
        ("code", "code"),
        ("environment", "environment"),
    }


def test_failing_command_is_a_failed_run_and_its_exit_code_passes_through(tmp_path, prov):
    prov("init")
    r = prov("run", "fit", "-o", "out.bin", "--json", "--", PY, "-c",
             "open('out.bin','w').write('partial'); raise SystemExit(3)")  # fmt: skip
    assert r.code == 3, r
    doc = r.json()
    assert doc["run"]["status"] == "failed" and doc["outputs"] == []
    attrs = prov("show", doc["run"]["id"], "--json").json()["record"]["attributes"]
    assert (attrs["status"], attrs["exit_code"], attrs["outputs"]) == ("failed", 3, ["out.bin"])
    assert prov("lookup", str(tmp_path / "out.bin")).code == 3  # partial bytes not registered


def test_missing_command_is_registered_as_failed_with_127(tmp_path, prov):
    prov("init")
    r = prov("run", "fit", "--", "no-such-command-xyz", "--flag")
    assert r.code == 127
    assert "command not found: no-such-command-xyz" in r.err
    [rec] = [x for x in prov("log", "--kind", "run", "--json").json()["records"]]
    attrs = prov("show", rec["id"], "--json").json()["record"]["attributes"]
    assert (attrs["status"], attrs["exit_code"]) == ("failed", 127)
    assert prov("verify").code == 0


def test_killed_command_exits_128_plus_the_signal(tmp_path, prov):
    prov("init")
    r = prov(
        "run", "fit", "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    )
    assert r.code == 128 + 9
    assert "killed by signal 9" in r.err


def test_declared_output_not_produced_fails_the_run(tmp_path, prov):
    prov("init")
    r = prov("run", "fit", "-o", "never.bin", "--", PY, "-c", "pass")
    assert r.code == 2 and "outputs not produced: never.bin" in r.err
    [rec] = prov("log", "--kind", "run", "--json").json()["records"]
    assert prov("show", rec["id"], "--json").json()["record"]["attributes"]["status"] == "failed"


def test_run_inputs_by_id_and_bad_values(tmp_path, prov):
    prov("init")
    write(tmp_path / "d.txt", "d")
    ds = prov("add", "d.txt", "--json").json()["records"][0]["id"]
    r = prov("run", "eval", "-i", ds[7:19], "--no-code", "--no-env", "--json")
    assert r.code == 0, r
    run = prov("show", r.json()["run"]["id"], "--json").json()["record"]
    assert run["links"] == [{"rel": "used", "id": ds}]
    assert prov("run", "eval", "-i", "abcdef999999").code == 3
    bad = prov("run", "eval", "-p", "novalue")
    assert bad.code == 2 and "K=V" in bad.err
    assert prov("run", "eval", "-p", "x=NaN").code == 0  # text, not a float
    runs = len(prov("log", "--kind", "run", "--json").json()["records"])
    assert prov("run", "eval", "-m", "@missing.json").code == 2  # read first: nothing written
    assert len(prov("log", "--kind", "run", "--json").json()["records"]) == runs
    r = prov("run", "eval", "-m", "@missing.json", "--", PY, "-c", "pass")
    assert r.code == 2 and "registered without these metrics" in r.err  # the run is kept
    assert len(prov("log", "--kind", "run", "--json").json()["records"]) == runs + 1


def test_python_api_run_context_manager(reg, tmp_path, monkeypatch):
    git_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    ds = reg.add(write(tmp_path / "train.parquet", b"PAR1 not really"), kind="dataset")
    with reg.run("train", params={"lr": 0.01}) as run:
        run.use(ds)
        run.log_metric("auc", 0.9)
        write(tmp_path / "model.onnx", b"weights")
        run.output(tmp_path / "model.onnx", kind="model")
    assert run.record.record["attributes"]["status"] == "succeeded"
    assert run.record.record["attributes"]["metrics"] == {"auc": 0.9}
    [model] = run.outputs
    g = reg.lineage(model.id, direction="up")
    kinds = {g.nodes[n]["kind"] for n in g.nodes}
    assert kinds == {"model", "run", "dataset", "code", "environment"}
    assert g.edges[model.id, run.id]["rel"] == "generated_by"


def test_python_api_exception_registers_a_failed_run_and_reraises(reg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git repository: the run has no code link, and says so
    with pytest.raises(ZeroDivisionError), reg.run("train", capture_environment=False) as run:
        run.output(write(tmp_path / "m.bin", b"partial"))
        1 / 0  # noqa: B018
    attrs = run.record.record["attributes"]
    assert (attrs["status"], attrs["error"]) == ("failed", "ZeroDivisionError")
    assert run.outputs == [] and run.record.record.get("links", []) == []
    assert any("no code record" in w for w in run.warnings)
    assert reg.lookup(str(tmp_path / "m.bin")) == []
    with pytest.raises(InputError, match="params"):
        reg.run("bad", params={"x": float("nan")})


def test_same_output_bytes_from_a_new_run_get_a_new_record_naming_it(reg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ids = []
    for _ in range(2):
        with reg.run("train", capture_code=False, capture_environment=False) as run:
            run.output(write(tmp_path / "model.bin", b"deterministic"))
        ids.append((run.id, run.outputs[0]))
    (_, out1), (run2, out2) = ids
    assert out1.id != out2.id
    assert {"rel": "generated_by", "id": run2} in out2.record["links"]
    assert {"rel": "supersedes", "id": out1.id} in out2.record["links"]
    assert reg.add(tmp_path / "model.bin").id == out2.id  # a plain re-add changes nothing


def test_attest_signs_a_statement_and_refuses_registry_predicates(tmp_path, prov):
    prov("init")
    write(tmp_path / "m.bin", "m")
    rid = prov("add", "m.bin", "--json").json()["records"][0]["id"]
    r = prov("attest", rid[7:19], "--predicate", "approval", "--body", '{"by": "cro"}', "--json")
    assert r.code == 0, r
    rec = r.json()["record"]
    assert rec["attributes"] == {"predicate": "approval", "body": {"by": "cro"}}
    assert rec["links"] == [{"rel": "about", "id": rid}]
    assert prov("attest", rid, "--predicate", "https://example.org/eval/v1").code == 0
    for predicate in ("stored-at", "revocation", "legal-hold", "hold-release", "export"):
        bad = prov("attest", rid, "--predicate", predicate, "--body", "{}")
        assert bad.code == 2 and "written by the registry" in bad.err, predicate
    assert prov("attest", rid, "--predicate", "aproval").code == 2
    r = prov("attest", rid, "--predicate", "review", "--body", "{not json")
    assert r.code == 2 and "not JSON" in r.err
    assert prov("attest", "abcdef999999", "--predicate", "review").code == 3
    assert json.loads(prov("verify", "--json").out)["ok"] is True


def test_sigterm_to_prov_run_is_forwarded_and_the_run_registered(tmp_path, prov):
    import os
    import signal
    import subprocess
    import time

    prov("init")
    started = tmp_path / "started"
    script = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(120)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    proc = subprocess.Popen(
        [PY, "-m", "registry.cli.main", "run", "long", "--", PY, "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not started.exists():  # wait (polling, not timing) for the command to be running
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    [rec] = prov("log", "--kind", "run", "--json").json()["records"]
    attrs = prov("show", rec["id"], "--json").json()["record"]["attributes"]
    assert (attrs["status"], attrs["exit_code"]) == ("failed", 128 + signal.SIGTERM)
    assert prov("verify", "--full").code == 0
