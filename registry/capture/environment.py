"""The ``environment`` record's attributes: what a run ran on.

``python``, ``platform`` and ``packages`` (sorted ``name==version``, names normalised as PEP 503
does, the first distribution on ``sys.path`` winning as it does for ``import``) come from the
interpreter — this one, or another one given by path, which runs :func:`probe` (standard library
only) and prints it as JSON. ``packages_sha256`` hashes the package list. The machine adds what
it exposes: ``lockfile``/``lockfile_sha256`` (the project's uv.lock, poetry.lock, ...),
``container_image`` (Podman's ``/run/.containerenv`` or ``PROV_CONTAINER_IMAGE``), ``cpu``,
``gpus`` and ``cuda`` (nvidia-smi, else ``CUDA_VERSION``, else nvcc).

Nothing here names the host or the time, so the same environment captured twice, or on two
identical machines, has the same attributes, and the registry returns the record it has.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from provenance.canonical import canonical_bytes
from registry.errors import InputError

__all__ = ["LOCKFILES", "capture_environment", "probe"]

#: Lock files looked for in the project root, most specific first.
LOCKFILES = (
    "uv.lock",
    "poetry.lock",
    "pdm.lock",
    "Pipfile.lock",
    "conda-lock.yml",
    "environment.yml",
    "environment.yaml",
    "requirements.lock",
    "requirements.txt",
)


def probe() -> dict[str, Any]:
    """The interpreter's side: Python, platform, installed distributions. Standard library only:
    it also runs, by its source, in interpreters without prov."""
    import importlib.metadata
    import platform
    import re

    packages: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": sorted(f"{n}=={v}" for n, v in packages.items()),
    }


def _probe_other(python: str) -> dict[str, Any]:
    exe = shutil.which(python) or python
    source = "from __future__ import annotations\n" + inspect.getsource(probe)
    source += "\nimport json\nprint(json.dumps(probe()))\n"
    try:
        proc = subprocess.run(
            [exe, "-c", source], capture_output=True, text=True, timeout=120, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InputError(f"cannot run {python}: {e}") from None
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise InputError(f"{python} failed: {lines[-1] if lines else proc.returncode}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _command(*args: str) -> str | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _cpu() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or None


def _gpus_and_cuda() -> tuple[list[str], str | None]:
    gpus: list[str] = []
    cuda = None
    out = _command("nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader")
    if out:
        gpus = [
            f"{name.strip()} (driver {driver.strip()})"
            for name, _, driver in (ln.rpartition(",") for ln in out.splitlines() if ln.strip())
        ]
        header = _command("nvidia-smi") or ""
        m = re.search(r"CUDA Version:\s*([0-9.]+)", header)
        cuda = m.group(1) if m else None
    cuda = cuda or os.environ.get("CUDA_VERSION") or None
    if cuda is None:
        m = re.search(r"release ([0-9.]+)", _command("nvcc", "--version") or "")
        cuda = m.group(1) if m else None
    return gpus, cuda


def _container_image() -> str | None:
    if os.environ.get("PROV_CONTAINER_IMAGE"):
        return os.environ["PROV_CONTAINER_IMAGE"]
    try:  # Podman describes the container to itself here
        text = Path("/run/.containerenv").read_text()
    except OSError:
        return None
    fields = dict(re.findall(r'^(\w+)="(.*)"$', text, re.M))
    image, image_id = fields.get("image"), fields.get("imageid")
    if image_id:
        digest = image_id if ":" in image_id else f"sha256:{image_id}"
        return f"{image}@{digest}" if image else digest
    return image or None


def _lockfile(project: Path) -> tuple[str, str] | None:
    candidates = [project / n for n in LOCKFILES]
    candidates += sorted(project.glob("requirements*.txt"))
    for path in candidates:
        if path.is_file():
            return path.name, hashlib.sha256(path.read_bytes()).hexdigest()
    return None


def capture_environment(
    project: str | os.PathLike[str] = ".", python: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The name and attributes of this environment (or of interpreter ``python``'s).

    The name is ``python3.11.7-linux-x86_64-<12 hex>``, the hex a hash of the attributes.

    Raises:
        InputError: ``python`` cannot be run.
    """
    attrs = _probe_other(python) if python else probe()
    packages = attrs["packages"]
    attrs["packages_sha256"] = hashlib.sha256("\n".join(packages).encode()).hexdigest()
    lock = _lockfile(Path(project))
    if lock:
        attrs["lockfile"], attrs["lockfile_sha256"] = lock
    image = _container_image()
    if image:
        attrs["container_image"] = image
    cpu = _cpu()
    if cpu:
        attrs["cpu"] = cpu
    gpus, cuda = _gpus_and_cuda()
    if gpus:
        attrs["gpus"] = gpus
    if cuda:
        attrs["cuda"] = cuda
    system = attrs["platform"].split("-", 1)[0].lower()
    machine = os.uname().machine if hasattr(os, "uname") else ""
    digest = hashlib.sha256(canonical_bytes(attrs)).hexdigest()[:12]
    return f"python{attrs['python']}-{system}-{machine}-{digest}", attrs
