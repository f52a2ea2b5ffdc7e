"""A registering process for the crash and concurrency tests.

``python -m tests.registry.writer REGISTRY TAG COUNT [--files]`` registers COUNT records (or, with
--files, adds COUNT small files), printing each id the moment its registration has returned.
"""

import sys
from pathlib import Path

from registry.service import Registry


def main() -> None:
    registry, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    files = "--files" in sys.argv
    reg = Registry.open(registry)
    work = Path(registry) / f"work-{tag}"
    work.mkdir(exist_ok=True)
    for i in range(count):
        if files:
            f = work / f"{i}.bin"
            f.write_bytes(f"{tag}-{i}\n".encode() * 2000)
            rid = reg.add(f, name=f"{tag}/{i}").id
        else:
            rid = reg.register(
                [
                    {
                        "kind": "dataset",
                        "name": f"{tag}/{i}",
                        "subject": {"digest": {"sha256": f"{i:064x}"}, "size": i},
                    }
                ]
            )[0].id
        print(rid, flush=True)
    reg.close()


if __name__ == "__main__":
    main()
