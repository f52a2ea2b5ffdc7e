"""``prov retention plan`` over a large registry (target: 1,000,000 records in under 10 s).

The registry is built once through the Python API and kept in WORK/retention-plan-N for later
runs: signed, logged records, half datasets and a quarter models (both under the default
seven-years policy, the models also under a 30-day dev policy with purge) and a quarter runs
no policy covers. Their ``created_at`` is spread evenly over the eight years before the build,
so end dates fall on some 2,900 distinct days and an eighth of the artifacts have expired, as
in a registry in use.

Usage: python bench/retention_plan.py [RECORDS] [RUNS]
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from common import WORK, header, median

from provenance.timefmt import format_time, utcnow
from registry.service import Registry


def build(n: int) -> Registry:
    path = WORK / f"retention-plan-{n}"
    if (path / ".prov" / "done").exists():
        return Registry.open(path)
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    reg = Registry.init(path)
    reg.add_policy("dev", preset="dev-ttl-30d")
    start = time.perf_counter()
    first_day = utcnow() - timedelta(days=8 * 365)
    step = timedelta(days=8 * 365) / n
    batch = 10_000
    for first in range(0, n, batch):
        recs = []
        for i in range(first, min(n, first + batch)):
            kind = ("dataset", "dataset", "model", "run")[i % 4]
            rec = {
                "kind": kind,
                "name": f"bench/{kind}/{i}",
                "tags": {"source": "bench"},
                "created_at": format_time(first_day + i * step),
            }
            if kind != "run":
                rec["subject"] = {"digest": {"sha256": f"{i:064x}", "md5": f"{i:032x}"}, "size": i}
            recs.append(rec)
        reg.register(recs)
    print(f"built {n:,} records in {time.perf_counter() - start:.0f} s", flush=True)
    (path / ".prov" / "done").touch()
    return reg


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    header(f"prov retention plan over {n:,} records")
    reg = build(n)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        plan = reg.retention_plan()
        times.append(time.perf_counter() - start)
    print(f"states: {plan['states']}")
    each = ", ".join(f"{t:.2f}" for t in times)
    print(f"plan: median {median(times):.2f} s over {runs} runs ({each})")
    reg.close()


if __name__ == "__main__":
    main()
