"""prov add: digests, the local store, directories and manifests, versions, incremental reads."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from provenance.canonical import canonical_bytes
from registry.errors import InputError, NotFoundError
from tests.helpers import age, write


def test_a_file_is_hashed_stored_and_registered(tmp_path, reg):
    data = b"id,label\n1,0\n"
    r = reg.add(write(tmp_path / "data" / "train.csv", data))
    s = r.summary()
    assert (s["sha256"], s["md5"], s["size"]) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
        len(data),
    )
    assert r.name == "data/train.csv" and r.kind == "dataset"
    obj = reg.store.path_for(s["sha256"])
    assert (obj.read_bytes() == data and not os.access(obj, os.W_OK)) or os.getuid() == 0
    assert oct(obj.stat().st_mode & 0o777) == "0o440"  # read-only, and not for other users
    shown = reg.show(r.id)
    assert shown["locations"][0]["uri"] == f"sha256/{s['sha256'][:2]}/{s['sha256'][2:]}"
    assert shown["signatures"][0]["valid"] is True
    assert shown["retention"]["retain_until"].startswith(str(int(r.record["created_at"][:4]) + 7))


def test_same_bytes_same_name_returns_the_existing_record(tmp_path, reg):
    f = write(tmp_path / "a.txt", "x")
    first = reg.add(f)
    size = len(reg.log())
    again = reg.add(f)
    assert again.id == first.id and again.existing
    assert len(reg.log()) == size


def test_new_bytes_under_a_used_name_supersede_the_latest_version(tmp_path, reg):
    f = write(tmp_path / "a.txt", "v1")
    v1 = reg.add(f)
    write(f, "v2 longer")
    v2 = reg.add(f)
    write(f, "v3 even longer")
    v3 = reg.add(f)
    assert {"rel": "supersedes", "id": v1.id} in v2.record["links"]
    assert {"rel": "supersedes", "id": v2.id} in v3.record["links"]


def test_a_directory_becomes_one_record_with_a_manifest(tmp_path, reg):
    d = tmp_path / "shards"
    files = {"b/2.bin": b"two", "a.txt": b"one", "b/c/3.bin": b"three"}
    for rel, data in files.items():
        write(d / rel, data)
    r = reg.add(d)
    subject = r.record["subject"]
    assert subject["files"] == 3 and subject["size"] == 11
    manifest = json.loads(reg.store.read_bytes(subject["digest"]["sha256"]))
    assert [e["path"] for e in manifest] == ["a.txt", "b/2.bin", "b/c/3.bin"]
    assert reg.store.read_bytes(subject["digest"]["sha256"]) == canonical_bytes(manifest)
    assert subject["manifest"] == "sha256:" + subject["digest"]["sha256"]
    for e in manifest:
        assert reg.store.read_bytes(e["sha256"]) == files[e["path"]]


def test_directory_md5_is_dvcs_dir_hash(tmp_path, reg):
    d = tmp_path / "ds"
    write(d / "x.csv", "1\n")
    write(d / "sub" / "y.csv", "2\n")
    # DVC 3: md5 of json.dumps(sorted [{"md5", "relpath"}], sort_keys=True), shown with ".dir".
    body = json.dumps(
        sorted(
            [
                {"md5": hashlib.md5(b"1\n").hexdigest(), "relpath": "x.csv"},
                {"md5": hashlib.md5(b"2\n").hexdigest(), "relpath": "sub/y.csv"},
            ],
            key=lambda e: e["relpath"],
        ),
        sort_keys=True,
    )
    want = hashlib.md5(body.encode()).hexdigest()
    r = reg.add(d)
    assert r.record["subject"]["digest"]["md5"] == want
    assert [x["id"] for x in reg.lookup(f"md5:{want}.dir")] == [r.id]


def test_an_unchanged_file_is_not_read_again(tmp_path, reg):
    f = write(tmp_path / "big.bin", os.urandom(1 << 16))
    age(f)
    assert reg.add(f).files_read == 1
    again = reg.add(f)
    assert again.files_read == 0 and again.existing


def test_a_just_written_file_is_re_read_until_its_mtime_is_safely_old(tmp_path, reg):
    # Racy-git rule: a write in the same clock tick as the hashing must never be missed.
    f = write(tmp_path / "fresh.bin", b"x")
    reg.add(f)
    assert reg.add(f).files_read == 1


def test_re_adding_a_directory_after_touching_one_file_reads_only_that_file(tmp_path, reg):
    d = tmp_path / "many"
    for i in range(200):
        age(write(d / f"{i:03d}.txt", f"row {i}\n"))
    first = reg.add(d)
    assert first.files_read == 200
    assert reg.add(d).files_read == 0
    os.utime(d / "117.txt")  # touched, same bytes
    again = reg.add(d)
    assert again.files_read == 1 and again.id == first.id
    write(d / "117.txt", "changed\n")
    age(d / "117.txt")
    changed = reg.add(d)
    assert changed.files_read == 1 and changed.id != first.id


def test_no_store_registers_without_keeping_bytes(tmp_path, reg):
    r = reg.add(write(tmp_path / "a.txt", "secret"), store=False)
    assert not reg.store.has(r.summary()["sha256"])
    assert reg.show(r.id)["locations"] == []


def test_links_resolve_prefixes_and_reject_unknown_targets(tmp_path, reg):
    base = reg.add(write(tmp_path / "a.txt", "a"))
    derived = reg.add(write(tmp_path / "b.txt", "b"), links=[("derived_from", base.id[7:17])])
    assert {"rel": "derived_from", "id": base.id} in derived.record["links"]
    with pytest.raises(NotFoundError):
        reg.add(write(tmp_path / "c.txt", "c"), links=[("derived_from", "abcdef123456")])
    with pytest.raises(InputError, match="relation"):
        reg.add(write(tmp_path / "c.txt", "c"), links=[("inspired_by", base.id)])


def test_lookup_by_file_sha256_and_md5(tmp_path, reg):
    f = write(tmp_path / "a.txt", "lookup me")
    r = reg.add(f, tags={"k": "v"})
    sha, md5 = r.summary()["sha256"], r.summary()["md5"]
    for target in (str(f), f"sha256:{sha}", f"md5:{md5}"):
        assert reg.lookup(target) == [{"id": r.id, "kind": "dataset", "name": "a.txt"}]
    assert reg.lookup("sha256:" + "0" * 64) == []


@pytest.mark.parametrize("kind", ["code", "datset", "policy"])
def test_add_accepts_only_artifact_kinds(tmp_path, reg, kind):
    with pytest.raises(InputError, match="unknown kind"):
        reg.add(write(tmp_path / "a.txt", "a"), kind=kind)


def test_bulk_registration_signs_logs_and_checkpoints_in_batches(reg):
    before = len(reg.log())
    records = [
        {
            "kind": "dataset",
            "name": f"ext/{i}",
            "subject": {
                "digest": {"sha256": hashlib.sha256(str(i).encode()).hexdigest()},
                "size": i,
            },
        }
        for i in range(250)
    ]
    out = reg.register(records, batch_size=100)
    assert [r.seq for r in out] == list(range(before, before + 250))
    report = reg.verify(full=True)
    assert report["ok"], report["problems"]
    assert report["checked"]["checkpoints"] == 1 + 3  # genesis + three batches
    again = reg.register([r.record for r in out[:5]])  # the same records, same ids
    assert [r.id for r in again] == [r.id for r in out[:5]] and all(r.existing for r in again)
