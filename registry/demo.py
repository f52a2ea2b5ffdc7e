"""``make demo``: build a small registry with real lineage and verify it, through the CLI.

Usage: ``python -m registry.demo [DIR]`` (default ``build/demo``; DIR is recreated).
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import sys
from io import StringIO
from pathlib import Path

from registry.cli.main import run


def _prov(*args: str) -> str:
    """Run a prov command, echo it and its output, and return its stdout."""
    print(f"\n$ prov {' '.join(args)}", flush=True)
    real_stdout, buf = sys.stdout, StringIO()
    sys.stdout = buf
    try:
        code = run(list(args))
    finally:
        sys.stdout = real_stdout
    print(buf.getvalue(), end="", flush=True)
    if code not in (0,):
        raise SystemExit(f"demo: `prov {' '.join(args)}` exited {code}")
    return buf.getvalue()


def _write_data(root: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    raw = root / "data" / "raw.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    with raw.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "age", "income", "label"])
        for i in range(rows):
            w.writerow(
                [i, rng.randint(18, 90), round(rng.gauss(50_000, 15_000), 2), rng.choice([0, 1])]
            )
    shards = root / "data" / "features"
    shards.mkdir(exist_ok=True)
    for s in range(4):
        (shards / f"part-{s:03d}.csv").write_text(
            "\n".join(f"{rng.random():.6f},{rng.random():.6f}" for _ in range(rows // 4)) + "\n"
        )


def main(argv: list[str]) -> None:
    root = Path(argv[0] if argv else "build/demo").absolute()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    _write_data(root, 2000, seed=7)
    reg = ["--registry", str(root)]
    _prov("init", str(root))

    def add(*args: str) -> str:
        out = json.loads(_prov(*reg, "add", *args, "--json"))
        return str(out["records"][0]["id"])

    raw = add(str(root / "data" / "raw.csv"), "--tag", "source=crm-export")
    feats = add(str(root / "data" / "features"), "--link", f"derived_from={raw}")
    model = root / "model.bin"
    model.write_bytes(random.Random(1).randbytes(256 * 1024))
    add(str(model), "--kind", "model", "--link", f"derived_from={feats}")
    # The raw export is corrected: new bytes under the same name become version 2.
    with (root / "data" / "raw.csv").open("a") as f:
        f.write("2000,41,51234.5,1\n")
    add(str(root / "data" / "raw.csv"), "--tag", "source=crm-export")
    _prov(*reg, "log", "--kind", "dataset")
    _prov(*reg, "show", raw[7:19])
    _prov(*reg, "lookup", str(root / "model.bin"))
    _prov(*reg, "verify", "--full", "--content")
    _prov(*reg, "checkpoint", "-o", str(root / "checkpoint.txt"))
    _prov(*reg, "proof", "inclusion", raw[7:19])
    print(f"\ndemo registry: {root / '.prov'}  (try: prov --registry {root} log)")


if __name__ == "__main__":
    main(sys.argv[1:])
