"""prov init: create a registry."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from registry.cli.context import JsonOpt
from registry.cli.output import console, emit_json


def init(
    directory: Path = typer.Argument(Path("."), help="Where to create .prov/."),
    origin: str | None = typer.Option(None, help="Checkpoint origin (default prov/<uuid>)."),
    retention: str = typer.Option(
        "seven-years", help="Retention preset to log, or 'none'.", metavar="PRESET|none"
    ),
    json_: bool = JsonOpt,
) -> None:
    """Create .prov/ with a signing key, a log key and the default retention policy."""
    from registry.service import Registry

    reg = Registry.init(
        directory, origin=origin, retention=None if retention == "none" else retention
    )
    try:
        genesis = reg.log()[::-1]
    finally:
        reg.close()
    if not os.environ.get("PROV_KEY_PASSPHRASE"):
        sys.stderr.write(
            f"prov: warning: the private keys in {reg.prov_dir / 'keys'} are not encrypted "
            "(set PROV_KEY_PASSPHRASE before prov init to encrypt them)\n"
        )
    if json_:
        emit_json(
            {
                "registry": str(reg.prov_dir),
                "uuid": reg.config.uuid,
                "origin": reg.config.origin,
                "genesis": [r["id"] for r in genesis if r["kind"] == "key"],
                "records": genesis,
            }
        )
        return
    out = console()
    out.print(f"Initialized prov registry in {reg.prov_dir}")
    out.print(f"origin {reg.config.origin}")
    out.print("genesis (pin these ids to verify this log later):")
    for r in genesis:
        out.print(f"  {r['seq']}  {r['kind']:<7} {r['name']:<22} {r['id']}")
