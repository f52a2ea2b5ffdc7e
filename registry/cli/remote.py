"""prov remote add|list|default, prov push and prov pull (SPEC §6, docs/storage.md)."""

from __future__ import annotations

from typing import Any

import typer

from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json

app = typer.Typer(help="Artifact stores: the local one and remotes.", no_args_is_help=True)


@app.command("add")
def remote_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The remote's name."),
    url: str = typer.Argument(
        ..., help="A path, s3://BUCKET/PREFIX, lakefs://REPO/BRANCH[/PREFIX], dvc://NAME, dvc+URL."
    ),
    endpoint_url: str | None = typer.Option(None, help="S3 or lakeFS endpoint (not AWS)."),
    lock_mode: str | None = typer.Option(
        None, help="S3 Object Lock mode: compliance (default) or governance."
    ),
    region: str | None = typer.Option(None, help="S3 region."),
    json_: bool = JsonOpt,
) -> None:
    """Configure a remote (credentials come from the environment, never the config)."""
    options = {
        k: v
        for k, v in (("endpoint_url", endpoint_url), ("lock_mode", lock_mode), ("region", region))
        if v
    }
    added = registry(ctx).add_remote(name, url, **options)
    if json_:
        emit_json(added)
    else:
        console().print(f"remote {added['name']} -> {added['url']}")


@app.command("list")
def remote_list(ctx: typer.Context, json_: bool = JsonOpt) -> None:
    """The configured remotes (the local store is always there, as ``local``)."""
    remotes = registry(ctx).remotes()
    if json_:
        emit_json({"remotes": remotes})
        return
    out = console()
    if not remotes:
        out.print("no remotes (prov remote add NAME URL)")
    for r in remotes:
        out.print(f"{'*' if r['default'] else ' '} {r['name']}\t{r['url']}")


@app.command("default")
def remote_default(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The remote push and pull use when none is named."),
    json_: bool = JsonOpt,
) -> None:
    """Set the default remote."""
    r = registry(ctx).set_default_remote(name)
    if json_:
        emit_json(r)
    else:
        console().print(f"default remote: {r['name']}")


def _report(done: list[dict[str, Any]], json_: bool, verb: str) -> None:
    if json_:
        emit_json({"copied": done})
        return
    out = console()
    if not done:
        out.print(f"nothing to {verb}")
    for d in done:
        out.print(f"{verb}ed {short_id(d['id'])}  {d['from']} -> {d['to']}  {d['uri']}")


def push(
    ctx: typer.Context,
    ref: str | None = typer.Argument(None, help="A record (default: every one not there yet)."),
    remote: str | None = typer.Option(None, help="The remote (default: the default remote)."),
    json_: bool = JsonOpt,
) -> None:
    """Copy bytes from the local store to a remote, re-hashed; each new location is logged."""
    _report(registry(ctx).push(ref, remote), json_, "push")


def pull(
    ctx: typer.Context,
    ref: str | None = typer.Argument(None, help="A record (default: every one missing here)."),
    remote: str | None = typer.Option(None, help="The remote (default: the default remote)."),
    json_: bool = JsonOpt,
) -> None:
    """Copy bytes from a remote into the local store, re-hashed; each new location is logged."""
    _report(registry(ctx).pull(ref, remote), json_, "pull")
