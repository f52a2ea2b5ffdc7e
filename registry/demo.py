"""``make demo``: build a small registry with real lineage and verify it, through the CLI.

Usage: ``python -m registry.demo [DIR]`` (default ``build/demo``; DIR is recreated).
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

from provenance.records import short_id
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


PREPARE = """\
import csv, os, sys
os.makedirs("data/features", exist_ok=True)
rows = list(csv.DictReader(open("data/raw.csv")))
for part in range(4):
    with open(f"data/features/part-{part:03d}.csv", "w") as f:
        f.write("age,income,label\\n")
        for r in rows[part::4]:
            f.write(f"{int(r['age']) / 100:.2f},{float(r['income']) / 1e5:.4f},{r['label']}\\n")
"""

TRAIN = """\
import glob, hashlib, json, sys
lr = float(sys.argv[1])
rows = [ln for p in sorted(glob.glob("data/features/*.csv")) for ln in open(p).read().split()[1:]]
weights = hashlib.sha256(f"{lr}:{len(rows)}".encode()).digest() * 8192
open("model.bin", "wb").write(weights)
json.dump({"auc": round(0.8 + lr, 4), "rows": len(rows)}, open("metrics.json", "w"))
"""


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
    (root / "prepare.py").write_text(PREPARE)
    (root / "train.py").write_text(TRAIN)
    (root / ".gitignore").write_text(".prov/\ndata/\nmodel.bin\nmetrics.json\ncheckpoint.txt\n")


def _git(root: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="demo", GIT_AUTHOR_EMAIL="demo@example.org")
    env.update(GIT_COMMITTER_NAME="demo", GIT_COMMITTER_EMAIL="demo@example.org")
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def main(argv: list[str]) -> None:
    root = Path(argv[0] if argv else "build/demo").absolute()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    _write_data(root, 2000, seed=7)
    if shutil.which("git"):  # the runs' code: a real commit (without git, runs say it is missing)
        _git(root, "init", "-q", "-b", "main")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "prepare and train")
    os.chdir(root)  # prov run captures the commit here, and -i/-o paths are relative to it
    _prov("init", str(root))

    def ids(out: str, key: str = "records") -> list[str]:
        doc = json.loads(out)
        return [r["id"] for r in doc[key]] if key == "records" else [doc[key]["id"]]

    def pipeline(lr: str) -> tuple[str, str]:
        _prov("run", "prepare", "-i", "data/raw.csv", "-o", "data/features", "--",
              sys.executable, "prepare.py")  # fmt: skip
        out = _prov("run", "train", "-i", "data/features", "-p", f"lr={lr}", "-m",
                    "@metrics.json", "-o", "model.bin", "--json", "--",
                    sys.executable, "train.py", lr)  # fmt: skip
        doc = json.loads(out)
        return doc["run"]["id"], doc["outputs"][0]["id"]

    raw = ids(_prov("add", "data/raw.csv", "--tag", "source=crm-export", "--json"))[0]
    _, model_v1 = pipeline("0.01")
    # The raw export is corrected (new bytes under the same name: version 2) and retrained.
    with (root / "data" / "raw.csv").open("a") as f:
        f.write("2000,41,51234.5,1\n")
    _prov("add", "data/raw.csv", "--tag", "source=crm-export")
    _, model_v2 = pipeline("0.02")
    _prov("attest", short_id(model_v2), "--predicate", "approval", "--body",
          '{"by": "model-risk", "ticket": "MR-1042"}')  # fmt: skip
    _prov("lineage", short_id(model_v2))
    _prov("lineage", short_id(raw), "--down")
    _prov("diff", short_id(model_v1), short_id(model_v2))
    _prov("log", "-n", "8")
    _prov("show", short_id(raw))
    _prov("verify", "--full", "--content")
    _prov("checkpoint", "-o", str(root / "checkpoint.txt"))
    _prov("proof", "inclusion", short_id(raw))
    print(f"\ndemo registry: {root / '.prov'}  (try: cd {root} && prov log)")


if __name__ == "__main__":
    main(sys.argv[1:])
