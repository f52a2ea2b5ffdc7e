"""``prov import dvc``: a DVC project's ``.dvc`` files and ``dvc.lock`` stages as records.

Read as plain YAML (no DVC import needed): every ``.dvc`` file's outs become datasets or models;
every locked stage becomes a ``run`` (command, params, metrics read from its metrics files) that
``used`` its deps and the project's git commit as ``code``, and its outs become artifacts
``generated_by`` it. Stages are imported in dependency order. A dep that git tracks and no stage
or ``.dvc`` file produces (a script) is covered by the code record and listed, with its md5, in
the run's ``attributes.dvc.code_files``; other deps become datasets.

Bytes are hashed from the workspace when they still match the md5 DVC recorded, else from DVC's
cache (``files/md5/ab/cdef...``, or the DVC 2 layout ``ab/cdef...``). When neither holds them the
record is made from DVC's md5 and size alone, with a warning. Records carry DVC's md5 as
``subject.digest.md5`` so ``prov lookup md5:<hex>`` finds them. Bytes stay where DVC keeps them
(nothing is copied into prov's store). Importing again adds nothing: runs are matched by
content, artifacts by name and bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from provenance.canonical import canonical_bytes
from provenance.digests import digest_bytes
from provenance.manifest import ManifestEntry, dvc_dir_md5, manifest_bytes
from registry.capture.redact import redact_command
from registry.errors import InputError
from registry.results import Registered
from registry.runs import flatten
from registry.workspace.kinds import guess_kind
from registry.workspace.tabular import describe

if TYPE_CHECKING:
    from registry.service import Registry

__all__ = ["ImportReport", "import_dvc"]

_SKIP_DIRS = {".git", ".dvc", ".prov", "node_modules", ".venv", "venv", "__pycache__"}


@dataclass
class ImportReport:
    """What an import did: records it added, ones it found already there, warnings."""

    added: list[Registered] = field(default_factory=list)
    existing: list[Registered] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def note(self, r: Registered) -> Registered:
        (self.existing if r.existing else self.added).append(r)
        return r

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [r.summary() for r in self.added],
            "existing": len(self.existing),
            "warnings": self.warnings,
        }


@dataclass
class _Out:
    """One DVC entry (an out or a dep) as the lock or .dvc file records it."""

    path: str  # relative to the project root, POSIX
    md5: str  # without DVC's .dir suffix
    is_dir: bool
    size: int | None
    legacy: bool  # no `hash: md5`: DVC 2's md5-dos2unix

    @classmethod
    def parse(cls, entry: Mapping[str, Any], base: PurePosixPath, where: str) -> _Out | None:
        md5 = entry.get("md5") or entry.get("checksum")
        if not isinstance(entry.get("path"), str) or not isinstance(md5, str):
            return None  # an entry DVC has not hashed (e.g. a dep on a URL, never run)
        path = _inside(str(base / entry["path"]))
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


def _inside(path: str) -> str | None:
    """``path`` normalised, or None when it is absolute or climbs out (``a/../../x``)."""
    norm = os.path.normpath(path)
    if os.path.isabs(norm) or norm == ".." or norm.startswith("../"):
        return None
    return norm


def _yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({e})") from None


def _md5_of(data: bytes, legacy: bool) -> set[str]:
    out = {hashlib.md5(data, usedforsecurity=False).hexdigest()}
    if legacy and b"\x00" not in data[:8000]:  # DVC 2 hashed text with CRLF made LF
        out.add(hashlib.md5(data.replace(b"\r\n", b"\n"), usedforsecurity=False).hexdigest())
    return out


class _Importer:
    def __init__(self, reg: Registry, root: Path) -> None:
        self.reg = reg
        self.root = root
        self.report = ImportReport()
        self.cache = self._cache_dir()
        self.by_path: dict[str, Registered] = {}  # artifacts imported so far, by path

    def _cache_dir(self) -> Path:
        for config in (self.root / ".dvc" / "config", self.root / ".dvc" / "config.local"):
            try:
                text = config.read_text()
            except OSError:
                continue
            section = ""
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("["):
                    section = line.strip("[]").strip()
                elif section == "cache" and line.replace(" ", "").startswith("dir="):
                    d = Path(line.split("=", 1)[1].strip())
                    return d if d.is_absolute() else (config.parent / d).resolve()
        return self.root / ".dvc" / "cache"

    # ------------------------------------------------------------------ bytes

    def _cached(self, md5: str, suffix: str = "") -> Path | None:
        for p in (
            self.cache / "files" / "md5" / md5[:2] / (md5[2:] + suffix),
            self.cache / md5[:2] / (md5[2:] + suffix),
        ):
            if p.is_file():
                return p
        return None

    def _file_bytes(self, path: Path, md5: str, legacy: bool) -> Path | None:
        """A file holding the bytes DVC hashed to ``md5``: the workspace copy, else the cache."""
        for candidate in (path, self._cached(md5)):
            if candidate is not None and candidate.is_file():
                hasher = self.reg.hasher(candidate, store=False)
                if hasher.digest(candidate).md5 == md5:
                    return candidate
                if legacy and md5 in _md5_of(candidate.read_bytes(), True):
                    return candidate
        return None

    def _subject(self, out: _Out) -> tuple[dict[str, Any], Path | None]:
        """The subject for an entry, and the file it was read from (files only)."""
        path = self.root / out.path
        if not out.is_dir:
            source = self._file_bytes(path, out.md5, out.legacy)
            if source is not None:
                d = self.reg.hasher(source, store=False).digest(source)
                return {"digest": {"sha256": d.sha256, "md5": out.md5}, "size": d.size}, source
        else:
            entries = self._dir_entries(path, out)
            if entries is not None:
                body = manifest_bytes(entries)
                return {
                    "digest": {"sha256": digest_bytes(body).sha256, "md5": out.md5},
                    "size": sum(e.size for e in entries),
                    "files": len(entries),
                    "manifest": f"sha256:{digest_bytes(body).sha256}",
                }, None
        self.report.warnings.append(
            f"{out.path}: bytes for md5 {out.md5} are neither in the workspace nor in the DVC "
            "cache; registered from DVC's md5 and size only"
        )
        return {"digest": {"md5": out.md5}, "size": out.size or 0}, None

    def _dir_entries(self, path: Path, out: _Out) -> list[ManifestEntry] | None:
        listing_file = self._cached(out.md5, ".dir")
        if listing_file is None:
            return None
        try:
            listing = json.loads(listing_file.read_text())
        except (OSError, ValueError):
            return None
        entries = []
        for item in listing:
            rel, md5 = item.get("relpath"), item.get("md5")
            if not isinstance(rel, str) or not isinstance(md5, str) or _inside(rel) is None:
                return None
            source = self._file_bytes(path / rel, md5, out.legacy)
            if source is None:
                return None
            d = self.reg.hasher(source, store=False).digest(source)
            entries.append(ManifestEntry(PurePosixPath(rel).as_posix(), d.sha256, d.md5, d.size))
        entries.sort(key=lambda e: e.path)
        if not out.legacy and dvc_dir_md5(entries) != out.md5:
            return None
        return entries

    def artifact(
        self, out: _Out, kind: str | None, links: list[dict[str, str]], origin: dict[str, Any]
    ) -> Registered:
        subject, source = self._subject(out)
        attributes: dict[str, Any] = {"dvc": origin}
        if source is not None:
            described = describe(source, suffix=PurePosixPath(out.path).suffix)
            if described:
                attributes.update(described)
        r = self.reg.register_artifact(
            kind or guess_kind(out.path), out.path, subject, links, attributes=attributes
        )
        self.by_path[out.path] = self.report.note(r)
        return r

    # ------------------------------------------------------------------ files

    def dvc_files(self) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for f in sorted(filenames):
                if f.endswith(".dvc") or f == "dvc.lock":
                    yield Path(dirpath) / f


def _git_files(root: Path) -> set[str] | None:
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


def import_dvc(reg: Registry, repo: str | os.PathLike[str] = ".") -> ImportReport:
    """Import the DVC project at ``repo`` (see the module doc).

    Raises:
        InputError: not a DVC project, an unreadable or malformed lock file, a stage cycle.
    """
    root = Path(repo).absolute()
    if not (root / ".dvc").is_dir():
        raise InputError(f"{root} is not a DVC project (no .dvc directory)")
    imp = _Importer(reg, root)
    tracked = _git_files(root) or set()
    # Every file is read and every entry checked before anything is registered: a bad entry
    # anywhere writes nothing.
    tracked_outs: list[tuple[_Out, str]] = []
    stages: dict[str, dict[str, Any]] = {}
    for f in imp.dvc_files():
        rel = f.parent.relative_to(root)
        base = PurePosixPath(rel.as_posix())
        where = str(f.relative_to(root))
        data = _yaml(f)
        if not isinstance(data, dict):
            raise InputError(f"{where}: not a DVC file")
        if f.name == "dvc.lock":
            yaml_stages = (_yaml(f.with_name("dvc.yaml")) or {}).get("stages", {}) or {}
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
            out = _Out.parse(entry, base, where)
            if out is not None:
                tracked_outs.append((out, where))

    outs_of = {
        o.path: name
        for name, s in stages.items()
        for o in (_Out.parse(e, s["base"], s["where"]) for e in s["stage"].get("outs", []) or [])
        if o is not None
    }
    graph = TopologicalSorter[str]()
    for name, s in stages.items():
        deps = [_Out.parse(e, s["base"], s["where"]) for e in s["stage"].get("deps", []) or []]
        graph.add(name, *{outs_of[d.path] for d in deps if d and d.path in outs_of} - {name})
    try:
        order = list(graph.static_order())
    except CycleError as e:
        raise InputError(f"dvc.lock stages form a cycle: {' → '.join(e.args[1])}") from None

    for s in stages.values():  # parse every dep and out now, so a bad one fails first
        for key in ("deps", "outs"):
            for entry in s["stage"].get(key, []) or []:
                _Out.parse(entry, s["base"], s["where"])

    code = None
    try:
        code = reg.code(root)
        imp.report.note(code)
    except InputError as e:
        imp.report.warnings.append(f"no code record for the stages: {e}")
    for out, where in tracked_outs:
        imp.artifact(out, None, [], {"file": where})
    for name in order:
        _import_stage(imp, name, stages[name], code, tracked, outs_of)
    return imp.report


def _import_stage(
    imp: _Importer,
    name: str,
    s: dict[str, Any],
    code: Registered | None,
    tracked: set[str],
    outs_of: Mapping[str, str],
) -> None:
    stage, where = s["stage"], s["where"]
    used: list[dict[str, str]] = []
    code_files: dict[str, str] = {}
    for entry in stage.get("deps", []) or []:
        dep = _Out.parse(entry, s["base"], where)
        if dep is None:
            continue
        if dep.path in imp.by_path and dep.md5 == _md5(imp.by_path[dep.path]):
            rid = imp.by_path[dep.path].id
        elif dep.path in tracked and dep.path not in outs_of:
            code_files[dep.path] = dep.md5
            continue
        else:
            rid = imp.artifact(dep, None, [], {"file": where, "dep_of": name}).id
        if {"rel": "used", "id": rid} not in used:
            used.append({"rel": "used", "id": rid})
    params: dict[str, Any] = {}
    for file, values in (stage.get("params") or {}).items():
        for k, v in (values or {}).items():
            params[k if file == "params.yaml" else f"{file}:{k}"] = v
    metrics: dict[str, Any] = {}
    outs = [_Out.parse(e, s["base"], where) for e in stage.get("outs", []) or []]
    for out in outs:
        if out is not None and out.path in s["metrics"]:
            path = imp.root / out.path
            if path.is_file() and out.md5 in _md5_of(path.read_bytes(), out.legacy):
                data = _yaml(path)
                if isinstance(data, dict):
                    flatten(data, out=metrics)
    # The lock entry pins what the stage ran on and made; while it is unchanged the stage has
    # not run again, whatever else changed in the working tree, and its run is the one we have.
    lock_sha256 = hashlib.sha256(canonical_bytes(stage)).hexdigest()
    cmd = stage.get("cmd", "")
    attributes: dict[str, Any] = {
        "params": params,
        "metrics": metrics,
        "command": redact_command(" && ".join(cmd) if isinstance(cmd, list) else str(cmd)),
        "status": "succeeded",
        "dvc": {
            "stage": name,
            "file": where,
            "code_files": code_files,
            "lock_sha256": lock_sha256,
        },
    }
    links = used + ([{"rel": "code", "id": code.id}] if code else [])

    def same(rec: Mapping[str, Any]) -> bool:
        return bool(rec.get("attributes", {}).get("dvc", {}).get("lock_sha256") == lock_sha256)

    run = imp.report.note(imp.reg.register_once("run", name, attributes, links, same))
    for out in outs:
        if out is not None:
            imp.artifact(
                out,
                None,
                [{"rel": "generated_by", "id": run.id}],
                {"file": where, "stage": name},
            )


def _md5(r: Registered) -> str | None:
    md5 = (r.record.get("subject") or {}).get("digest", {}).get("md5")
    return None if md5 is None else str(md5)
