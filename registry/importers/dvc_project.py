"""Reading a DVC project's files as DVC wrote them, with no DVC import: ``.dvc`` files and
``dvc.lock`` stages as entries (paths inside the project only), YAML, and MD5s as DVC 2 and 3
compute them."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from registry.errors import InputError

__all__ = ["Entry", "git_files", "inside", "md5s", "read_project", "read_yaml"]


@dataclass
class Entry:
    """One DVC entry (an out or a dep) as the lock or .dvc file records it."""

    path: str  # relative to the project root, POSIX
    md5: str  # without DVC's .dir suffix
    is_dir: bool
    size: int | None
    legacy: bool  # no `hash: md5`: DVC 2's md5-dos2unix

    @classmethod
    def parse(cls, entry: Mapping[str, Any], base: PurePosixPath, where: str) -> Entry | None:
        md5 = entry.get("md5") or entry.get("checksum")
        if not isinstance(entry.get("path"), str) or not isinstance(md5, str):
            return None  # an entry DVC has not hashed (e.g. a dep on a URL, never run)
        path = inside(str(base / entry["path"]))
        if path is None:  # external outputs are DVC's to read, not ours: we read the project only
            raise InputError(f"{where}: {entry['path']} lies outside the project")
        size = entry.get("size")
        return cls(
            PurePosixPath(path).as_posix(),
            md5.removesuffix(".dir"),
            md5.endswith(".dir"),
            size if isinstance(size, int) else None,
            entry.get("hash") != "md5",
        )


def inside(path: str) -> str | None:
    """``path`` normalised, or None when it is absolute or climbs out (``a/../../x``)."""
    norm = os.path.normpath(path)
    if os.path.isabs(norm) or norm == ".." or norm.startswith("../"):
        return None
    return norm


def read_yaml(path: Path) -> Any:
    """A YAML file DVC wrote, without aliases: DVC writes none, and an alias bomb of one
    kilobyte expands into a record of gigabytes (``*a`` repeated, ten levels deep).

    Raises:
        InputError: unreadable, not YAML, or with an alias.
    """
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise InputError(f"{path}: YAML aliases (*name) are not read in DVC files")
            return super().compose_node(parent, index)

    try:
        return yaml.load(path.read_text(), Loader=NoAliases)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({e})") from None


def md5s(path: Path, legacy: bool, chunk_size: int = 1 << 22) -> set[str]:
    """The MD5 of a file, streamed; for a DVC 2 entry (``legacy``) of a text file also the MD5
    DVC 2 computed with CRLF made LF. Never the whole file in memory (a 400 MB file took 478 MB
    when it was read whole)."""
    plain, unix = hashlib.md5(usedforsecurity=False), hashlib.md5(usedforsecurity=False)
    text, carry = None, b""
    with path.open("rb") as f:
        while chunk := f.read(chunk_size):
            plain.update(chunk)
            if not legacy:
                continue
            if text is None:
                text = b"\x00" not in chunk[:8000]  # DVC 2 looked at the first 8,000 bytes
            if text:
                data = carry + chunk
                carry = b"\r" if data.endswith(b"\r") else b""  # may pair with the next \n
                unix.update((data[:-1] if carry else data).replace(b"\r\n", b"\n"))
    out = {plain.hexdigest()}
    if legacy and text:
        unix.update(carry)
        out.add(unix.hexdigest())
    return out


def git_files(root: Path) -> set[str] | None:
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, env=dict(os.environ)
        )
    except FileNotFoundError:
        return None
    if proc.returncode != 0:
        return None
    return {p for p in proc.stdout.decode(errors="replace").split("\0") if p}


def _stage_metrics(yaml_stage: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for m in yaml_stage.get("metrics", []) or []:
        names.update(m if isinstance(m, dict) else [m])
    return {str(n) for n in names}


def read_project(
    root: Path, files: Iterable[Path]
) -> tuple[list[tuple[Entry, str]], dict[str, dict[str, Any]]]:
    """The entries of ``.dvc`` files (with the file each is in) and the stages of ``dvc.lock``
    files, by name: the lock entry, its working directory, its file, its metrics files' paths,
    and its deps and outs, every entry checked before anything is registered.

    Raises:
        InputError: a file that is not YAML or not DVC's, an entry outside the project.
    """
    tracked_outs: list[tuple[Entry, str]] = []
    stages: dict[str, dict[str, Any]] = {}
    for f in files:
        rel = f.parent.relative_to(root)
        base = PurePosixPath(rel.as_posix())
        where = str(f.relative_to(root))
        data = read_yaml(f)
        if not isinstance(data, dict):
            raise InputError(f"{where}: not a DVC file")
        if f.name == "dvc.lock":
            yaml_stages = (read_yaml(f.with_name("dvc.yaml")) or {}).get("stages", {}) or {}
            for name, stage in (data.get("stages") or {}).items():
                if not isinstance(stage, dict):
                    raise InputError(f"{where}: stage {name} is not a mapping")
                full = name if base == PurePosixPath(".") else f"{base}/dvc.yaml:{name}"
                yaml_stage = yaml_stages.get(str(name).split("@")[0], {}) or {}
                wdir = base / str(yaml_stage.get("wdir", "."))
                stages[full] = {
                    "stage": stage,
                    "base": wdir,
                    "where": where,
                    "metrics": {
                        os.path.normpath(str(wdir / m)) for m in _stage_metrics(yaml_stage)
                    },
                }
            continue
        for entry in data.get("outs", []) or []:  # a .dvc file
            out = Entry.parse(entry, base, where)
            if out is not None:
                tracked_outs.append((out, where))

    for s in stages.values():
        s["deps"] = [Entry.parse(e, s["base"], s["where"]) for e in s["stage"].get("deps") or []]
        s["outs"] = [Entry.parse(e, s["base"], s["where"]) for e in s["stage"].get("outs") or []]
    return tracked_outs, stages
