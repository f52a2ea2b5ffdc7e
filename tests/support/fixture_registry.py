"""Build the small registry kept under ``tests/fixtures/`` for upgrade tests (SPEC §1: a registry
written by an older prov opens, migrated, in a newer one).

    python -m tests.support.fixture_registry OUT.tar.gz

Each release that changes the database's schema adds the archive this builds, made by that
release's own ``prov``; every later release must open, verify and extend every archive there
(tests/registry/test_upgrades.py). It runs the ``prov`` found first on ``PYTHONPATH``, so an older
checkout can build its own: ``PYTHONPATH=/old/checkout python -m tests.support.fixture_registry``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


def _prov(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org")
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    proc = subprocess.run(
        [sys.executable, "-m", "registry.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def build(root: Path) -> None:
    """A project at ``root`` with a registry holding one of each kind of record."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    (root / ".gitignore").write_text(".prov/\nmodel.bin\n")
    (root / "train.py").write_text("open('model.bin', 'w').write('weights')\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "1"],
        cwd=root,
        check=True,
    )
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("id,score\n1,0.5\n2,0.7\n")
    (root / "data" / "images").mkdir()
    (root / "data" / "images" / "a.bin").write_bytes(b"image a")
    _prov(root, "init", "--origin", "fixture.example/prov")
    _prov(root, "add", "data/raw.csv", "--tag", "source=fixture")
    _prov(root, "add", "data/images")
    _prov(root, "run", "train", "-i", "data/raw.csv", "-o", "model.bin", "--no-env", "--",
          sys.executable, "train.py")  # fmt: skip
    _prov(root, "token", "create", "--role", "reader", "--name", "fixture-reader")


def _not_cache(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if info.name.startswith(".prov/cache") else info


def main(out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        build(root)
        with tarfile.open(out, "w:gz") as tar:
            # The digest cache is this machine's, not the registry's.
            tar.add(root / ".prov", arcname=".prov", filter=_not_cache)
            tar.add(root / "data", arcname="data")


if __name__ == "__main__":
    main(sys.argv[1])
