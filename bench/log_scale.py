"""A log of N records (default 1,000,000): proof latency and verification throughput.

Builds the registry once under build/bench/log-N (reused by later runs), then measures:
inclusion and consistency proofs (the service calls the CLI and API make, p50/p95 over 2,000
random ones), ``verify`` (fast) and ``verify --full`` (records/s, against Ed25519 verification
alone on every core: the ceiling).

Usage: python bench/log_scale.py [N] [RUNS]
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from common import WORK, header, median

from provenance.keys import Signer, verify_signature
from registry.service import Registry


def build(n: int) -> Registry:
    d = WORK / f"log-{n}"
    if (d / ".prov" / "config").exists():
        reg = Registry.open(d)
        if len(reg.log(limit=1)) and reg.log(limit=1)[0]["seq"] >= n - 1:
            return reg
        reg.close()
        import shutil

        shutil.rmtree(d)
    reg = Registry.init(d, retention=None)
    start = time.perf_counter()
    batch = 50_000
    for lo in range(0, n - 2, batch):
        reg.register(
            {
                "kind": "dataset",
                "name": f"ext/{i}",
                "subject": {"digest": {"sha256": f"{i:064x}"}, "size": i},
            }
            for i in range(lo, min(lo + batch, n - 2))
        )
    print(f"built {n:,} records in {time.perf_counter() - start:.0f} s", flush=True)
    return reg


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1]


def ed25519_rate(seconds: float = 2.0) -> float:
    s = Signer.generate()
    msg = b"x" * 600
    sig = s.sign(msg)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        verify_signature(s.public_raw, sig, msg)
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    reg = build(n)
    size = reg.checkpoint()["tree_size"]
    header(f"a log of {size:,} records")
    rng = random.Random(7)
    from sqlalchemy import select

    from registry import db
    from registry.db.tables import T_ENTRIES as t

    with db.read_tx(reg.engine) as conn:  # ids of 2,000 entries drawn from the whole log
        seqs = rng.sample(range(size), 2000)
        ids = list(conn.execute(select(t.c.record_id).where(t.c.seq.in_(seqs))).scalars())
    inc, con = [], []
    for rid in ids:
        t = time.perf_counter()
        reg.inclusion_proof(rid)
        inc.append(time.perf_counter() - t)
        old = rng.randint(1, size - 1)
        t = time.perf_counter()
        reg.consistency_proof(old)
        con.append(time.perf_counter() - t)
    print("| proof (service call, 2,000 random) | p50 | p95 |\n|---|---|---|")
    for name, xs in (("inclusion", inc), ("consistency", con)):
        print(f"| {name} | {pct(xs, 50) * 1000:.2f} ms | {pct(xs, 95) * 1000:.2f} ms |")
    fast, full = [], []
    for _ in range(runs):
        t = time.perf_counter()
        assert reg.verify()["ok"]
        fast.append(time.perf_counter() - t)
    for _ in range(max(1, runs // 2)):
        t = time.perf_counter()
        assert reg.verify(full=True)["ok"]
        full.append(time.perf_counter() - t)
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        ceiling = sum(pool.map(ed25519_rate, [2.0] * cores))
    print("\n| verify | median | records/s |\n|---|---|---|")
    print(
        f"| fast (checkpoints, tree recomputed from leaves) | {median(fast):.2f} s | "
        f"{size / median(fast):,.0f} |"
    )
    print(
        f"| --full (every record and signature) | {median(full):.2f} s | "
        f"{size / median(full):,.0f} |"
    )
    print(f"| Ed25519 verification alone on {cores} cores (the ceiling) | | {ceiling:,.0f} |")


if __name__ == "__main__":
    main()
