"""prov rebuild: recompute what is derived from the envelopes."""

from __future__ import annotations

import typer

from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json


def rebuild(ctx: typer.Context, json_: bool = JsonOpt) -> None:
    """Recompute the Merkle nodes and query tables from the signed envelopes.

    Use it when `prov verify --full` reports derived-mismatch or node-mismatch; then verify
    again. It changes no envelope, leaf order or checkpoint, so it cannot hide tampering.
    """
    result = registry(ctx).rebuild()
    if json_:
        emit_json(result)
        return
    skipped = f"; {len(result['skipped'])} undecodable entries skipped" if result["skipped"] else ""
    console().print(
        f"rebuilt {result['records']:,} records and {result['nodes']:,} tree nodes from "
        f"{result['entries']:,} envelopes{skipped}"
    )
