"""prov proof: RFC 9162 inclusion and consistency proofs, as JSON."""

from __future__ import annotations

import typer

from registry.cli.context import registry
from registry.cli.output import emit_json

app = typer.Typer(help="RFC 9162 proofs (JSON with hex hashes).", no_args_is_help=True)


@app.command()
def inclusion(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Record id or prefix."),
    size: int | None = typer.Option(None, help="Tree size (default: current)."),
    json_: bool = typer.Option(True, "--json", hidden=True),
) -> None:
    """Prove a record is in the log."""
    emit_json(registry(ctx).inclusion_proof(ref, size))


@app.command()
def consistency(
    ctx: typer.Context,
    old_size: int = typer.Argument(..., min=1),
    new_size: int | None = typer.Argument(None, min=1),
    json_: bool = typer.Option(True, "--json", hidden=True),
) -> None:
    """Prove the log at NEW_SIZE (default: current) extends the log at OLD_SIZE."""
    emit_json(registry(ctx).consistency_proof(old_size, new_size))
