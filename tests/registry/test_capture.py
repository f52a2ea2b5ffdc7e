"""prov code and prov env on real git repositories and real interpreters."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from registry.capture.git import strip_credentials
from tests.helpers import git, git_repo, write


def test_code_records_the_commit_branch_and_remote_without_credentials(tmp_path, prov):
    repo = git_repo(tmp_path)
    git(repo, "remote", "add", "origin", "https://alice:s3cret@git.example.org/acme/proj.git")
    assert prov("init").code == 0
    r = prov("code", "--json")
    assert r.code == 0, r
    attrs = r.json()["record"]["attributes"]
    assert attrs == {
        "commit": git(repo, "rev-parse", "HEAD"),
        "branch": "main",
        "dirty": False,
        "repo": "https://git.example.org/acme/proj.git",
    }
    assert r.json()["name"] == f"proj@{attrs['commit'][:12]}"
    assert "s3cret" not in (tmp_path / ".prov" / "registry.db").read_bytes().decode("latin-1")


def test_dirty_tree_pins_the_uncommitted_diff_by_hash(tmp_path, prov):
    repo = git_repo(tmp_path)
    prov("init")
    clean = prov("code", "--json").json()
    write(repo / "train.py", "print(2)\n")
    dirty = prov("code", "--json").json()
    diff = subprocess.run(
        ["git", "diff", "HEAD", "--binary"], cwd=repo, capture_output=True, check=True
    ).stdout
    attrs = dirty["record"]["attributes"]
    assert attrs["dirty"] is True
    assert attrs["diff_sha256"] == hashlib.sha256(diff).hexdigest()
    assert dirty["id"] != clean["id"] and "+dirty." in dirty["name"]
    # the same state captured again is the same record; committing makes a clean one
    assert prov("code", "--json").json()["id"] == dirty["id"]
    git(repo, "commit", "-qam", "second")
    again = prov("code", "--json").json()["record"]["attributes"]
    assert again["dirty"] is False and "diff_sha256" not in again


def test_detached_head_has_no_branch(tmp_path, prov):
    repo = git_repo(tmp_path)
    git(repo, "checkout", "-q", "--detach")
    prov("init")
    attrs = prov("code", "--json").json()["record"]["attributes"]
    assert "branch" not in attrs and "repo" not in attrs


def test_code_outside_git_is_an_input_error(tmp_path, prov):
    assert prov("init").code == 0
    r = prov("code")
    assert r.code == 2 and "not in a git working tree" in r.err
    assert r.err.count("\n") == 1
    (tmp_path / "sub").mkdir()
    git(tmp_path / "sub", "init", "-q")
    r = prov("code", "--repo", "sub")
    assert r.code == 2 and "has no commit yet" in r.err


@given(
    user=st.text("abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=12),
    secret=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=6, max_size=30),
    scheme=st.sampled_from(["https", "http", "ssh", "git+ssh"]),
)
def test_credentials_never_survive_in_a_remote_url(user, secret, scheme):
    url = f"{scheme}://{user}:{secret}@host.example:8443/org/repo.git"
    cleaned = strip_credentials(url)
    assert secret not in cleaned
    assert cleaned.endswith("host.example:8443/org/repo.git")
    assert strip_credentials(f"https://{secret}@github.com/o/r") == "https://github.com/o/r"
    assert strip_credentials("git@github.com:o/r.git") == "git@github.com:o/r.git"


def test_identical_environment_is_the_same_record(tmp_path, prov):
    prov("init")
    write(tmp_path / "uv.lock", "version = 1\n")
    first = prov("env", "--json")
    assert first.code == 0, first
    second = prov("env", "--json").json()
    assert second["id"] == first.json()["id"] and second["existing"] is True
    attrs = second["record"]["attributes"]
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"pynacl=={__import__('nacl').__version__}" in attrs["packages"]
    assert len(attrs["packages"]) >= len([ln for ln in installed.splitlines() if "==" in ln]) - 2
    assert attrs["packages"] == sorted(attrs["packages"])
    assert (
        attrs["packages_sha256"]
        == hashlib.sha256("\n".join(attrs["packages"]).encode()).hexdigest()
    )
    assert attrs["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert (attrs["lockfile"], attrs["lockfile_sha256"]) == (
        "uv.lock",
        hashlib.sha256(b"version = 1\n").hexdigest(),
    )
    # a changed lock file is a different environment
    write(tmp_path / "uv.lock", "version = 2\n")
    assert prov("env", "--json").json()["id"] != second["id"]


def test_env_of_another_interpreter_and_the_container_image(tmp_path, prov):
    prov("init")
    here = prov("env", "--json").json()["record"]["attributes"]
    other = prov("env", "--python", sys.executable, "--json").json()["record"]["attributes"]
    assert other["packages"] == here["packages"]
    image = "registry.example.org/train@sha256:" + "ab" * 32
    with_image = prov("env", "--json", env={"PROV_CONTAINER_IMAGE": image}).json()
    assert with_image["record"]["attributes"]["container_image"] == image
    r = prov("env", "--python", str(tmp_path / "no-python"))
    assert r.code == 2 and "cannot run" in r.err


def test_an_untracked_script_makes_the_code_record_dirty_and_prov_run_warns(tmp_path, prov):
    """Issue 15, item 23: a run of a script never committed recorded the HEAD commit as
    clean."""
    git_repo(tmp_path, {"README.md": "x\n"})
    prov("init")
    write(tmp_path / "train.py", "open('model.bin', 'w').write('w')\n")  # never committed
    r = prov("run", "train", "-o", "model.bin", "--json", "--", sys.executable, "train.py")
    assert r.code == 0, r
    assert "untracked" in r.err and "train.py" in r.err  # the warning
    code_id = next(
        ln["id"]
        for ln in prov("show", r.json()["run"]["id"], "--json").json()["record"]["links"]
        if ln["rel"] == "code"
    )
    attrs = prov("show", code_id, "--json").json()["record"]["attributes"]
    assert attrs["dirty"] is True and attrs["untracked"] == ["train.py"]
    assert attrs["untracked_count"] == 1 and len(attrs["untracked_sha256"]) == 64
    git(tmp_path, "add", "train.py")
    git(tmp_path, "commit", "-q", "-m", "train")
    write(tmp_path / ".gitignore", ".prov/\nmodel.bin\n")
    git(tmp_path, "commit", "-q", "-am", "ignore outputs")
    clean = prov("code", "--json").json()["record"]["attributes"]
    assert clean["dirty"] is False and "untracked" not in clean
