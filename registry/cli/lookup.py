"""prov lookup: which records have these bytes."""

from __future__ import annotations

import typer

from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json


def lookup(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., metavar="FILE_OR_DIGEST", help="A file, a directory, sha256:<hex> or md5:<hex>."
    ),
    json_: bool = JsonOpt,
) -> None:
    """Find the records whose bytes are a file's or a digest's. Exit 3 when there are none."""
    records = registry(ctx).lookup(target)
    if json_:
        emit_json({"records": records})
    elif records:
        out = console()
        for r in records:
            out.print(f"{short_id(r['id'])}  {r['kind']:<8} {r['name']}")
    else:
        typer.echo(f"no record has the bytes of {target}", err=True)
    if not records:
        raise typer.Exit(3)
