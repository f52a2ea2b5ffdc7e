"""Retention over HTTP: admins hold and release (logged with their principal), purges of
retained or held bytes answer 423 and change nothing, readers see status and plan."""

from __future__ import annotations

import hashlib


def _snapshot(live) -> tuple[int, str]:
    objects = sorted(
        (p.relative_to(live.reg.prov_dir).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in (live.reg.prov_dir / "objects").rglob("*")
        if p.is_file()
    )
    return live.reg.checkpoint()["tree_size"], repr(objects)


def test_hold_release_and_refused_purge(live, tmp_path):
    f = tmp_path / "patients.csv"
    f.write_text("id,age\n1,40\n")
    rid = live.reg.add(f, kind="dataset").id
    admin, writer, reader = live.client("admin"), live.client("writer"), live.client("reader")

    body = {"ref": rid, "reason": "litigation hold 2026-17"}
    assert writer.post("/v1/retention/holds", json=body).status_code == 403
    held = admin.post("/v1/retention/holds", json=body)
    assert held.status_code == 201, held.text
    status = reader.get(f"/v1/retention/status/{rid}").json()
    assert [h["by"] for h in status["holds"]] == ["admin-1"]
    assert status["holds"][0]["reason"] == "litigation hold 2026-17"

    before = _snapshot(live)
    r = admin.post("/v1/retention/purges", json={"ref": rid, "reason": "erasure"})
    assert r.status_code == 423
    assert r.headers["content-type"] == "application/problem+json"
    assert "legal hold" in r.json()["detail"]
    assert _snapshot(live) == before

    assert (
        admin.post("/v1/retention/releases", json=body | {"reason": "settled"}).status_code == 201
    )
    # Still retained seven years by the default policy: refused again, nothing changed.
    before = _snapshot(live)
    r = admin.post("/v1/retention/purges", json={"ref": rid, "reason": "erasure"})
    assert r.status_code == 423 and "retained until" in r.json()["detail"]
    assert _snapshot(live) == before

    plan = reader.get("/v1/retention/plan").json()
    assert plan["states"]["retained"] >= 1 and plan["due"] == []


def test_bad_retention_requests(live):
    admin = live.client("admin")
    assert (
        admin.post("/v1/retention/holds", json={"ref": "ab" * 8, "reason": "x"}).status_code == 404
    )
    assert admin.post("/v1/retention/holds", json={"ref": "ab" * 8}).status_code == 422
    r = admin.post("/v1/retention/releases", json={"ref": live.reg.log()[0]["id"], "reason": "x"})
    assert r.status_code in (400, 422) and "no legal hold" in r.json()["detail"]
