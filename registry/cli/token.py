"""prov token: API tokens for ``prov serve`` (create, list, revoke)."""

from __future__ import annotations

import typer

from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json

app = typer.Typer(help="Manage API tokens for prov serve.", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    role: str = typer.Option(..., help="reader, writer, auditor or admin."),
    name: str = typer.Option(..., help="Who uses it: the principal its writes are recorded as."),
    json_: bool = JsonOpt,
) -> None:
    """Create a token and print it: the only time it is shown (only its hash is kept)."""
    token, info = registry(ctx).create_token(name, role)
    if json_:
        emit_json({"token": token, "name": info["name"], "role": info["role"], "id": info["id"]})
        return
    typer.echo(token)
    typer.echo(f"token {info['id']} for {name} ({role}): shown once, store it now", err=True)


@app.command("list")
def list_(ctx: typer.Context, json_: bool = JsonOpt) -> None:
    """List tokens (never their secrets)."""
    rows = registry(ctx).tokens()
    if json_:
        emit_json({"tokens": rows})
        return
    out = console()
    for t in rows:
        state = f"revoked {t['revoked_at'][:19]}Z" if t["revoked_at"] else "active"
        out.print(
            f"{t['id']}  {t['role']:<7} {t['name']}  created {t['created_at'][:19]}Z  {state}",
        )


@app.command()
def revoke(
    ctx: typer.Context,
    token: str = typer.Argument(..., help="The token's name or id."),
    json_: bool = JsonOpt,
) -> None:
    """Revoke a token: requests with it are refused (401) from now on."""
    info = registry(ctx).revoke_token(token)
    if json_:
        emit_json(info)
    else:
        console().print(f"revoked token {info['id']} ({info['name']})")
