"""What every command shares before it runs: the open registry and the ``--json`` option."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from registry.service import Registry

JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def registry(ctx: typer.Context) -> Registry:
    """Open the registry named by --registry / PROV_REGISTRY / the nearest .prov upward."""
    from registry.service import Registry

    reg = Registry.open(ctx.obj.get("registry") if ctx.obj else None)
    ctx.call_on_close(reg.close)
    return reg
