"""prov checkpoint: print the latest signed checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from registry.cli.context import JsonOpt, registry
from registry.cli.output import emit_json
from registry.errors import InputError


def checkpoint(
    ctx: typer.Context,
    output: Path | None = typer.Option(None, "-o", "--output", help="Also write the note to FILE."),
    json_: bool = JsonOpt,
) -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    cp = registry(ctx).checkpoint()
    if output:
        try:
            tmp = output.with_name(output.name + ".tmp")
            tmp.write_text(cp["note"], encoding="utf-8")
            os.replace(tmp, output)
        except OSError as e:
            raise InputError(f"cannot write {output}: {e.strerror}") from None
    if json_:
        emit_json(cp)
    else:
        typer.echo(cp["note"], nl=False)
