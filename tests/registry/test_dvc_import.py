"""prov import dvc on a real DVC project: git init, dvc init, .dvc files, two stages added with
`dvc stage add`, `dvc repro`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import git, git_repo, write

DVC = Path(sys.executable).with_name("dvc")

PREPARE = """\
import os
os.makedirs("data/prepared", exist_ok=True)
rows = open("data/raw.csv").read()
open("data/prepared/train.csv", "w").write(rows)
open("data/prepared/test.csv", "w").write(rows.splitlines()[0] + "\\n")
"""
TRAIN = """\
import json, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
open("model.pkl", "w").write(f"model lr={p['lr']}")
json.dump({"auc": 0.9, "loss": {"final": 0.25}}, open("metrics.json", "w"))
"""


def dvc(cwd: Path, *args: str) -> None:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_COMMITTER_NAME="t")
    env.update(GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_EMAIL="t@example.org")
    subprocess.run([str(DVC), *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory) -> Path:
    """The pristine project; each test copies it."""
    root = git_repo(
        tmp_path_factory.mktemp("dvc") / "project",
        {"src/prepare.py": PREPARE, "src/train.py": TRAIN, "params.yaml": "train:\n  lr: 0.1\n"},
    )
    dvc(root, "init", "-q")
    write(root / "data/raw.csv", "x,y\n1,2\n3,4\n")
    write(root / "data/images/1.txt", "a")
    write(root / "data/images/2.txt", "b")
    dvc(root, "add", "-q", "data/raw.csv", "data/images")
    dvc(root, "stage", "add", "-q", "-n", "prepare", "-d", "src/prepare.py", "-d", "data/raw.csv",
        "-o", "data/prepared", f"{sys.executable} src/prepare.py")  # fmt: skip
    dvc(root, "stage", "add", "-q", "-n", "train", "-d", "src/train.py", "-d", "data/prepared",
        "-d", "data/images", "-p", "train.lr", "-o", "model.pkl", "-M", "metrics.json",
        f"{sys.executable} src/train.py")  # fmt: skip
    dvc(root, "repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pipeline")
    return root


@pytest.fixture
def project(dvc_project, tmp_path, prov) -> Path:
    root = tmp_path / "project"
    shutil.copytree(dvc_project, root, symlinks=True)
    assert prov("init", str(root)).code == 0
    return root


def _records(prov, root, kind):
    return {r["name"]: r for r in prov("log", "--kind", kind, "--json", cwd=root).json()["records"]}


def test_import_builds_runs_artifacts_and_lineage(project, prov):
    r = prov("import", "dvc", "--json", cwd=project)
    assert r.code == 0, r
    assert r.json()["warnings"] == []
    runs = _records(prov, project, "run")
    assert set(runs) == {"prepare", "train"}
    datasets, models = _records(prov, project, "dataset"), _records(prov, project, "model")
    assert set(datasets) == {"data/raw.csv", "data/images", "data/prepared", "metrics.json"}
    assert set(models) == {"model.pkl"}
    train = prov("show", runs["train"]["id"], "--json", cwd=project).json()["record"]
    attrs = train["attributes"]
    assert attrs["params"] == {"train.lr": 0.1}
    assert attrs["metrics"] == {"auc": 0.9, "loss.final": 0.25}
    assert attrs["command"].endswith("src/train.py") and attrs["status"] == "succeeded"
    script = (project / "src/train.py").read_bytes()
    assert attrs["dvc"]["code_files"] == {"src/train.py": hashlib.md5(script).hexdigest()}
    code = [ln["id"] for ln in train["links"] if ln["rel"] == "code"]
    commit = prov("show", code[0], "--json", cwd=project).json()["record"]["attributes"]["commit"]
    assert commit == git(project, "rev-parse", "HEAD")
    used = {prov("show", ln["id"], "--json", cwd=project).json()["record"]["name"]
            for ln in train["links"] if ln["rel"] == "used"}  # fmt: skip
    assert used == {"data/prepared", "data/images"}

    # upstream of the model reaches the raw data through the prepare stage
    doc = prov("lineage", models["model.pkl"]["id"], "--format", "json", cwd=project).json()
    names = {n["name"] for n in doc["nodes"]}
    assert {
        "model.pkl",
        "train",
        "data/prepared",
        "prepare",
        "data/raw.csv",
        "data/images",
    } <= names
    # downstream of the raw data reaches the model
    down = prov(
        "lineage", datasets["data/raw.csv"]["id"], "--down", "--format", "json", cwd=project
    )
    assert "model.pkl" in {n["name"] for n in down.json()["nodes"]}


def test_records_carry_dvc_md5_and_our_sha256(project, prov):
    assert prov("import", "dvc", cwd=project).code == 0
    raw = (project / "data/raw.csv").read_bytes()
    lock_md5 = hashlib.md5(raw).hexdigest()
    found = prov("lookup", f"md5:{lock_md5}", "--json", cwd=project).json()["records"]
    assert [f["name"] for f in found] == ["data/raw.csv"]
    assert prov("lookup", "data/raw.csv", "--json", cwd=project).json()["records"] == found
    dvc_file = (project / "data/images.dvc").read_text()
    dir_md5 = dvc_file.split("md5: ")[1].split()[0]  # DVC writes <hex>.dir
    by_dir = prov("lookup", f"md5:{dir_md5}", "--json", cwd=project).json()["records"]
    assert [f["name"] for f in by_dir] == ["data/images"]
    assert prov("lookup", "data/images", "--json", cwd=project).json()["records"] == by_dir


def test_importing_twice_adds_nothing(project, prov):
    first = prov("import", "dvc", "--json", cwd=project).json()
    size = prov("checkpoint", "--json", cwd=project).json()["tree_size"]
    second = prov("import", "dvc", "--json", cwd=project).json()
    assert second["added"] == [] and second["existing"] == len(first["added"])
    assert prov("checkpoint", "--json", cwd=project).json()["tree_size"] == size


def test_a_new_repro_adds_new_versions(project, prov):
    prov("import", "dvc", cwd=project)
    write(project / "params.yaml", "train:\n  lr: 0.2\n")
    dvc(project, "repro", "-q")
    r = prov("import", "dvc", "--json", cwd=project).json()
    added = {(a["kind"], a["name"]) for a in r["added"]}
    assert ("run", "train") in added and ("model", "model.pkl") in added
    assert ("run", "prepare") not in added  # unchanged stage: the same run
    models = prov("log", "--kind", "model", "--json", cwd=project).json()["records"]
    d = prov("diff", models[1]["id"], models[0]["id"], "--json", cwd=project).json()
    assert {"key": "train.lr", "change": "changed", "a": 0.1, "b": 0.2, "delta": 0.1} in d["runs"][
        "params"
    ]


def test_missing_cache_file_imports_with_the_lock_md5_and_a_warning(project, prov):
    model = project / "model.pkl"
    md5 = hashlib.md5(model.read_bytes()).hexdigest()
    cached = project / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    cached.unlink()
    model.write_text("edited after repro")  # the workspace no longer holds those bytes either
    r = prov("import", "dvc", "--json", cwd=project)
    assert r.code == 0, r
    assert "model.pkl: bytes for md5" in r.err and "warning" in r.err
    [rec] = prov("lookup", f"md5:{md5}", "--json", cwd=project).json()["records"]
    subject = prov("show", rec["id"], "--json", cwd=project).json()["record"]["subject"]
    assert subject == {"digest": {"md5": md5}, "size": len("model lr=0.1")}
    assert prov("verify", "--full", cwd=project).code == 0


def test_bytes_come_from_the_cache_when_the_workspace_changed(project, prov):
    raw = project / "data/raw.csv"
    original = raw.read_bytes()
    raw.write_text("changed since dvc add\n")
    assert prov("import", "dvc", cwd=project).code == 0
    [rec] = prov("lookup", f"sha256:{hashlib.sha256(original).hexdigest()}", "--json",
                 cwd=project).json()["records"]  # fmt: skip
    assert rec["name"] == "data/raw.csv"


def test_not_a_dvc_project(tmp_path, prov):
    prov("init")
    r = prov("import", "dvc", str(tmp_path))
    assert r.code == 2 and "not a DVC project" in r.err


@pytest.mark.parametrize("path", ["/etc/hostname", "../outside.csv", "sub/../../outside.csv"])
def test_paths_outside_the_project_are_refused(project, prov, path):
    write(project.parent / "outside.csv", "secret,1\n")
    md5 = hashlib.md5(b"secret,1\n").hexdigest()
    write(project / "evil.dvc", f"outs:\n- md5: {md5}\n  size: 9\n  hash: md5\n  path: {path}\n")
    size = prov("checkpoint", "--json", cwd=project).json()["tree_size"]
    r = prov("import", "dvc", cwd=project)
    assert r.code == 2 and "lies outside the project" in r.err, r
    assert r.err.count("\n") == 1
    assert prov("lookup", f"md5:{md5}", cwd=project).code == 3
    assert prov("checkpoint", "--json", cwd=project).json()["tree_size"] == size  # nothing written


def test_a_stale_stage_adds_nothing_on_a_second_import_and_keeps_the_newest_version(project, prov):
    """Issue 15, item 18: `train` was not run again after `prepare` made new outputs, so its
    deps name the older data/prepared. Each import added records and made that older version
    the newest again."""
    write(project / "data/raw.csv", "x,y\n1,2\n3,4\n5,6\n")
    dvc(project, "add", "-q", "data/raw.csv")
    dvc(project, "repro", "-q", "prepare")  # train is stale now
    first = prov("import", "dvc", "--json", cwd=project)
    assert first.code == 0, first
    size = prov("checkpoint", "--json", cwd=project).json()["tree_size"]
    second = prov("import", "dvc", "--json", cwd=project).json()
    assert second["added"] == []
    assert prov("checkpoint", "--json", cwd=project).json()["tree_size"] == size
    import yaml

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    prepared = next(o for o in lock["stages"]["prepare"]["outs"] if o["path"] == "data/prepared")
    newest = prov("log", "--name", "data/prepared", "-n", "1", "--json", cwd=project).json()
    shown = prov("show", newest["records"][0]["id"], "--json", cwd=project).json()
    assert shown["record"]["subject"]["digest"]["md5"] == prepared["md5"].removesuffix(".dir")
    assert prov("verify", "--full", cwd=project).code == 0


def test_an_import_that_fails_anywhere_writes_nothing(project, prov):
    import yaml

    lock_path = project / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text())
    lock["stages"]["train"]["cmd"] = "python train.py " + "x" * (1 << 20)  # a run over the cap
    lock_path.write_text(yaml.safe_dump(lock))
    size = prov("checkpoint", "--json", cwd=project).json()["tree_size"]
    r = prov("import", "dvc", cwd=project)
    assert r.code == 2 and "over the cap" in r.err, r
    assert prov("checkpoint", "--json", cwd=project).json()["tree_size"] == size


@given(
    data=st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"")),
    crlf=st.lists(st.integers(0, 300), max_size=20),
    chunk=st.integers(1, 64),
)
def test_the_legacy_md5_streams_and_matches_dvc2(tmp_path_factory, data, crlf, chunk):
    from registry.importers.dvc_project import md5s

    for i in sorted(set(crlf), reverse=True):
        data = data[:i] + b"\r\n" + data[i:]
    path = tmp_path_factory.mktemp("md5") / "f"
    path.write_bytes(data)
    assert md5s(path, True, chunk) == {
        hashlib.md5(data).hexdigest(),
        hashlib.md5(data.replace(b"\r\n", b"\n")).hexdigest(),
    }


def test_a_yaml_alias_bomb_in_a_lock_file_is_refused(project, prov):
    """Issue 15, item 12: a 1 KB dvc.lock with YAML aliases became a 9.2 MB record (and a few
    more levels, gigabytes). DVC writes no aliases."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = "\n".join(lines) + "\nschema: '2.0'\nstages:\n  train:\n    cmd: *a8\n"
    (project / "dvc.lock").write_text(bomb)
    size = prov("checkpoint", "--json", cwd=project).json()["tree_size"]
    r = prov("import", "dvc", cwd=project)
    assert r.code == 2 and "aliases" in r.err, r
    assert prov("checkpoint", "--json", cwd=project).json()["tree_size"] == size
