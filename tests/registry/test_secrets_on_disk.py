"""A registry's secrets stay on disk where they are: private keys, the database and stored
bytes are never added, never followed to through a symlink, never committed to git, and never
readable by other users (issue 15, items 19-21)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.helpers import git, git_repo, one_line_error, state, write


@pytest.fixture
def project(tmp_path, prov) -> Path:
    git_repo(tmp_path, {"data/a.csv": "x\n1\n"})
    assert prov("init").code == 0
    return tmp_path


def _manifest_paths(project: Path, rid: str, prov) -> list[str]:
    shown = prov("show", rid, "--json").json()
    sha = shown["record"]["subject"]["manifest"].removeprefix("sha256:")
    manifest = project / ".prov" / "objects" / "sha256" / sha[:2] / sha[2:]
    return [e["path"] for e in json.loads(manifest.read_bytes())]


def _key_digests(project: Path) -> set[str]:
    import hashlib

    return {hashlib.sha256(k.read_bytes()).hexdigest() for k in (project / ".prov/keys").iterdir()}


def test_adding_the_project_root_never_walks_into_the_registry_git_or_dvc(project, prov):
    write(project / ".dvc" / "config", "[core]\n")
    r = prov("add", ".", "--json")
    assert r.code == 0, r
    paths = _manifest_paths(project, r.json()["records"][0]["id"], prov)
    assert paths == [".gitignore", "data/a.csv"]
    stored = {p.parent.name + p.name for p in (project / ".prov/objects/sha256").rglob("*")}
    assert not _key_digests(project) & stored  # no private key became an object


@pytest.mark.parametrize("inside", [".prov", ".prov/keys", ".prov/registry.db", ".prov/config"])
def test_a_path_inside_the_registry_is_refused_and_nothing_is_written(project, prov, inside):
    before = state(project)
    assert ".prov" in one_line_error(prov("add", inside), 2)
    assert state(project) == before


def test_a_symlink_out_of_an_added_directory_is_refused_unless_asked(
    project, prov, tmp_path_factory
):
    secret = write(tmp_path_factory.mktemp("home") / "credentials", "aws_secret=hunter2\n")
    secret.chmod(0o600)
    (project / "data" / "creds").symlink_to(secret)
    before = state(project)
    line = one_line_error(prov("add", "data"), 2)
    assert "outside" in line and "--follow-links-outside" in line
    assert state(project) == before
    r = prov("add", "data", "--follow-links-outside", "--json")
    assert r.code == 0, r
    assert _manifest_paths(project, r.json()["records"][0]["id"], prov) == ["a.csv", "creds"]


def test_a_symlink_inside_the_added_directory_is_followed(project, prov):
    (project / "data" / "same.csv").symlink_to(project / "data" / "a.csv")
    r = prov("add", "data", "--json")
    assert r.code == 0, r
    assert _manifest_paths(project, r.json()["records"][0]["id"], prov) == ["a.csv", "same.csv"]


def test_a_symlink_into_a_registry_is_refused_even_when_links_may_leave(project, prov):
    key = next((project / ".prov" / "keys").iterdir())
    (project / "data" / "key.pem").symlink_to(key)
    before = state(project)
    for extra in ((), ("--follow-links-outside",)):
        assert ".prov" in one_line_error(prov("add", "data", *extra), 2)
    assert state(project) == before


def test_stored_bytes_and_the_registry_are_unreadable_to_other_users(project, prov):
    assert prov("add", "data").code == 0
    assert stat.S_IMODE((project / ".prov").stat().st_mode) == 0o700
    objects = [p for p in (project / ".prov" / "objects").rglob("*") if p.is_file()]
    assert objects and all(p.stat().st_mode & 0o007 == 0 for p in objects)


def test_git_add_all_after_init_commits_nothing_of_the_registry(tmp_path, prov):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")  # a project that does not ignore .prov itself
    assert prov("init", cwd=repo).code == 0
    git(repo, "add", "-A")
    tracked = git(repo, "ls-files").splitlines()
    assert tracked == []  # .prov/.gitignore ignores everything, itself included


def test_init_warns_once_when_the_keys_are_not_encrypted(tmp_path, prov):
    r = prov("init", "plain", "--json")
    assert r.code == 0 and json.loads(r.out)["registry"]  # stdout stays one JSON document
    assert r.err.count("warning") == 1 and "PROV_KEY_PASSPHRASE" in r.err
    quiet = prov("init", "sealed", env={"PROV_KEY_PASSPHRASE": "correct horse"})
    assert quiet.code == 0 and quiet.err == ""
    assert os.listdir(tmp_path / "sealed" / ".prov" / "keys")
