"""prov code, prov env, prov attest: register a commit, an environment, a statement."""

from __future__ import annotations

import json

import typer

from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json
from registry.errors import InputError


def _print(reg_result: object, json_: bool) -> None:
    r = reg_result
    if json_:
        emit_json(r.summary() | {"record": r.record})  # type: ignore[attr-defined]
        return
    state = "unchanged" if r.existing else "added"  # type: ignore[attr-defined]
    console().print(f"{state} {r.kind} {r.name} {short_id(r.id)}  (seq {r.seq})")  # type: ignore[attr-defined]


def code(
    ctx: typer.Context,
    repo: str = typer.Option(".", metavar="DIR", help="A directory in the git working tree."),
    json_: bool = JsonOpt,
) -> None:
    """Register the git commit checked out at DIR as a code record."""
    _print(registry(ctx).code(repo), json_)


def env(
    ctx: typer.Context,
    python: str | None = typer.Option(
        None, metavar="EXE", help="Capture another interpreter's packages (default: this one)."
    ),
    project: str | None = typer.Option(
        None, metavar="DIR", help="Where to look for lock files (default: the git working tree)."
    ),
    json_: bool = JsonOpt,
) -> None:
    """Capture and register the environment (identical environments give the same record)."""
    _print(registry(ctx).environment(project, python), json_)


def attest(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Record id or unique prefix."),
    predicate: str = typer.Option(
        ..., help="approval, evaluation, quality-check, review, or a URI."
    ),
    body: str | None = typer.Option(None, metavar="JSON", help="The statement's body (JSON)."),
    json_: bool = JsonOpt,
) -> None:
    """Sign a statement about a record."""
    parsed = None
    if body is not None:
        try:
            parsed = json.loads(body)
        except ValueError as e:
            raise InputError(f"--body is not JSON: {e}") from None
    _print(registry(ctx).attest(ref, predicate, parsed), json_)
