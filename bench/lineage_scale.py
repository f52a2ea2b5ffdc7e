"""Lineage at scale: a registry of N records (default 1,000,000) and ~2.7 links per record shaped
like ML lineage, built through the bulk path; upstream and downstream latency from 200 random
models, and the largest downstream impact sets, on SQLite or PostgreSQL.

The shape: ~6,700 pipelines of 20–80 stages (chains to depth ~50). Each stage is a run using
2–5 inputs (the previous stage's main output, earlier outputs of the pipeline, private raw data,
now and then a popular shared dataset) plus its pipeline's code and environment, and making 1–3
outputs (datasets or models, some also ``derived_from`` an input). 40 shared datasets are used
with Zipf-like popularity, so the most used reach hundreds of thousands of descendants.

Peer, measured in the same run: the bare recursive CTE (log positions only, no ids, kinds, names
or edges) over the same covering indexes, which is the floor for any answer that stays in SQL.
Impact sets are measured both as the full answer (records and the links among them) and as the
record set alone (``edges=False``, ``prov lineage --format list``).

The registry is built once under build/bench/lineage-N-BACKEND and reused.

Usage: python bench/lineage_scale.py [N] [sqlite|postgresql] [POSTGRESQL_URL]
"""

from __future__ import annotations

import random
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

from common import WORK, header

from provenance.records import encode_record
from registry.service import Registry

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/prov_bench_lineage"
BASE = 40
CODES, ENVS = 500, 50


