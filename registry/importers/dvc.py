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

An import is one transaction: every file is hashed first, outside the writer lock, then every
record is decided and appended together, so a bad entry anywhere writes nothing. A stale stage
(one whose deps are older versions of another stage's outputs: it was not run again after
them) uses the record of that older version, found by name and md5; when none is registered
yet, it is registered before the outputs that supersede it, so the newest version of a path is
always the one its stage produced at that commit, however often the project is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from provenance.canonical import canonical_bytes
from provenance.digests import digest_bytes
from provenance.manifest import ManifestEntry, dvc_dir_md5, manifest_bytes
from registry import db
from registry.capture.git import capture_code
from registry.capture.identity import who
from registry.capture.redact import redact_command
from registry.errors import InputError
from registry.importers.dvc_project import (
    Entry,
    git_files,
    inside,
    md5s,
    read_project,
    read_yaml,
)
from registry.results import Registered
from registry.runs import flatten
from registry.service.add import artifact_version, latest_named, record_id_of
from registry.service.register import find_once
from registry.service.writer import Plan, new_record
from registry.workspace.kinds import guess_kind
from registry.workspace.tabular import describe

if TYPE_CHECKING:
    from sqlalchemy import Connection

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
class _Prepared:
    """An entry's subject and attributes, computed before the lock (hashing takes time)."""

    subject: dict[str, Any]
    described: dict[str, Any] | None


class _Importer:
    """Pass one, outside the writer lock: read the files, hash what the records need."""

    def __init__(self, reg: Registry, root: Path) -> None:
        self.reg = reg
        self.root = root
        self.warnings: list[str] = []
        self.cache = self._cache_dir()
        self.prepared: dict[tuple[str, str], _Prepared] = {}  # (path, md5) -> subject

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
                if legacy and md5 in md5s(candidate, True):
                    return candidate
        return None

    def prepare(self, out: Entry) -> _Prepared:
        """The subject (and tabular description) of an entry, hashed once per import."""
        key = (out.path, out.md5)
        if key not in self.prepared:
            self.prepared[key] = self._prepare(out)
        return self.prepared[key]

    def _prepare(self, out: Entry) -> _Prepared:
        path = self.root / out.path
        if not out.is_dir:
            source = self._file_bytes(path, out.md5, out.legacy)
            if source is not None:
                d = self.reg.hasher(source, store=False).digest(source)
                subject = {"digest": {"sha256": d.sha256, "md5": out.md5}, "size": d.size}
                return _Prepared(subject, describe(source, suffix=PurePosixPath(out.path).suffix))
        else:
            entries = self._dir_entries(path, out)
            if entries is not None:
                body = manifest_bytes(entries)
                subject = {
                    "digest": {"sha256": digest_bytes(body).sha256, "md5": out.md5},
                    "size": sum(e.size for e in entries),
                    "files": len(entries),
                    "manifest": f"sha256:{digest_bytes(body).sha256}",
                }
                return _Prepared(subject, None)
        self.warnings.append(
            f"{out.path}: bytes for md5 {out.md5} are neither in the workspace nor in the DVC "
            "cache; registered from DVC's md5 and size only"
        )
        return _Prepared({"digest": {"md5": out.md5}, "size": out.size or 0}, None)

    def _dir_entries(self, path: Path, out: Entry) -> list[ManifestEntry] | None:
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
            if not isinstance(rel, str) or not isinstance(md5, str) or inside(rel) is None:
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

    def dvc_files(self) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for f in sorted(filenames):
                if f.endswith(".dvc") or f == "dvc.lock":
                    yield Path(dirpath) / f


