"""prov log: records, newest first."""

from __future__ import annotations

import typer

from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json


def log(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, help="Only records of this kind."),
    name: str | None = typer.Option(None, help="Only names matching this glob."),
    n: int | None = typer.Option(None, "-n", "--max-count", min=1, help="At most N records."),
    json_: bool = JsonOpt,
) -> None:
    """List records, newest first."""
    records = registry(ctx).log(kind=kind, name=name, limit=n)
    if json_:
        emit_json({"records": records})
        return
    from rich.table import Table

    t = Table(box=None)
    for col in ("seq", "id", "kind", "name", "logged at"):
        t.add_column(col)
    for r in records:
        t.add_row(str(r["seq"]), short_id(r["id"]), r["kind"], r["name"], r["logged_at"])
    console().print(t)
