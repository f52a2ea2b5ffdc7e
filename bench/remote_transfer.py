"""Push and pull throughput to a real S3 server on loopback (SeaweedFS ``weed mini``), against
``dvc push`` and ``dvc fetch`` of the same data in the same run.

Two cases: one large file, and a directory of many small files. Each run pushes into a fresh
bucket (so nothing is skipped as already there), the tools alternating; a pull starts from an
emptied local store (prov) or cache (DVC). prov re-hashes every byte it copies (SHA-256 and
MD5, both ways) and logs a signed ``stored-at`` record; DVC trusts its cache and logs nothing.

Usage: python bench/remote_transfer.py [FILE_MIB] [FILES] [RUNS]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from common import BIN, ROOT, WORK, header, median, sh

sys.path.insert(0, str(ROOT))
from tests.support.s3server import S3Server


def _clear(path) -> None:
    if path.exists():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=True)
        shutil.rmtree(path)


def _case(name: str, ws, s3: S3Server, runs: int, size: int) -> dict[str, list[float]]:
    slug = ws.name
    prov, dvc = str(BIN / "prov"), str(BIN / "dvc")
    env = {**s3.env, "DVC_NO_ANALYTICS": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    added = subprocess.run(
        [prov, "add", "data", "--json"], cwd=ws, check=True, capture_output=True, text=True
    )
    rid = json.loads(added.stdout)["records"][0]["id"]
    sh([dvc, "init", "--no-scm", "-q"], cwd=ws, env=env)
    sh([dvc, "add", "-q", "data"], cwd=ws, env=env)
    client = s3.client()
    times: dict[str, list[float]] = {
        k: [] for k in ("prov push", "dvc push", "prov pull", "dvc fetch")
    }
    for i in range(runs):
        bucket = f"bench-{slug}-{i}"
        client.create_bucket(Bucket=bucket)
        sh(
            [
                prov,
                "remote",
                "add",
                f"s3-{i}",
                f"s3://{bucket}/prov",
                "--endpoint-url",
                s3.endpoint,
            ],
            cwd=ws,
            env=env,
        )
        sh([dvc, "remote", "add", "-f", "s3", f"s3://{bucket}/dvc"], cwd=ws, env=env)
        sh([dvc, "remote", "modify", "s3", "endpointurl", s3.endpoint], cwd=ws, env=env)
        pushes = [
            ("prov push", [prov, "push", rid, "--remote", f"s3-{i}"]),
            ("dvc push", [dvc, "push", "-q", "-r", "s3"]),
        ]
        for label, cmd in pushes if i % 2 == 0 else pushes[::-1]:
            times[label].append(sh(cmd, cwd=ws, env=env))
        _clear(ws / ".prov" / "objects" / "sha256")
        _clear(ws / ".dvc" / "cache")
        pulls = [
            ("prov pull", [prov, "pull", rid, "--remote", f"s3-{i}"]),
            ("dvc fetch", [dvc, "fetch", "-q", "-r", "s3"]),
        ]
        for label, cmd in pulls if i % 2 == 0 else pulls[::-1]:
            times[label].append(sh(cmd, cwd=ws, env=env))
    sh([prov, "verify", "--content"], cwd=ws, env=env)  # what was pulled is intact
    mib = size / (1 << 20)
    print(f"| {name} | tool | median | MiB/s | vs DVC |\n|---|---|---|---|---|")
    for op, peer in (("push", "dvc push"), ("pull", "dvc fetch")):
        ours, theirs = median(times[f"prov {op}"]), median(times[peer])
        print(f"| {op} | prov {op} | {ours:.2f} s | {mib / ours:.0f} | {ours / theirs:.2f}× |")
        print(f"| {op} | {peer} | {theirs:.2f} s | {mib / theirs:.0f} | 1 |")
    print(f"runs: {json.dumps({k: [round(t, 2) for t in v] for k, v in times.items()})}\n")
    return times


def main() -> None:
    file_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if not (BIN / "dvc").exists():
        sys.exit("needs dvc and dvc-s3: pip install -e '.[dvc,s3,bench]'")
    base = WORK / "remote-transfer"
    _clear(base)
    header(f"push/pull to S3 on loopback (SeaweedFS), median of {runs}")
    with S3Server(base / "s3") as s3:
        one = base / "one-file"
        (one / "data").mkdir(parents=True)
        with (one / "data" / "blob.bin").open("wb") as f:
            for _ in range(file_mib):
                f.write(os.urandom(1 << 20))
        sh([str(BIN / "prov"), "init", str(one)])
        _case(f"{file_mib} MiB file", one, s3, runs, file_mib << 20)
        many = base / "many-files"
        for i in range(files):
            sub = many / "data" / f"{i // 500:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"{i:05d}.bin").write_bytes(os.urandom(64 << 10))
        sh([str(BIN / "prov"), "init", str(many)])
        _case(f"{files:,} files of 64 KiB", many, s3, runs, files * (64 << 10))


if __name__ == "__main__":
    main()
