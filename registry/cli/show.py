"""prov show: one record with its signatures, log position, locations and retention."""

from __future__ import annotations

import json

import typer

from provenance.records import short_id
from registry.cli.context import JsonOpt, registry
from registry.cli.output import console, emit_json

#: A record dated this much before it was logged says so (a capture's own time, a pipeline's
#: clock, a batch sent later: minutes are common; days are worth a look).
BACKDATED_NOTICE_S = 86400


def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Record id or unique prefix."),
    json_: bool = JsonOpt,
) -> None:
    """Show one record: fields, verified signatures, log position, locations, retention."""
    info = registry(ctx).show(ref)
    if json_:
        emit_json(info)
        return
    from rich.table import Table

    rec = info["record"]
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row("id", info["id"])
    for field in ("kind", "name", "created_at", "created_by"):
        if field in rec:
            t.add_row(field, str(rec[field]))
    t.add_row("log", f"seq {info['seq']}, logged {info['logged_at']}")
    if info["backdated_s"] > BACKDATED_NOTICE_S:
        days = info["backdated_s"] / 86400
        t.add_row("[yellow]back-dated[/]", f"created_at is {days:,.1f} days before it was logged")
    subject = rec.get("subject")
    if subject:
        for alg, hexval in subject["digest"].items():
            t.add_row(alg, hexval)
        t.add_row(
            "size",
            f"{subject['size']:,} bytes"
            + (f" in {subject['files']} files" if "files" in subject else ""),
        )
    for link in rec.get("links", []):
        t.add_row(link["rel"], link["id"])
    for k, v in rec.get("tags", {}).items():
        t.add_row(f"tag {k}", v)
    if rec.get("attributes"):
        t.add_row("attributes", json.dumps(rec["attributes"], ensure_ascii=False))
    for s in info["signatures"]:
        t.add_row(
            "signature",
            f"{s['keyid'][:12]} " + ("[green]valid[/]" if s["valid"] else "[red]NOT VALID[/]"),
        )
    for loc in info["locations"]:
        state = "" if loc["present"] else " (removed)"
        t.add_row("stored", f"{loc['store']}:{loc['uri']}{state}")
    ret = info["retention"]
    if ret["retain_until"]:
        t.add_row("retain until", ret["retain_until"])
    for h in ret.get("holds", []):
        t.add_row("legal hold", f"{h['reason']} (by {h['by']}, {h['at']}, {short_id(h['id'])})")
    if ret.get("tombstone"):
        t.add_row("tombstone", f"bytes purged: {short_id(ret['tombstone'])}")
    console().print(t)
