"""prov verify: check the log, the records and the stored bytes."""

from __future__ import annotations

from pathlib import Path

import typer

from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json


def verify(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Also check every record and signature."),
    content: bool = typer.Option(False, "--content", help="Also re-hash stored bytes."),
    since: Path | None = typer.Option(
        None,
        "--since",
        metavar="CHECKPOINT_FILE",
        help="Prove the log extends this saved checkpoint.",
    ),
    json_: bool = JsonOpt,
) -> None:
    """Verify the registry (exit 1 on any problem)."""
    report = registry(ctx).verify(full=full, content=content, since=str(since) if since else None)
    if json_:
        emit_json(report)
    else:
        out = console()
        checked = ", ".join(f"{v:,} {k}" for k, v in report["checked"].items())
        if report["ok"]:
            out.print(
                f"[green]ok[/]: tree size {report['tree_size']:,}, root "
                f"{report['root'][:16]}…; checked {checked}"
            )
        else:
            for p in report["problems"]:
                where = " ".join(
                    x for x in (f"seq {p['seq']}" if "seq" in p else "", p.get("id", "")) if x
                )
                out.print(f"[red]{p['problem']}[/] {where}: {p['detail']}")
            out.print(f"[red]FAILED[/]: {len(report['problems'])} problem(s); checked {checked}")
    if not report["ok"]:
        raise typer.Exit(1)