class Shape:
    """Generates the records in an order where every link names an earlier record."""

    def __init__(self, n: int, seed: int = 7) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.count = 0
        self.links = 0
        self.models: list[str] = []
        self.base: list[str] = []

    def _rec(self, kind: str, name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        self.count += 1
        us = self.count
        rec = {
            "type": "prov.record/v1",
            "kind": kind,
            "name": name,
            "created_at": f"2026-01-01T{us // 3_600_000_000 % 24:02d}:"
            f"{us // 60_000_000 % 60:02d}:{us // 1_000_000 % 60:02d}.{us % 1_000_000:06d}Z",
            "created_by": "bench@host",
            **fields,
        }
        self.links += len(rec.get("links", []))
        rid, _ = encode_record(rec)
        return rid, rec

    def _artifact(self, kind: str, name: str, links: list[dict[str, str]] | None = None) -> Any:
        sha = f"{self.rng.getrandbits(256):064x}"
        subject = {"digest": {"sha256": sha}, "size": self.rng.randrange(1, 1 << 30)}
        return self._rec(kind, name, subject=subject, **({"links": links} if links else {}))

    def records(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        codes, envs = [], []
        for i in range(CODES):
            rid, rec = self._rec(
                "code", f"repo{i % 50}@{i:012x}", attributes={"commit": f"{i:040x}"}
            )
            codes.append(rid)
            yield rec
        for i in range(ENVS):
            rid, rec = self._rec("environment", f"env-{i}", attributes={"python": "3.11"})
            envs.append(rid)
            yield rec
        for i in range(BASE):
            rid, rec = self._artifact("dataset", f"shared/{i}")
            self.base.append(rid)
            yield rec
        weights = [1 / (i + 1) ** 0.8 for i in range(BASE)]
        p = 0
        while self.count < self.n:
            p += 1
            code, env = rng.choice(codes), rng.choice(envs)
            outputs: list[str] = []
            main = None
            for stage in range(rng.randint(20, 80)):
                if self.count >= self.n:
                    break
                inputs: set[str] = set()
                if main is None:
                    inputs.update(rng.choices(self.base, weights, k=rng.randint(1, 2)))
                else:
                    inputs.add(main)
                while len(inputs) < rng.randint(2, 5):
                    roll = rng.random()
                    if roll < 0.005:
                        inputs.add(rng.choices(self.base, weights)[0])
                    elif roll < 0.9 and outputs:
                        inputs.add(rng.choice(outputs[-30:]))
                    else:
                        rid, rec = self._artifact("dataset", f"p{p}/raw/{stage}-{len(inputs)}")
                        inputs.add(rid)
                        yield rec
                links = [{"rel": "used", "id": i} for i in sorted(inputs)]
                links += [{"rel": "code", "id": code}, {"rel": "environment", "id": env}]
                run, rec = self._rec("run", f"p{p}/stage{stage}", links=links)
                yield rec
                made = []
                for k in range(rng.randint(1, 3)):
                    kind = "model" if rng.random() < 0.3 else "dataset"
                    out_links = [{"rel": "generated_by", "id": run}]
                    if rng.random() < 0.9:
                        out_links.append({"rel": "derived_from", "id": sorted(inputs)[0]})
                    rid, rec = self._artifact(kind, f"p{p}/stage{stage}/out{k}", out_links)
                    made.append(rid)
                    if kind == "model":
                        self.models.append(rid)
                    yield rec
                main = made[0]
                outputs.extend(made)
        self.pipelines = p


def build(n: int, backend: str, url: str | None) -> Registry:
    d = WORK / f"lineage-{n}-{backend}"
    if (d / ".prov" / "config").exists():
        reg = Registry.open(d)
        if reg.checkpoint()["tree_size"] >= n:
            return reg
        reg.close()
    shutil.rmtree(d, ignore_errors=True)
    if backend == "postgresql":
        import psycopg

        base, _, name = (url or PG_DEFAULT).rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    reg = Registry.init(d, retention=None, database_url=url if backend == "postgresql" else None)
    shape = Shape(n)
    start = time.perf_counter()
    reg.register(shape.records(), batch_size=5000)
    took = time.perf_counter() - start
    print(
        f"built {shape.count:,} records, {shape.links:,} links, {shape.pipelines:,} pipelines "
        f"in {took:.0f} s ({shape.count / took:,.0f} records/s)",
        flush=True,
    )
    return reg


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def bare_cte(conn: Any, root: str, direction: str) -> int:
    """The floor: the same walk over the same covering indexes, counting positions only."""
    from sqlalchemy import text

    nxt, cur = ("dst_seq", "src_seq") if direction == "up" else ("src_seq", "dst_seq")
    seq = conn.execute(text("SELECT seq FROM records WHERE id = :i"), {"i": root}).scalar()
    sql = f"""WITH RECURSIVE walk(seq) AS (SELECT CAST(:root AS BIGINT) UNION
              SELECT l.{nxt} FROM links l JOIN walk w ON l.{cur} = w.seq
              WHERE l.rel || '' IN ('used','generated_by','derived_from','code','environment'))
              SELECT count(*) FROM walk"""
    return int(conn.execute(text(sql), {"root": seq}).scalar())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    url = (sys.argv[3] if len(sys.argv) > 3 else PG_DEFAULT) if backend == "postgresql" else None
    reg = build(n, backend, url)
    from sqlalchemy import text

    from registry import db

    if backend == "postgresql":  # statistics and visibility map after a bulk load, as autovacuum
        with reg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))

    with db.read_tx(reg.engine) as conn:
        records = conn.execute(text("SELECT count(*) FROM records")).scalar()
        links = conn.execute(text("SELECT count(*) FROM links")).scalar()
        models = list(
            conn.execute(text("SELECT id FROM records WHERE kind = 'model' ORDER BY seq")).scalars()
        )
        shared = list(
            conn.execute(
                text("SELECT id FROM records WHERE name LIKE 'shared/%' ORDER BY seq")
            ).scalars()
        )
    header(f"lineage on {backend}: {records:,} records, {links:,} links")
    sample = random.Random(11).sample(models, 200)
    rows = []
    for direction in ("up", "down"):
        ours, bare, sizes = [], [], []
        for rid in sample:
            reg.lineage_query(rid, direction)  # warm the pages this answer touches
            start = time.perf_counter()
            answer = reg.lineage_query(rid, direction)
            ours.append(time.perf_counter() - start)
            sizes.append(len(answer.nodes))
            with db.read_tx(reg.engine) as conn:
                start = time.perf_counter()
                bare_cte(conn, rid, direction)
                bare.append(time.perf_counter() - start)
        rows.append((direction, sizes, ours, bare))
    print("| from 200 random models | nodes p50 / max | prov p50 | prov p95 | bare CTE p50 | "
          "bare CTE p95 |\n|---|---|---|---|---|---|")  # fmt: skip
    for direction, sizes, ours, bare in rows:
        print(
            f"| `--{direction}` | {statistics.median(sizes):.0f} / {max(sizes):,} "
            f"| {statistics.median(ours) * 1000:.2f} ms | {pct(ours, 95) * 1000:.2f} ms "
            f"| {statistics.median(bare) * 1000:.2f} ms | {pct(bare, 95) * 1000:.2f} ms |"
        )
    print(
        "\n| downstream impact of | nodes | edges | records and links (median of 3) "
        "| records only (median of 3) | bare CTE |\n|---|---|---|---|---|---|"
    )
    for i in (0, 1, 3, 9):
        full: list[float] = []
        only: list[float] = []
        nodes = links = 0
        for _ in range(3):
            for edges, times in ((True, full), (False, only)):
                start = time.perf_counter()
                answer = reg.lineage_query(shared[i], "down", edges=edges)
                times.append(time.perf_counter() - start)
                nodes = len(answer.nodes)
                if edges:
                    links = len(answer.edges)
                del answer  # one answer alive at a time, as in a process answering one question
        with db.read_tx(reg.engine) as conn:
            start = time.perf_counter()
            bare_cte(conn, shared[i], "down")
            bare = time.perf_counter() - start
        print(
            f"| shared/{i} | {nodes:,} | {links:,} | {statistics.median(full):.2f} s "
            f"| {statistics.median(only):.2f} s | {bare:.2f} s |"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {rss:.0f} MB")


if __name__ == "__main__":
    main()
