"""SHA-256 + MD5 of one stream: one thread or two, and the read size (both cores, measured).

Usage: python bench/hash_throughput.py [SIZE_MIB] [RUNS]
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

from common import WORK, fmt, header, median

from provenance.digests import digest_stream
from registry.stores.objects import ObjectStore


def one_thread(path: str, chunk: int) -> None:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    buf = bytearray(chunk)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            view = memoryview(buf)[:n]
            sha.update(view)
            md5.update(view)


def single(path: str, algo: str, chunk: int) -> None:
    h = hashlib.new(algo)
    buf = bytearray(chunk)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(memoryview(buf)[:n])


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"hash-{size_mib}m.bin"
    if not path.exists() or path.stat().st_size != size_mib << 20:
        with path.open("wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(1 << 20))
    header(f"hashing {size_mib} MiB from the page cache, median of {runs}")
    cases = {
        "sha256 alone (4 MiB reads)": lambda: single(str(path), "sha256", 4 << 20),
        "md5 alone (4 MiB reads)": lambda: single(str(path), "md5", 4 << 20),
        "sha256+md5, one thread (4 MiB)": lambda: one_thread(str(path), 4 << 20),
    }
    for mib in (1, 4, 16):

        def two(mib: int = mib) -> None:
            with open(path, "rb", buffering=0) as f:
                digest_stream(f, chunk_size=mib << 20)

        cases[f"sha256+md5, digest_stream two threads ({mib} MiB)"] = two

    store = ObjectStore(WORK / "hash-store")

    def with_store() -> None:
        with open(path, "rb", buffering=0) as f, store.writer(size_mib << 20) as w:
            d = digest_stream(f, w)
            w.commit(d.sha256)
        store.publish()
        obj = store.path_for(d.sha256)
        obj.chmod(0o644)
        obj.unlink()

    cases["digest_stream + durable copy into the object store"] = with_store
    single(str(path), "md5", 4 << 20)  # warm the page cache
    print("| case | median | GB/s |\n|---|---|---|")
    for name, fn in cases.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        m = median(times)
        print(f"| {name} | {fmt(m)} | {(size_mib << 20) / m / 1e9:.2f} |", flush=True)


if __name__ == "__main__":
    main()
