"""prov key: list, create and revoke keys."""

from __future__ import annotations

import base64

import typer

from provenance.keys import key_id
from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json

app = typer.Typer(help="Manage signing and log keys.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, json_: bool = JsonOpt) -> None:
    """List keys with their roles and whether they are revoked."""
    keys = registry(ctx).keys()
    if json_:
        emit_json({"keys": keys})
        return
    out = console()
    for k in keys:
        state = "revoked" if k["revoked"] else ("active" if k["active"] else "")
        out.print(f"{k['keyid'][:12]}  {k['role']:<6} {k['owner']}  {state}")


@app.command()
def new(
    ctx: typer.Context,
    role: str = typer.Option(..., help="signer or log."),
    owner: str | None = typer.Option(None, help="Who holds it (default user@host)."),
    standby: bool = typer.Option(
        False,
        "--standby",
        help="Register a signer key without making it active: a backup to keep offline.",
    ),
    json_: bool = JsonOpt,
) -> None:
    """Create a key, log its key record and make it the active key of its role."""
    reg = registry(ctx)
    r = reg.new_key(role, owner, standby)
    if json_:
        emit_json(r.summary())
    elif standby:
        path = reg.keystore.path_for(key_id(base64.b64decode(r.record["attributes"]["public_key"])))
        console().print(
            f"standby signer key {r.record['name']} (record {short_id(r.id)}): move {path} to "
            "offline storage; it signs the successor if the active signer key is lost"
        )
    else:
        console().print(f"new {role} key {r.record['name']} (record {short_id(r.id)})")


@app.command()
def revoke(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Key id or key record id."),
    reason: str = typer.Option(..., help="Why it is revoked."),
    json_: bool = JsonOpt,
) -> None:
    """Revoke a key: signatures it makes after this are not trusted."""
    r = registry(ctx).revoke_key(key, reason)
    if json_:
        emit_json(r.summary())
    else:
        console().print(f"revoked {key} (attestation {short_id(r.id)})")
