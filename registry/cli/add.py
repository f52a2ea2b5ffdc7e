"""prov add: hash, store and register files and directories."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import typer

from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import DelayedProgress, console, emit_json
from registry.config import find_registry
from registry.errors import InputError
from registry.stores.objects import ObjectStore
from registry.workspace.hashing import FileHasher, check_addable
from registry.workspace.kinds import artifact_kind
from registry.workspace.statcache import StatCache

#: Files at least this large are hashed while the database layer loads.
_PREHASH_MIN = 32 << 20


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise InputError(f"{what} must look like KEY=VALUE, got {v!r}")
        out.append((key, value))
    return out


def add(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., help="Files or directories."),
    kind: str | None = typer.Option(
        None, help="dataset or model (default: the name's latest kind, else guessed from the path)."
    ),
    name: str | None = typer.Option(None, help="Record name (default: the path)."),
    tag: list[str] = typer.Option([], help="K=V tag; repeatable."),
    link: list[str] = typer.Option([], help="REL=ID link to a registered record; repeatable."),
    no_store: bool = typer.Option(False, "--no-store", help="Register without keeping bytes."),
    remote: str | None = typer.Option(
        None, help="Also copy the bytes to this remote (before anything is logged)."
    ),
    follow_links_outside: bool = typer.Option(
        False,
        "--follow-links-outside",
        help="Follow symlinks that lead out of an added directory (refused by default).",
    ),
    json_: bool = JsonOpt,
) -> None:
    """Register files or directories (sha256 + md5 in one read; unchanged files not re-read)."""
    if name and len(paths) > 1:
        raise InputError("--name names one record: give one path with it")
    if remote is not None and no_store:
        raise InputError("--remote stores bytes: it cannot go with --no-store")
    if kind is not None:
        artifact_kind(kind)
    tags = dict(_pairs(tag, "--tag"))
    links = _pairs(link, "--link")
    prov_dir = find_registry(ctx.obj.get("registry") if ctx.obj else None)
    # Start reading large files at once and let the database layer (SQLAlchemy, SQLModel: ~0.4 s
    # of imports) load beside the hashing, instead of before it.
    loader = threading.Thread(
        target=importlib.import_module, args=("registry.service",), daemon=True
    )
    loader.start()
    hashers: dict[str, FileHasher] = {}
    progress: dict[str, DelayedProgress] = {}
    results = []
    try:
        for path in paths:
            p = Path(path)
            if p.exists():
                check_addable(p)
            size = p.stat().st_size if p.is_file() else None
            progress[path] = DelayedProgress(f"hashing {p.name}", size)
            if size is not None and size >= _PREHASH_MIN:
                store = None if no_store else ObjectStore(prov_dir / "objects")
                hashers[path] = FileHasher(StatCache(prov_dir).load(p), store, progress[path])
                hashers[path].digest(p)
        loader.join()
        reg = registry(ctx)
        for path in paths:
            results.append(
                reg.add(
                    Path(path),
                    kind=kind,
                    name=name,
                    tags=tags,
                    links=links,
                    store=not no_store,
                    progress=progress[path],
                    hasher=hashers.get(path),
                    remote=remote,
                    follow_links_outside=follow_links_outside,
                )
            )
    finally:
        for bar in progress.values():
            bar.close()
        for h in hashers.values():
            if h.store is not None:
                h.store.discard()  # nothing staged survives a failure
    if json_:
        emit_json({"records": [r.summary() | {"files_read": r.files_read} for r in results]})
        return
    out = console()
    for r in results:
        state = "unchanged" if r.existing else "added"
        out.print(f"{state} {r.kind} {r.name} {short_id(r.id)}  (seq {r.seq})")
