"""prov lineage: upstream provenance and downstream impact."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from provenance.records import short_id
from registry.cli.context import registry
from registry.cli.output import console, emit_json
from registry.errors import InputError

if TYPE_CHECKING:
    from rich.tree import Tree

    from registry.service.lineage import Lineage


def lineage(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Record id or unique prefix."),
    up: bool = typer.Option(False, "--up", help="Where it came from (the default)."),
    down: bool = typer.Option(False, "--down", help="What it was used for, directly or not."),
    both: bool = typer.Option(False, "--both", help="Both directions."),
    depth: int | None = typer.Option(None, min=0, help="At most N links away."),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        metavar="TIME",
        help="The log as it stood then (RFC 3339, or a date: the end of that day, UTC).",
    ),
    fmt: str = typer.Option(
        "tree",
        "--format",
        help="tree, json, dot, mermaid, or list (one record per line, no links: impact sets).",
    ),
    json_: bool = typer.Option(False, "--json", help="Same as --format json."),
) -> None:
    """Show upstream provenance or downstream impact of a record."""
    if sum((up, down, both)) > 1:
        raise InputError("give one of --up, --down, --both")
    if fmt not in ("tree", "json", "dot", "mermaid", "list"):
        raise InputError(f"unknown format {fmt!r} (tree, json, dot, mermaid or list)")
    direction = "down" if down else "both" if both else "up"
    listing = fmt == "list" and not json_
    result = registry(ctx).lineage_query(ref, direction, depth, as_of, edges=not listing)
    if listing:
        for rid, n in sorted(result.nodes.items(), key=lambda kv: kv[1]["seq"]):
            typer.echo(f"{rid}\t{n['kind']}\t{n['name']}\t{n['created_at']}")
    elif json_ or fmt == "json":
        emit_json(result.to_json())
    elif fmt == "dot":
        typer.echo(result.to_dot(), nl=False)
    elif fmt == "mermaid":
        typer.echo(result.to_mermaid(), nl=False)
    else:
        out = console()
        for d in ("up", "down") if direction == "both" else (direction,):
            out.print(_tree(result, d))


def _label(result: Lineage, node: str, rel: str | None = None) -> str:
    n = result.nodes[node]
    via = f"[dim]{rel}[/] " if rel else ""
    return (
        f"{via}[bold]{n['kind']}[/] {n['name']} [cyan]{short_id(node)}[/] "
        f"[dim]{n['created_at'][:19]}Z[/]"
    )


def _tree(result: Lineage, direction: str) -> Tree:
    from rich.tree import Tree

    title = "upstream (where it came from)" if direction == "up" else "downstream (impact)"
    root = Tree(f"{_label(result, result.root)}  [dim]— {title}[/]")
    seen = {result.root}

    def grow(branch: Tree, node: str) -> None:
        # Depth first in print order, so "(see above)" always points upwards on the screen.
        for rel, nxt in result.children(node, direction):
            if nxt in seen:  # a DAG: shared ancestors and descendants are expanded once
                branch.add(f"{_label(result, nxt, rel)} [dim](see above)[/]")
                continue
            seen.add(nxt)
            grow(branch.add(_label(result, nxt, rel)), nxt)

    grow(root, result.root)
    return root
