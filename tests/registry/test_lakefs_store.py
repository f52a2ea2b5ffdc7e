"""The lakeFS store, driven through the real ``lakefs`` SDK.

By default against the loopback lakeFS of tests/support/lakefs_server.py (no lakeFS server can
be installed on these machines); with ``LAKEFS_ENDPOINT``, ``LAKEFS_ACCESS_KEY_ID``,
``LAKEFS_SECRET_ACCESS_KEY`` and ``LAKEFS_REPOSITORY`` (an existing repository) set, against a
real lakeFS as well. Each test works on a branch of its own.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lakefs")

from registry.errors import StorageError
from registry.service import Registry
from tests.helpers import drop_local_objects, write
from tests.support.asgi import serve
from tests.support.lakefs_server import ACCESS_KEY, SECRET_KEY, FakeLakeFS

REAL = os.environ.get("LAKEFS_ENDPOINT")


@dataclass
class LakeFS:
    endpoint: str
    key: str
    secret: str
    repo: str
    fake: FakeLakeFS | None

    @property
    def env(self) -> dict[str, str]:
        return {
            "LAKECTL_SERVER_ENDPOINT_URL": self.endpoint,
            "LAKECTL_CREDENTIALS_ACCESS_KEY_ID": self.key,
            "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY": self.secret,
        }

    def repository(self) -> Any:
        import lakefs
        from lakefs.client import Client

        client = Client(host=self.endpoint, username=self.key, password=self.secret)
        return lakefs.Repository(self.repo, client=client)

    def commits(self) -> int:
        """How many commits the store has asked for (loopback server only)."""
        assert self.fake is not None
        return sum(1 for _, op in self.fake.calls if op == "commit")


@pytest.fixture(scope="module", params=["loopback", "real"])
def lakefs_server(request, tmp_path_factory) -> Iterator[LakeFS]:
    if request.param == "real":
        if not REAL:
            pytest.skip("LAKEFS_ENDPOINT is not set")
        yield LakeFS(
            REAL,
            os.environ["LAKEFS_ACCESS_KEY_ID"],
            os.environ["LAKEFS_SECRET_ACCESS_KEY"],
            os.environ["LAKEFS_REPOSITORY"],
            None,
        )
        return
    fake = FakeLakeFS(tmp_path_factory.mktemp("lakefs"))
    with serve(fake.app) as url:
        server = LakeFS(url, ACCESS_KEY, SECRET_KEY, "prov-test", fake)
        server.repository().create(storage_namespace="local://prov-test", default_branch="main")
        yield server
        assert not [c for c in fake.calls if c[1].startswith("unimplemented")], fake.calls


@pytest.fixture
def lakefs_branch(lakefs_server, monkeypatch) -> tuple[LakeFS, Any]:
    for k, v in lakefs_server.env.items():
        monkeypatch.setenv(k, v)
    repo = lakefs_server.repository()
    branch = repo.branch(f"t-{uuid.uuid4().hex[:10]}").create(source_reference="main")
    return lakefs_server, branch


@pytest.fixture
def lreg(tmp_path, lakefs_branch, monkeypatch) -> Iterator[tuple[Registry, LakeFS, Any]]:
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    server, branch = lakefs_branch
    reg = Registry.init(tmp_path / "reg", retention=None)
    reg.add_remote("lake", f"lakefs://{server.repo}/{branch.id}/prov")
    yield reg, server, branch
    reg.close()


def _path(sha: str) -> str:
    return f"prov/sha256/{sha[:2]}/{sha[2:]}"


def _location(reg: Registry, rid: str, store: str) -> dict[str, Any]:
    return next(loc for loc in reg.show(rid)["locations"] if loc["store"] == store)


def test_add_commits_with_the_record_id_and_keeps_the_commit(lreg, tmp_path):
    reg, server, branch = lreg
    f = tmp_path / "train.csv"
    f.write_bytes(b"a,b\n1,2\n")
    added = reg.add(f, kind="dataset", remote="lake")
    sha = added.record["subject"]["digest"]["sha256"]
    loc = _location(reg, added.id, "lake")
    assert loc["present"]
    assert loc["uri"] == f"lakefs://{server.repo}/{branch.id}/{_path(sha)}"
    # The location's version is the commit, which names the record and holds the bytes.
    repo = server.repository()
    commit = repo.commit(loc["version"]).get_commit()
    assert commit.metadata["prov.record_id"] == added.id
    assert commit.metadata["prov.sha256"] == sha
    obj = repo.commit(loc["version"]).object(_path(sha))
    assert obj.reader(mode="rb", pre_sign=False).read() == b"a,b\n1,2\n"
    assert obj.stat().metadata == {"sha256": sha, "md5": added.record["subject"]["digest"]["md5"]}
    # The stored-at attestation logged the commit id.
    newest = reg.log(kind="attestation", name="stored-at lake")[0]
    assert reg.show(newest["id"])["record"]["attributes"]["body"]["version"] == loc["version"]


def test_reads_go_to_the_commit_not_the_branch(lreg, tmp_path):
    reg, _, branch = lreg
    d = tmp_path / "images"
    (d / "sub").mkdir(parents=True)
    (d / "a.bin").write_bytes(b"\x01" * 5000)
    (d / "sub" / "b.bin").write_bytes(b"hello")
    added = reg.add(d, kind="dataset")
    reg.push(added.id, remote="lake")
    manifest = reg.store.path_for(added.record["subject"]["manifest"].removeprefix("sha256:"))
    sha_a = next(e["sha256"] for e in json.loads(manifest.read_bytes()) if e["path"] == "a.bin")
    # Someone rewrites the branch afterwards: the record still reads what it committed.
    branch.object(_path(sha_a)).upload(data=b"overwritten", pre_sign=False)
    branch.commit(message="someone else")
    drop_local_objects(reg)
    reg.pull(added.id, remote="lake")
    report = reg.verify(content=True)
    assert report["ok"], report["problems"]
    assert report["checked"]["objects"] == 6  # root + 2 files, locally and at the commit
    assert (reg.store.path_for(sha_a)).read_bytes() == b"\x01" * 5000


def test_pushing_again_makes_no_new_commit(lreg, tmp_path):
    reg, server, _ = lreg
    if server.fake is None:
        pytest.skip("counts the loopback server's calls")
    f = tmp_path / "x.csv"
    f.write_text("x\n")
    added = reg.add(f, kind="dataset", remote="lake")
    before, version = server.commits(), _location(reg, added.id, "lake")["version"]
    again = reg.push(added.id, remote="lake")
    assert again[0]["version"] == version
    assert server.commits() == before
    assert len(reg.log(kind="attestation", name="stored-at lake")) == 1


def test_same_bytes_for_two_records_get_a_commit_each(lreg, tmp_path):
    reg, server, _ = lreg
    (tmp_path / "one.csv").write_text("same\n")
    (tmp_path / "two.csv").write_text("same\n")
    first = reg.add(tmp_path / "one.csv", kind="dataset", remote="lake")
    second = reg.add(tmp_path / "two.csv", kind="dataset", remote="lake")
    assert first.id != second.id
    v1 = _location(reg, first.id, "lake")["version"]
    v2 = _location(reg, second.id, "lake")["version"]
    assert v1 != v2
    repo = server.repository()
    assert repo.commit(v2).get_commit().metadata["prov.record_id"] == second.id


def test_tampered_local_bytes_never_reach_lakefs(lreg, tmp_path):
    reg, server, branch = lreg
    f = tmp_path / "a.csv"
    f.write_text("a,b\n1,2\n")
    added = reg.add(f, kind="dataset")
    sha = added.record["subject"]["digest"]["sha256"]
    path = reg.store.path_for(sha)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    uploads = len(server.fake.calls) if server.fake else 0
    with pytest.raises(StorageError, match="not copied"):
        reg.push(added.id, remote="lake")
    assert not branch.object(_path(sha)).exists()
    if server.fake:
        assert ("POST", "uploadObject") not in server.fake.calls[uploads:]
    assert {loc["store"] for loc in reg.show(added.id)["locations"]} == {"local"}


def test_purge_deletes_from_the_branch_and_commits(tmp_path, lakefs_branch, monkeypatch):
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    server, branch = lakefs_branch
    reg = Registry.init(tmp_path / "reg", retention=None)
    try:
        reg.add_remote("lake", f"lakefs://{server.repo}/{branch.id}/prov")
        f = tmp_path / "pii.csv"
        f.write_text("name\nAda\n")
        added = reg.add(f, kind="dataset", remote="lake")
        sha = added.record["subject"]["digest"]["sha256"]
        sealed = _location(reg, added.id, "lake")["version"]
        done = reg.rm(added.id, reason="GDPR Art. 17 request 2026-31")
        assert {r["store"] for r in done["removed"]} == {"local", "lake"}
        assert not branch.object(_path(sha)).exists()
        head = branch.head.get_commit()
        assert head.metadata == {"prov.purged": added.id}
        # lakeFS keeps history: the bytes stay at the earlier commit until its garbage
        # collection removes them (docs/storage.md says so).
        assert server.repository().commit(sealed).object(_path(sha)).exists()
        assert not _location(reg, added.id, "lake")["present"]
        report = reg.verify(content=True)
        assert report["ok"], report["problems"]
    finally:
        reg.close()


def test_unknown_branch_exits_5_and_registers_nothing(prov, tmp_path, lakefs_branch):
    server, _ = lakefs_branch
    assert prov("init").code == 0
    url = f"lakefs://{server.repo}/no-such-branch"
    assert prov("remote", "add", "lake", url).code == 0
    (tmp_path / "d.csv").write_text("d\n")
    before = prov("log", "--json").json()["records"]
    r = prov("add", "d.csv", "--remote", "lake")
    assert r.code == 5, r
    assert r.err.count("\n") == 1 and "no branch 'no-such-branch'" in r.err
    assert prov("log", "--json").json()["records"] == before
    assert not list(Path(tmp_path, ".prov", "objects").rglob("sha256/*/*"))


def test_wrong_credentials_and_bad_urls(prov, tmp_path, lakefs_branch):
    server, branch = lakefs_branch
    assert prov("init").code == 0
    assert prov("remote", "add", "lake", f"lakefs://{server.repo}/{branch.id}").code == 0
    (tmp_path / "d.csv").write_text("d\n")
    r = prov(
        "add",
        "d.csv",
        "--remote",
        "lake",
        env={"LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY": "wrong"},
    )
    assert r.code == 5 and "HTTP 401" in r.err, r
    r = prov(
        "push",
        "--remote",
        "lake",
        env={"LAKECTL_CREDENTIALS_ACCESS_KEY_ID": "", "LAKECTL_SERVER_ENDPOINT_URL": ""},
    )
    assert r.code == 2 and "no lakeFS credentials" in r.err, r
    dead = f"lakefs://{server.repo}/{branch.id}"
    assert prov("remote", "add", "dead", dead, "--endpoint-url", "http://127.0.0.1:9").code == 0
    r = prov("add", "d.csv", "--remote", "dead")
    assert r.code == 5 and r.err.count("\n") == 1 and "cannot reach the lakeFS server" in r.err
    for bad in ("lakefs://Repo_Upper/main", "lakefs://repo", "lakefs://ab/main", "lakefs:///main"):
        r = prov("remote", "add", "bad", bad)
        assert r.code == 2 and "lakefs://REPOSITORY/BRANCH" in r.err, (bad, r)


def test_a_purge_killed_before_its_commit_is_finished_by_apply(lreg, tmp_path, monkeypatch):
    """The process dies after deleting from the branch, before the commit: the tombstone is
    logged, the deletions are staged, and ``retention apply`` commits them."""
    from registry.stores.lakefs import LakeFSStore

    reg, _, branch = lreg
    d = tmp_path / "pii"
    d.mkdir()
    for i in range(5):
        (d / f"{i}.csv").write_text(f"row {i}\n")
    added = reg.add(d, kind="dataset", remote="lake")
    real_unseal = LakeFSStore.unseal

    def die(self, record_id):
        raise KeyboardInterrupt

    monkeypatch.setattr(LakeFSStore, "unseal", die)
    with pytest.raises(KeyboardInterrupt):
        reg.rm(added.id, reason="erasure")
    monkeypatch.setattr(LakeFSStore, "unseal", real_unseal)
    assert _location(reg, added.id, "lake")["present"]  # not finished yet
    assert reg.verify(full=True, content=True)["ok"]  # verifiable all along
    result = reg.retention_apply()
    assert result["finished"] == [added.id]
    assert not _location(reg, added.id, "lake")["present"]
    assert branch.head.get_commit().metadata == {"prov.purged": added.id}
    manifest = added.record["subject"]["manifest"].removeprefix("sha256:")
    assert not branch.object(_path(manifest)).exists()
    assert reg.verify(full=True, content=True)["ok"]


def test_a_file_larger_than_a_read_round_trips(lreg, tmp_path):
    """9 MiB: the upload streams in several chunks and the pull reads several byte ranges."""
    reg, _, _ = lreg
    f = tmp_path / "weights.bin"
    f.write_bytes(os.urandom(9 << 20))
    added = reg.add(f, kind="model", remote="lake")
    local = reg.store.path_for(added.record["subject"]["digest"]["sha256"])
    local.chmod(0o644)
    local.unlink()
    reg.pull(added.id, remote="lake")
    assert local.read_bytes() == f.read_bytes()
    assert reg.verify(content=True)["ok"]


def test_the_endpoint_option_overrides_the_sdk_endpoint(tmp_path, lakefs_branch, monkeypatch):
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    server, branch = lakefs_branch
    monkeypatch.setenv("LAKECTL_SERVER_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing there
    reg = Registry.init(tmp_path / "reg", retention=None)
    try:
        url = f"lakefs://{server.repo}/{branch.id}/prov"
        reg.add_remote("lake", url, endpoint_url=server.endpoint + "/")
        added = reg.add(write(tmp_path / "e.csv", "e\n"), kind="dataset", remote="lake")
        assert _location(reg, added.id, "lake")["present"]
    finally:
        reg.close()
