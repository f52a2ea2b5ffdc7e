"""prov import dvc: a DVC project's .dvc files and dvc.lock stages as records and lineage."""

from __future__ import annotations

import sys

import typer

from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json

app = typer.Typer(help="Import provenance from other tools.", no_args_is_help=True)


@app.command("dvc")
def dvc(
    ctx: typer.Context,
    repo: str = typer.Argument(".", help="The DVC project (default: the current directory)."),
    json_: bool = JsonOpt,
) -> None:
    """Turn a DVC project's dvc.lock stages and .dvc files into runs, artifacts and lineage."""
    from registry.importers.dvc import import_dvc

    report = import_dvc(registry(ctx), repo)
    for w in report.warnings:
        sys.stderr.write(f"prov: warning: {w}\n")
    if json_:
        emit_json(report.to_json())
        return
    out = console()
    for r in report.added:
        out.print(f"added {r.kind} {r.name} {short_id(r.id)}  (seq {r.seq})")
    out.print(f"{len(report.added)} added, {len(report.existing)} already registered")
