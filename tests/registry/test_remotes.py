"""Copies between stores are re-hashed: bytes that are not what the record says never land in
the other store, and no location is logged for them."""

from __future__ import annotations

import hashlib

import pytest

from registry.errors import StorageError
from tests.helpers import drop_local_objects


def _corrupt(reg, sha: str) -> None:
    path = reg.store.path_for(sha)
    path.chmod(0o644)
    path.write_bytes(b"tampered")


def test_push_refuses_bytes_that_do_not_hash_to_the_record(reg, tmp_path):
    remote = tmp_path / "remote"
    reg.add_remote("disk", str(remote))
    f = tmp_path / "a.csv"
    f.write_text("a,b\n1,2\n")
    added = reg.add(f, kind="dataset")
    sha = added.record["subject"]["digest"]["sha256"]
    _corrupt(reg, sha)
    with pytest.raises(StorageError, match="not copied"):
        reg.push(added.id, remote="disk")
    assert not list(remote.rglob("sha256/*/*"))
    assert {loc["store"] for loc in reg.show(added.id)["locations"]} == {"local"}


def test_pull_refuses_bytes_that_do_not_hash_to_the_record(reg, tmp_path):
    remote = tmp_path / "remote"
    reg.add_remote("disk", str(remote))
    f = tmp_path / "b.csv"
    f.write_text("b\n")
    added = reg.add(f, kind="dataset", remote="disk")
    sha = added.record["subject"]["digest"]["sha256"]
    theirs = remote / "sha256" / sha[:2] / sha[2:]
    theirs.chmod(0o644)
    theirs.write_bytes(b"swapped on the remote")
    local = reg.store.path_for(sha)
    local.chmod(0o644)
    local.unlink()
    with pytest.raises(StorageError, match="not copied"):
        reg.pull(added.id, remote="disk")
    assert not local.exists()
    report = reg.verify(content=True)
    assert {p["problem"] for p in report["problems"]} == {"object-missing", "object-corrupt"}


def test_pulled_directory_larger_than_a_mebibyte_verifies(reg, tmp_path):
    """A pulled directory's manifest is exactly the manifest's bytes (it was once written
    preallocated to the directory's total size, padded with zeros)."""
    remote = tmp_path / "remote"
    reg.add_remote("disk", str(remote))
    d = tmp_path / "shards"
    d.mkdir()
    (d / "a.bin").write_bytes(b"\x07" * (3 << 20))
    (d / "b.bin").write_bytes(b"b")
    added = reg.add(d, kind="dataset", remote="disk")
    drop_local_objects(reg)
    reg.pull(added.id, remote="disk")
    report = reg.verify(content=True)
    assert report["ok"], report["problems"]


def test_a_tampered_file_fails_a_directory_pull_and_lands_nothing(reg, tmp_path):
    """Files are copied several at once: one bad file fails the pull, and neither it, its
    siblings nor the listing are left in the local store."""
    remote = tmp_path / "remote"
    reg.add_remote("disk", str(remote))
    d = tmp_path / "shards"
    d.mkdir()
    for i in range(40):
        (d / f"{i:02d}.bin").write_bytes(bytes([i]) * 1000)
    added = reg.add(d, kind="dataset", remote="disk")
    bad = reg.store.path_for(hashlib.sha256(bytes([17]) * 1000).hexdigest())
    theirs = remote / bad.relative_to(reg.store.root)
    theirs.chmod(0o644)
    theirs.write_bytes(bytes([18]) * 1000)
    drop_local_objects(reg)
    with pytest.raises(StorageError, match="not copied"):
        reg.pull(added.id, remote="disk")
    assert not [p for p in (reg.prov_dir / "objects" / "sha256").rglob("*") if p.is_file()]
    assert not list((reg.prov_dir / "objects" / "tmp").iterdir())


def test_files_with_the_same_bytes_are_copied_once(reg, tmp_path, monkeypatch):
    from registry.stores.local import LocalStore

    remote = tmp_path / "remote"
    reg.add_remote("disk", str(remote))
    d = tmp_path / "dup"
    d.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (d / name).write_text("the same bytes\n")
    (d / "other.txt").write_text("other\n")
    added = reg.add(d, kind="dataset")
    puts: list[str] = []
    real_put = LocalStore.put

    def spy(self, obj, src):
        puts.append(obj.sha256)
        return real_put(self, obj, src)

    monkeypatch.setattr(LocalStore, "put", spy)
    reg.push(added.id, remote="disk")
    assert len(puts) == 3  # two distinct files, then the listing
    assert len(set(puts)) == 3
    assert reg.verify(content=True)["ok"]
