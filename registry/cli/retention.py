"""prov retention (policies, status, holds, plan, apply) and prov rm (SPEC §7)."""

from __future__ import annotations

import sys
from typing import Any

import typer

from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json
from registry.errors import InputError

app = typer.Typer(help="Retention policies, legal holds, expiry and purging.", no_args_is_help=True)
policy_app = typer.Typer(help="Retention policies (logged records).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

_REASON = typer.Option(..., "--reason", help="Why: logged with the record.")


def _policy_json(p: Any) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "seq": p.seq, **p.record["attributes"]}


@policy_app.command("add")
def policy_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The policy's name."),
    preset: str | None = typer.Option(None, help="Adopt a shipped preset (see docs/retention.md)."),
    duration: str | None = typer.Option(None, help="ISO 8601 duration, e.g. P7Y, P6M, P30D."),
    kinds: str | None = typer.Option(None, help="Comma-separated kinds it applies to."),
    name_glob: str | None = typer.Option(None, "--name-glob", help="Only names matching."),
    tag: list[str] = typer.Option([], "--tag", help="Only records tagged K=V (repeatable)."),
    from_: str = typer.Option("created_at", "--from", help="created_at or logged_at."),
    on_expiry: str | None = typer.Option(None, "--on-expiry", help="purge, review or keep."),
    basis: str | None = typer.Option(None, help="The legal or business basis."),
    json_: bool = JsonOpt,
) -> None:
    """Log a retention policy: a preset, or your own duration, scope and expiry action."""
    reg = registry(ctx)
    if preset:
        if duration or kinds or name_glob or tag or on_expiry or basis:
            raise InputError("--preset takes no other policy options")
        p = reg.add_policy(name, preset=preset)
    else:
        missing = [
            o
            for o, v in (("--duration", duration), ("--on-expiry", on_expiry), ("--basis", basis))
            if not v
        ]
        if missing:
            raise InputError(f"give --preset, or {', '.join(missing)}")
        applies: dict[str, Any] = {}
        if kinds:
            applies["kinds"] = [k.strip() for k in kinds.split(",") if k.strip()]
        if name_glob:
            applies["name_glob"] = name_glob
        if tag:
            pairs = [t.partition("=") for t in tag]
            if any(not eq or not k for k, eq, _ in pairs):
                raise InputError("--tag takes KEY=VALUE")
            applies["tags"] = {k: v for k, _, v in pairs}
        attributes = {
            "duration": duration,
            "from": from_,
            "applies_to": applies,
            "on_expiry": on_expiry,
            "basis": basis,
        }
        p = reg.add_policy(name, attributes)
    if json_:
        emit_json(_policy_json(p))
    else:
        typer.echo(p.id)


@policy_app.command("list")
def policy_list(ctx: typer.Context, json_: bool = JsonOpt) -> None:
    """The policies in force, oldest first."""
    found = registry(ctx).policies()
    if json_:
        emit_json({"policies": [_policy_json(p) for p in found]})
        return
    out = console()
    for p in found:
        a = p.record["attributes"]
        scope = ",".join(a.get("applies_to", {}).get("kinds", [])) or "all kinds"
        out.print(
            f"[cyan]{short_id(p.id)}[/] [bold]{p.name}[/] {a['duration']} from {a.get('from')}, "
            f"{scope}, then {a['on_expiry']} [dim]— {a['basis']}[/]"
        )


@policy_app.command("show")
def policy_show(ctx: typer.Context, ref: str = typer.Argument(...), json_: bool = JsonOpt) -> None:
    """One policy."""
    reg = registry(ctx)
    rec = reg.get(ref)
    if rec.kind != "policy":
        raise InputError(f"{short_id(rec.id)} is a {rec.kind} record, not a policy")
    emit_json(_policy_json(rec)) if json_ else console().print_json(data=_policy_json(rec))


@app.command()
def status(ctx: typer.Context, ref: str = typer.Argument(...), json_: bool = JsonOpt) -> None:
    """A record's retention: policies, retain-until, legal holds, tombstone."""
    info = registry(ctx).retention_status(ref)
    if json_:
        emit_json(info)
        return
    out = console()
    until = info["retain_until"] or "no policy applies"
    out.print(f"[bold]{info['kind']}[/] {info['name']} [cyan]{short_id(info['id'])}[/]")
    out.print(f"  state: [bold]{info['state']}[/]   retain until: {until}")
    if info["on_expiry"]:
        out.print(
            f"  then: {info['on_expiry']}   policies: {', '.join(map(short_id, info['policies']))}"
        )
    for h in info["holds"]:
        hid = short_id(h["id"])
        out.print(f"  [red]legal hold[/] {hid} by {h['by']} at {h['at'][:19]}Z: {h['reason']}")
    if info["tombstone"]:
        out.print(f"  tombstone {short_id(info['tombstone'])}")


