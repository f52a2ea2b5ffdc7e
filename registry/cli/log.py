"""prov log: records, newest first."""

from __future__ import annotations

import typer

from registry.cli.output import JsonOpt, console, emit_json, registry, short


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
        t.add_row(str(r["seq"]), short(r["id"]), r["kind"], r["name"], r["logged_at"])
    console().print(t)
