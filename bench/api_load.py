"""HTTP API throughput and latency: prov serve beside a raw-sqlite3 FastAPI ceiling and MLflow.

    python bench/api_load.py [RECORDS] [SECONDS]

Builds a registry of RECORDS datasets (default 20,000) plus a lineage tree whose upstream
answer is ~1,000 nodes, then measures with wrk (``apt-get install wrk``), for 1 and 32
connections, requests/s and p50/p99 latency of:

- ``GET /v1/records/{id}`` (a random id per request) and ``GET /v1/lookup/sha256/{hex}``, with
  1 and 2 uvicorn workers;
- ``GET /v1/records/{id}/lineage?direction=up`` for a 10-node and a ~1,000-node answer;
- the ceiling: a trivial ``async def`` FastAPI route doing one raw sqlite3 lookup of an
  envelope by id on the same database, one worker;
- the peer: MLflow's tracking server on SQLite, ``model-versions/get`` (if mlflow is installed:
  ``pip install -e .[bench]``).

Then durable registrations from one client, one record per call (sequential httpx) and in
batches of 1,000, against ``create_model_version`` on MLflow. Every registration is committed
with fsync (SQLite synchronous=FULL) before its answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, WORK, header

CEILING = textwrap.dedent(
    """
    import os, sqlite3
    from fastapi import FastAPI
    from fastapi.responses import Response
    app = FastAPI()
    db = sqlite3.connect(os.environ["CEILING_DB"], check_same_thread=False)

    @app.get("/r/{rid}")
    async def get(rid: str):
        row = db.execute("SELECT envelope FROM log_entries WHERE record_id = ?", (rid,)).fetchone()
        return Response(bytes(row[0]), media_type="application/json")
    """
)

LUA = textwrap.dedent(
    """
    local paths = {}
    for line in io.lines("%s") do paths[#paths + 1] = line end
    math.randomseed(%d)
    request = function()
      return wrk.format("GET", paths[math.random(#paths)])
    end
    done = function(summary, latency, requests)
      io.write(string.format("p95_us %%d\\n", latency:percentile(95)))
    end
    """
)


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start(cmd: list[str], url: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_up(url, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(60)


def wrk(base: str, paths: list[str], conns: int, seconds: int, token: str | None) -> dict:
    """req/s, p50 and p99 (ms) of GETs on random ``paths``."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "paths"
        listing.write_text("\n".join(paths) + "\n")
        script = Path(tmp) / "paths.lua"
        script.write_text(LUA % (listing, random.randrange(1 << 30)))
        cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(script)]
        if token:
            cmd += ["-H", f"Authorization: Bearer {token}"]
        out = subprocess.run([*cmd, base], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{bad.group(1)} failed requests against {base}:\n{out}")

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        assert m, out
        value = float(m.group(1))
        return value / 1000 if m.group(2) == "us" else value * 1000 if m.group(2) == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p95 = int(re.search(r"p95_us (\d+)", out).group(1)) / 1000  # type: ignore[union-attr]
    return {"rps": rps, "p50": ms("50%"), "p95": p95, "p99": ms("99%")}


def build(n: int, root: Path) -> tuple[list[str], list[str], str, str]:
    """A registry with ``n`` datasets and a lineage tree; returns ids, sha256s, and the ids of
    a model with a ~10-node and a ~1,000-node upstream answer."""
    from registry.service import Registry

    shutil.rmtree(root, ignore_errors=True)
    reg = Registry.init(root)

    def ds(i: int) -> dict:
        data = f"dataset-{i}".encode()
        digest = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
        return {"kind": "dataset", "name": f"data/{i}", "subject": {"digest": digest, "size": 9}}

    records = reg.register(ds(i) for i in range(n))
    ids = [r.id for r in records]
    shas = [r.record["subject"]["digest"]["sha256"] for r in records]

    def run_over(inputs: list[str], name: str) -> str:
        run = reg.register(
            [{"kind": "run", "name": name, "links": [{"rel": "used", "id": i} for i in inputs]}]
        )[0]
        data = name.encode()
        digest = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
        return reg.register(
            [
                {
                    "kind": "model",
                    "name": name,
                    "subject": {"digest": digest, "size": len(data)},
                    "links": [{"rel": "generated_by", "id": run.id}],
                }
            ]
        )[0].id

    small = run_over(ids[:8], "small-model")
    # ~1,000 nodes: 10 runs over 99 datasets each, their 10 models used by one final run.
    parts = [run_over(ids[100 + 99 * k : 100 + 99 * (k + 1)], f"part-{k}") for k in range(10)]
    large = run_over(parts, "large-model")
    answer = len(reg.lineage_query(large, "up").nodes)
    print(
        f"registry: {len(reg.log())} records; lineage answers of "
        f"{len(reg.lineage_query(small, 'up').nodes)} and {answer} nodes",
        flush=True,
    )
    reg.close()
    return ids, shas, small, large


def registrations(base: str, token: str, n: int, batch: bool) -> float:
    """Durable registrations per second from one client (``n`` new records)."""
    headers = {"Authorization": f"Bearer {token}"}
    tag = os.urandom(4).hex()

    def rec(i: int) -> dict:
        data = f"{tag}-{i}".encode()
        digest = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
        return {
            "record": {
                "kind": "dataset",
                "name": f"w/{tag}/{i}",
                "subject": {"digest": digest, "size": len(data)},
            }
        }

    with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
        start_t = time.perf_counter()
        if batch:
            for k in range(0, n, 1000):
                r = c.post("/v1/records/batch", json=[rec(i) for i in range(k, min(n, k + 1000))])
                assert r.status_code == 201, r.text
        else:
            for i in range(n):
                r = c.post("/v1/records", json=rec(i))
                assert r.status_code == 201, r.text
        return n / (time.perf_counter() - start_t)


def mlflow_peer(work: Path, seconds: int) -> dict | None:
    mlflow = BIN / "mlflow"
    if not mlflow.exists():
        print("mlflow not installed: pip install -e .[bench] for the peer", flush=True)
        return None
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shutil.rmtree(work / "mlflow", ignore_errors=True)
    (work / "mlflow").mkdir(parents=True)
    proc = start(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{work / 'mlflow' / 'db'}",
            "--default-artifact-root",
            str(work / "mlflow" / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        f"{base}/health",
    )
    try:
        api = f"{base}/api/2.0/mlflow"
        httpx.post(f"{api}/registered-models/create", json={"name": "m"}).raise_for_status()
        start_t = time.perf_counter()
        created = 200
        for i in range(created):
            httpx.post(
                f"{api}/model-versions/create", json={"name": "m", "source": f"s3://b/{i}"}
            ).raise_for_status()
        create_rate = created / (time.perf_counter() - start_t)
        paths = [f"/api/2.0/mlflow/model-versions/get?name=m&version={v}" for v in range(1, 201)]
        out = {"create_per_s": create_rate}
        for conns in (1, 32):
            out[conns] = wrk(base, paths, conns, seconds, None)
        return out
    finally:
        stop(proc)


def row(label: str, r: dict, ceiling: dict | None = None) -> str:
    ratio = f" | {r['rps'] / ceiling['rps']:.2f}×" if ceiling else " |"
    return f"| {label} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f}{ratio}"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    header(f"HTTP API, {n:,} records, wrk {seconds} s per figure")
    work = WORK / "api"
    ids, shas, small, large = build(n, work / "reg")
    os.environ.pop("PROV_DATABASE_URL", None)
    from registry.service import Registry

    reg = Registry.open(work / "reg")
    token = reg.create_token(f"bench-{os.urandom(3).hex()}", "admin")[0]
    reg.close()
    prov = [str(BIN / "prov"), "--registry", str(work / "reg" / ".prov"), "serve"]
    by_id = [f"/v1/records/{i}" for i in random.sample(ids, 2000)]
    by_digest = [f"/v1/lookup/sha256/{s}" for s in random.sample(shas, 2000)]
    results: dict[str, dict] = {}

    (work / "ceiling.py").write_text(CEILING)
    port = free_port()
    ceiling = start(
        [
            str(BIN / "uvicorn"),
            "--app-dir",
            str(work),
            "--port",
            str(port),
            "ceiling:app",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        f"http://127.0.0.1:{port}/docs",
        {"CEILING_DB": str(work / "reg" / ".prov" / "registry.db")},
    )
    try:
        for conns in (1, 32):
            results[f"ceiling {conns}"] = wrk(
                f"http://127.0.0.1:{port}",
                [f"/r/{i}" for i in random.sample(ids, 2000)],
                conns,
                seconds,
                None,
            )
    finally:
        stop(ceiling)

    for workers in (1, 2):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start([*prov, "--port", str(port), "--workers", str(workers)], f"{base}/v1/health")
        try:
            for conns in (1, 32):
                results[f"id {workers}w {conns}"] = wrk(base, by_id, conns, seconds, token)
                results[f"digest {workers}w {conns}"] = wrk(base, by_digest, conns, seconds, token)
            if workers == 1:
                for label, rid in (("lineage 10", small), ("lineage 1000", large)):
                    for conns in (1, 32):
                        results[f"{label} {conns}"] = wrk(
                            base,
                            [f"/v1/records/{rid}/lineage?direction=up"],
                            conns,
                            seconds,
                            token,
                        )
                single = [registrations(base, token, 2000, batch=False) for _ in range(3)]
                results["single"] = {"rps": statistics.median(single), "runs": single}
                results["batch"] = {"rps": registrations(base, token, 20_000, batch=True)}
        finally:
            stop(server)

    peer = mlflow_peer(work, seconds)
    print(
        "\n| requests | req/s | p50 ms | p95 ms | p99 ms | of ceiling |\n|---|---|---|---|---|---|"
    )
    for conns in (1, 32):
        c = results[f"ceiling {conns}"]
        print(row(f"ceiling: raw sqlite3 lookup, {conns} conn", c))
        for workers in (1, 2):
            print(
                row(
                    f"prov record by id, {workers} worker(s), {conns} conn",
                    results[f"id {workers}w {conns}"],
                    c,
                )
            )
            print(
                row(
                    f"prov lookup by sha256, {workers} worker(s), {conns} conn",
                    results[f"digest {workers}w {conns}"],
                    c,
                )
            )
        for label in ("lineage 10", "lineage 1000"):
            print(
                row(
                    f"prov {label}-node upstream, 1 worker, {conns} conn",
                    results[f"{label} {conns}"],
                    c,
                )
            )
        if peer:
            print(row(f"MLflow get_model_version, {conns} conn", peer[conns], c))
    print(
        f"\nregistrations, one client: {results['single']['rps']:,.0f}/s one per call, "
        f"{results['batch']['rps']:,.0f}/s in batches of 1,000"
        + (f"; MLflow create_model_version {peer['create_per_s']:,.0f}/s" if peer else "")
    )
    print(json.dumps(results, indent=None), flush=True)


if __name__ == "__main__":
    main()
