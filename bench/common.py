"""Helpers for the benchmarks: timing whole commands, medians, and the machine's description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK = Path(os.environ.get("PROV_BENCH_DIR", ROOT / "build" / "bench"))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"
    )


def sh(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    """Run a command to completion; return its wall time in seconds (fails loudly)."""
    start = time.perf_counter()
    subprocess.run(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def output(cmd: list[str], cwd: Path | None = None) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def median(times: list[float]) -> float:
    return statistics.median(times)


def repeat(runs: int, setup: Callable[[], None], timed: Callable[[], float]) -> list[float]:
    """``runs`` measurements of ``timed()``, each after an untimed ``setup()``."""
    out = []
    for _ in range(runs):
        setup()
        out.append(timed())
    return out


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def header(title: str) -> None:
    print(f"\n### {title}\n\nmachine: {machine()}\n", flush=True)