class _Decisions:
    """Pass two, under the writer lock: every record the import appends, decided against the
    database and against what the import has decided before (one transaction)."""

    def __init__(self, conn: Connection, imp: _Importer, me: str) -> None:
        self.conn, self.imp, self.me = conn, imp, me
        self.items: list[dict[str, Any] | Registered] = []
        self.pending: dict[str, Registered] = {}  # new records of this import, by name
        self.by_path: dict[str, str] = {}  # path -> the id its entry was imported as

    def _add(self, decided: dict[str, Any] | Registered) -> str:
        self.items.append(decided)
        if isinstance(decided, Registered):
            return decided.id
        rid = record_id_of(decided)
        self.pending[decided["name"]] = Registered(rid, -1, decided, "")
        return rid

    def artifact(
        self, out: Entry, kind: str | None, links: list[dict[str, str]], origin: dict[str, Any]
    ) -> str:
        prepared = self.imp.prepare(out)
        attributes: dict[str, Any] = {"dvc": origin, **(prepared.described or {})}
        latest = self.pending.get(out.path) or latest_named(self.conn, out.path)
        rid = self._add(
            artifact_version(
                latest,
                kind or guess_kind(out.path),
                out.path,
                prepared.subject,
                links,
                None,
                attributes,
                False,
                self.me,
            )
        )
        self.by_path[out.path] = rid
        return rid

    def version(self, out: Entry) -> str | None:
        """A record of ``out``'s path with its md5, any version (pending ones included)."""
        for r in reversed(self.items):
            if isinstance(r, dict) and r["name"] == out.path and _digest_md5(r) == out.md5:
                return record_id_of(r)
        found = db.query(
            self.conn,
            "SELECT id FROM records WHERE name = :name AND md5 = :md5 "
            "AND kind IN ('dataset', 'model') ORDER BY seq DESC LIMIT 1",
            {"name": out.path, "md5": out.md5},
        )
        return str(found[0][0]) if found else None

    def once(
        self,
        kind: str,
        name: str,
        attributes: dict[str, Any],
        links: list[dict[str, str]],
        same: Callable[[Mapping[str, Any]], bool],
    ) -> str:
        found = find_once(self.conn, kind, name, same)
        return self._add(found or new_record(kind, name, attributes=attributes, links=links))


def _digest_md5(record: Mapping[str, Any]) -> str | None:
    md5 = (record.get("subject") or {}).get("digest", {}).get("md5")
    return None if md5 is None else str(md5)


def import_dvc(reg: Registry, repo: str | os.PathLike[str] = ".") -> ImportReport:
    """Import the DVC project at ``repo`` (see the module doc), in one transaction.

    Raises:
        InputError: not a DVC project, an unreadable or malformed lock file, a stage cycle,
            a record that is not valid (nothing is written).
    """
    root = Path(repo).absolute()
    if not (root / ".dvc").is_dir():
        raise InputError(f"{root} is not a DVC project (no .dvc directory)")
    imp = _Importer(reg, root)
    tracked = git_files(root) or set()
    tracked_outs, stages = read_project(root, imp.dvc_files())
    outs_of = {o.path: name for name, s in stages.items() for o in s["outs"] if o is not None}
    graph = TopologicalSorter[str]()
    for name, s in stages.items():
        graph.add(name, *{outs_of[d.path] for d in s["deps"] if d and d.path in outs_of} - {name})
    try:
        order = list(graph.static_order())
    except CycleError as e:
        raise InputError(f"dvc.lock stages form a cycle: {' → '.join(e.args[1])}") from None

    # The entries this commit produces (a stage's outs, a .dvc file's), by path: a dep naming
    # one of these paths with another md5 is stale, an older version of it.
    current = {o.path: o.md5 for s in stages.values() for o in s["outs"] if o is not None}
    current.update({o.path: o.md5 for o, _ in tracked_outs})
    code = None
    try:
        code = capture_code(root)
    except InputError as e:
        imp.warnings.append(f"no code record for the stages: {e}")
    for out, _ in tracked_outs:  # pass one: hash everything, outside the lock
        imp.prepare(out)
    for s in stages.values():
        for entry in (*s["deps"], *s["outs"]):
            if entry is not None and not (entry.path in tracked and entry.path not in outs_of):
                imp.prepare(entry)
        s["metrics_read"] = _metrics(imp, s)

    me = who()

    def build(conn: Connection) -> Plan:
        decide = _Decisions(conn, imp, me)
        code_id = None
        if code is not None:
            attrs = json.loads(json.dumps(code[1]))
            code_id = decide.once(
                "code", code[0], attrs, [], lambda r: r.get("attributes") == attrs
            )
        for name in order:  # stale deps first: the outputs that follow supersede them
            s = stages[name]
            for dep in s["deps"]:
                if dep and current.get(dep.path, dep.md5) != dep.md5 and not decide.version(dep):
                    decide.artifact(dep, None, [], {"file": s["where"], "dep_of": name})
        for out, where in tracked_outs:
            decide.artifact(out, None, [], {"file": where})
        for name in order:
            _decide_stage(decide, name, stages[name], code_id, tracked, outs_of, current)
        return Plan(list(decide.items))

    results = reg.writer.append(build)
    report = ImportReport(warnings=imp.warnings)
    seen: set[str] = set()
    for r in results:
        if r.id not in seen:
            seen.add(r.id)
            (report.existing if r.existing else report.added).append(r)
    return report