@app.command("hold")
def hold_(ctx: typer.Context, ref: str = typer.Argument(...), reason: str = _REASON) -> None:
    """Put a legal hold on a record: its bytes are kept, whatever the policies, until released."""
    r = registry(ctx).hold(ref, reason)
    typer.echo(r.id)


@app.command()
def release(ctx: typer.Context, ref: str = typer.Argument(...), reason: str = _REASON) -> None:
    """Release the legal holds on a record."""
    r = registry(ctx).release(ref, reason)
    typer.echo(r.id)


@app.command()
def plan(ctx: typer.Context, json_: bool = JsonOpt) -> None:
    """What expires when, and what apply would do now (writes nothing)."""
    result = registry(ctx).retention_plan()
    if json_:
        emit_json(result)
        return
    _print_plan(result)


def _print_plan(result: dict[str, Any]) -> None:
    out = console()
    states = ", ".join(f"{n} {s}" for s, n in sorted(result["states"].items())) or "none"
    out.print(f"records under a policy: {states}")
    for item in result["due"]:
        action = "purge" if item["state"] == "expired-purge" else item["state"]
        if item["unfinished"]:
            action = "finish purge"
        until = item["retain_until"]
        why = f"retained until {until[:10]}" if until else "no policy applies"
        out.print(
            f"  {action:<15} [cyan]{short_id(item['id'])}[/] {item['kind']} {item['name']} "
            f"[dim]({why})[/]"
        )
    for year, n in sorted(result["upcoming"].items()):
        out.print(f"  expiring in {year}: {n}")


@app.command("apply")
def apply_(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", help="Purge without asking."),
    json_: bool = JsonOpt,
) -> None:
    """Purge the bytes whose policy says purge and whose retention is over (tombstones first)."""
    reg = registry(ctx)
    if not yes:
        due = [
            i
            for i in reg.retention_plan()["due"]
            if i["state"] == "expired-purge" or i["unfinished"]
        ]
        if not due:
            emit_json({"purged": [], "finished": [], "refused": []}) if json_ else console().print(
                "nothing to purge"
            )
            return
        if json_ or not sys.stdin.isatty():
            raise InputError(f"{len(due)} record(s) would be purged: add --yes")
        typer.confirm(f"purge the bytes of {len(due)} record(s)?", abort=True)
    result = reg.retention_apply()
    if json_:
        emit_json(result)
        return
    out = console()
    for p in result["purged"]:
        _print_purge(out, p)
    for rid in result["finished"]:
        out.print(f"finished purging {short_id(rid)}")
    for r in result["refused"]:
        out.print(f"[red]not finished[/] {short_id(r['id'])}: {r['reason']}")
    if not (result["purged"] or result["finished"] or result["refused"]):
        out.print("nothing to purge")


def _print_purge(out: Any, result: dict[str, Any]) -> None:
    """What a purge did, truthfully: bytes removed, or kept because other records hold them."""
    rid, tombstone = short_id(result["id"]), short_id(result["tombstone"])
    if result["removed"] or not result["kept"]:
        out.print(f"purged {rid}: tombstone {tombstone}")
    for k in result["kept"]:
        holders = ", ".join(short_id(h) for h in k["kept_for"])
        out.print(
            f"tombstoned {rid} (tombstone {tombstone}), but its bytes in {k['store']} are kept: "
            f"they are also the bytes of {holders} (purge those to remove them)"
        )


def rm(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Record id or unique prefix."),
    reason: str = typer.Option(..., "--reason", help="Why, e.g. erasure (GDPR Art. 17)."),
    json_: bool = JsonOpt,
) -> None:
    """Purge an artifact's bytes from every store and log a tombstone (refused while retained
    or under legal hold; the record, its signatures and its lineage stay)."""
    result = registry(ctx).rm(ref, reason)
    if json_:
        emit_json(result)
    else:
        _print_purge(console(), result)
