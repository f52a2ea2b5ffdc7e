"""``prov add`` of one large file against ``md5sum`` and ``dvc add``, whole commands.

Each ``prov add``/``dvc add`` run starts from an empty registry/cache (set-up untimed), with the
file in the page cache for every tool. Then the re-add of the unchanged file, whole command.

Usage: python bench/add_file.py [SIZE_MIB] [RUNS]
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from common import BIN, WORK, fmt, header, median, output, repeat, sh


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ws = WORK / "add-file"
    ws.mkdir(parents=True, exist_ok=True)
    big = ws / "big.bin"
    if not big.exists() or big.stat().st_size != size_mib << 20:
        with big.open("wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(1 << 20))
    st = big.stat()
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns - 3_600_000_000_000))  # an old file
    prov, dvc = str(BIN / "prov"), str(BIN / "dvc")
    env = {"DVC_NO_ANALYTICS": "1"}
    sh(["md5sum", str(big)])  # warm the page cache
    header(f"`prov add` of a {size_mib} MiB file, median of {runs}")

    def fresh_prov() -> None:
        shutil.rmtree(ws / ".prov", ignore_errors=True)
        sh([prov, "init", str(ws)])
        os.sync()  # the deleted store's blocks and the init are flushed before timing

    def fresh_dvc() -> None:
        for p in (ws / ".dvc", ws / "big.bin.dvc", ws / ".dvcignore"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        sh([dvc, "init", "--no-scm", "-q"], cwd=ws, env=env)
        # A fresh state database each run, so DVC hashes the file as prov does.
        sh([dvc, "config", "core.site_cache_dir", str(ws / ".dvc" / "site")], cwd=ws, env=env)
        os.sync()

    rows = {}
    rows["md5sum"] = repeat(runs, lambda: None, lambda: sh(["md5sum", str(big)]))
    rows["prov add (sha256 + md5, copy into the store, fsync)"] = repeat(
        runs, fresh_prov, lambda: sh([prov, "add", "big.bin"], cwd=ws)
    )
    rows["prov add, unchanged (re-add)"] = repeat(
        runs, lambda: None, lambda: sh([prov, "add", "big.bin"], cwd=ws)
    )
    out = json.loads(output([prov, "add", "big.bin", "--json"], cwd=ws))["records"][0]
    assert out["files_read"] == 0, "the re-add read the file again"
    have_dvc = (BIN / "dvc").exists()
    if have_dvc:
        rows["dvc add (md5, copy into its cache)"] = repeat(
            runs, fresh_dvc, lambda: sh([dvc, "add", "-q", "big.bin"], cwd=ws, env=env)
        )
        rows["dvc add, unchanged (re-add)"] = repeat(
            runs, lambda: None, lambda: sh([dvc, "add", "-q", "big.bin"], cwd=ws, env=env)
        )
    md5 = median(rows["md5sum"])
    print("| command | median | ratio to md5sum |\n|---|---|---|")
    for name, times in rows.items():
        print(f"| {name} | {fmt(median(times))} | {median(times) / md5:.2f}× |")
    if have_dvc:
        ratio = median(rows["prov add (sha256 + md5, copy into the store, fsync)"]) / median(
            rows["dvc add (md5, copy into its cache)"]
        )
        print(f"\nprov add / dvc add = {ratio:.2f}")
    else:
        print("\n(dvc not installed: `pip install -e .[bench]` for the DVC rows)")


if __name__ == "__main__":
    main()