def _metrics(imp: _Importer, s: dict[str, Any]) -> dict[str, Any]:
    """A stage's metrics, read from its metrics outputs when they hold the locked bytes."""
    metrics: dict[str, Any] = {}
    for out in s["outs"]:
        if out is not None and out.path in s["metrics"]:
            path = imp.root / out.path
            if path.is_file() and out.md5 in md5s(path, out.legacy):
                data = read_yaml(path)
                if isinstance(data, dict):
                    flatten(data, out=metrics)
    return metrics


def _decide_stage(
    decide: _Decisions,
    name: str,
    s: dict[str, Any],
    code_id: str | None,
    tracked: set[str],
    outs_of: Mapping[str, str],
    current: Mapping[str, str],
) -> None:
    stage, where = s["stage"], s["where"]
    used: list[dict[str, str]] = []
    code_files: dict[str, str] = {}
    for dep in s["deps"]:
        if dep is None:
            continue
        if dep.path in tracked and dep.path not in outs_of:
            code_files[dep.path] = dep.md5  # a script: covered by the code record
            continue
        if current.get(dep.path, dep.md5) != dep.md5:  # stale: that older version's record
            rid = decide.version(dep)
            assert rid is not None  # decided before any stage
        elif dep.path in decide.by_path:
            rid = decide.by_path[dep.path]
        else:
            rid = decide.artifact(dep, None, [], {"file": where, "dep_of": name})
        if {"rel": "used", "id": rid} not in used:
            used.append({"rel": "used", "id": rid})
    params: dict[str, Any] = {}
    for file, values in (stage.get("params") or {}).items():
        for k, v in (values or {}).items():
            params[k if file == "params.yaml" else f"{file}:{k}"] = v
    # The lock entry pins what the stage ran on and made; while it is unchanged the stage has
    # not run again, whatever else changed in the working tree, and its run is the one we have.
    lock_sha256 = hashlib.sha256(canonical_bytes(stage)).hexdigest()
    cmd = stage.get("cmd", "")
    attributes: dict[str, Any] = json.loads(
        json.dumps(
            {
                "params": params,
                "metrics": s["metrics_read"],
                "command": redact_command(" && ".join(cmd) if isinstance(cmd, list) else str(cmd)),
                "status": "succeeded",
                "dvc": {
                    "stage": name,
                    "file": where,
                    "code_files": code_files,
                    "lock_sha256": lock_sha256,
                },
            }
        )
    )
    links = used + ([{"rel": "code", "id": code_id}] if code_id else [])

    def same(rec: Mapping[str, Any]) -> bool:
        return bool(rec.get("attributes", {}).get("dvc", {}).get("lock_sha256") == lock_sha256)

    run = decide.once("run", name, attributes, links, same)
    for out in s["outs"]:
        if out is not None:
            decide.artifact(
                out, None, [{"rel": "generated_by", "id": run}], {"file": where, "stage": name}
            )
