"""prov add: hash, store and register files and directories."""

from __future__ import annotations

from pathlib import Path

import typer

from registry.cli.output import DelayedProgress, JsonOpt, console, emit_json, registry, short
from registry.errors import InputError


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
    kind: str = typer.Option("dataset", help="dataset or model."),
    name: str | None = typer.Option(None, help="Record name (default: the path)."),
    tag: list[str] = typer.Option([], help="K=V tag; repeatable."),
    link: list[str] = typer.Option([], help="REL=ID link to a registered record; repeatable."),
    no_store: bool = typer.Option(False, "--no-store", help="Register without keeping bytes."),
    remote: str | None = typer.Option(None, help="Artifact store (default: the local store)."),
    json_: bool = JsonOpt,
) -> None:
    """Register files or directories (sha256 + md5 in one read; unchanged files not re-read)."""
    if name and len(paths) > 1:
        raise InputError("--name names one record: give one path with it")
    if remote not in (None, "local"):
        raise InputError(f"no remote named {remote!r} (only the local store is configured)")
    tags = dict(_pairs(tag, "--tag"))
    links = _pairs(link, "--link")
    reg = registry(ctx)
    results = []
    for path in paths:
        p = Path(path)
        total = p.stat().st_size if p.is_file() else None
        progress = DelayedProgress(f"hashing {p.name}", total)
        try:
            results.append(
                reg.add(
                    p,
                    kind=kind,
                    name=name,
                    tags=tags,
                    links=links,
                    store=not no_store,
                    progress=progress,
                )
            )
        finally:
            progress.close()
    if json_:
        emit_json({"records": [r.summary() | {"files_read": r.files_read} for r in results]})
        return
    out = console()
    for r in results:
        state = "unchanged" if r.existing else "added"
        out.print(f"{state} {r.kind} {r.name} {short(r.id)}  (seq {r.seq})")
