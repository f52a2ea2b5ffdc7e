"""Re-adding a directory of many files after touching one: how many files are read, and how long
the whole command takes, against ``dvc add`` doing the same.

Usage: python bench/add_dir.py [FILES] [RUNS]
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from common import BIN, WORK, fmt, header, median, output, repeat, sh


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ws = WORK / "add-dir"
    shutil.rmtree(ws, ignore_errors=True)
    data = ws / "shards"
    for i in range(files):
        sub = data / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:05d}.csv").write_bytes(os.urandom(512) + f"{i}\n".encode())
    old = 3_600_000_000_000
    for p in data.rglob("*.csv"):
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - old))
    prov, dvc = str(BIN / "prov"), str(BIN / "dvc")
    env = {"DVC_NO_ANALYTICS": "1"}
    sh([prov, "init", str(ws)])
    header(f"re-adding a directory of {files:,} files after touching one, median of {runs}")
    first = sh([prov, "add", "shards"], cwd=ws)
    touched = data / "05" / "05123.csv" if files > 5123 else next(data.rglob("*.csv"))
    reads = []

    def prov_readd() -> float:
        os.utime(touched)
        t = sh([prov, "add", "shards"], cwd=ws)
        return t

    times = repeat(runs, lambda: None, prov_readd)
    os.utime(touched)
    out = json.loads(output([prov, "add", "shards", "--json"], cwd=ws))["records"][0]
    reads.append(out["files_read"])
    rows = {
        "prov add (first time, every file read and stored)": [first],
        "prov add after touching one file": times,
    }
    if (BIN / "dvc").exists():
        sh([dvc, "init", "--no-scm", "-q"], cwd=ws, env=env)
        rows["dvc add (first time)"] = [sh([dvc, "add", "-q", "shards"], cwd=ws, env=env)]

        def dvc_readd() -> float:
            os.utime(touched)
            return sh([dvc, "add", "-q", "shards"], cwd=ws, env=env)

        rows["dvc add after touching one file"] = repeat(runs, lambda: None, dvc_readd)
    print("| command | median |\n|---|---|")
    for name, ts in rows.items():
        print(f"| {name} | {fmt(median(ts))} |")
    print(f"\nfiles read by the re-add: {reads[0]} of {files:,}")


if __name__ == "__main__":
    main()
