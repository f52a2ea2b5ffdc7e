"""Bulk registration through the Python API (sign, log, commit in batches) on SQLite, against
the record signing pipeline alone (canonical bytes, id, Ed25519, envelope) in the same run.

Usage: python bench/bulk_register.py [RECORDS] [RUNS]
"""

from __future__ import annotations

import shutil
import sys
import time

from common import WORK, header, median

from provenance.dsse import Envelope
from provenance.keys import Signer
from provenance.records import encode_record
from registry.service import Registry


def records(n: int, tag: str) -> list[dict]:
    return [
        {
            "kind": "dataset",
            "name": f"ext/{tag}/{i}",
            "created_at": "2026-11-21T10:00:00.000000Z",
            "subject": {"digest": {"sha256": f"{i:064x}", "md5": f"{i:032x}"}, "size": i},
            "tags": {"source": "bench"},
        }
        for i in range(n)
    ]


def pipeline_alone(recs: list[dict]) -> float:
    signer = Signer.generate()
    start = time.perf_counter()
    for r in recs:
        full = {"type": "prov.record/v1", "created_by": "bench@host", **r}
        _, data = encode_record(full)
        Envelope.sign(data, [signer]).to_bytes()
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    header(f"bulk registration of {n:,} records, median of {runs}")
    alone, full = [], []
    for run in range(runs):
        recs = records(n, str(run))
        alone.append(pipeline_alone(recs))
        d = WORK / "bulk"
        shutil.rmtree(d, ignore_errors=True)
        reg = Registry.init(d, retention=None)
        start = time.perf_counter()
        reg.register(recs)
        full.append(time.perf_counter() - start)
        reg.close()
    a, f = n / median(alone), n / median(full)
    print("| what | records/s (median) |\n|---|---|")
    print(f"| signing pipeline alone (encode, id, sign, envelope) | {a:,.0f} |")
    print(
        f"| Registry.register (+ log, Merkle nodes, derived tables, checkpoint, commit) | "
        f"{f:,.0f} ({f / a:.2f}× the pipeline alone) |"
    )


if __name__ == "__main__":
    main()
