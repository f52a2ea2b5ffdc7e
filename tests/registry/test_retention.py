"""Retention carried out: policies, legal holds, status, plan, apply and rm (SPEC §7).

Time is injected: the tests live years ahead in milliseconds."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.timefmt import utcnow
from registry.errors import InputError, NotFoundError, RefusedError
from registry.service import Registry
from registry.service import retention as retain
from retention.holds import HOLD, RELEASE, active_holds
from retention.policy import retention_of
from tests.helpers import run_prov, write

DAY = timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch(request, tmp_path, monkeypatch):
    """A registry whose one policy purges datasets and models 30 days after creation."""
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    reg = Registry.init(tmp_path, retention=None, database_url=url)
    request.addfinalizer(reg.close)
    reg.add_policy("scratch", preset="dev-ttl-30d")
    return reg


def snapshot(reg: Registry) -> dict[str, str]:
    """Every byte the registry holds: the log and tables (as rows) and every stored object."""
    from sqlalchemy import text

    tables = {}
    with reg.engine.connect() as conn:
        for table in (
            "log_entries",
            "records",
            "links",
            "tags",
            "keys",
            "locations",
            "checkpoints",
        ):
            rows = conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2")).all()
            tables[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    objects = reg.store.root
    for p in sorted(objects.rglob("*")):
        if p.is_file():
            tables[str(p.relative_to(objects))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return tables


def lineage_around(reg: Registry, tmp_path):
    """raw.csv -> run -> model.bin; returns the three records."""
    raw = reg.add(write(tmp_path / "raw.csv", "a,b\n1,2\n"))
    run = reg.register(
        [{"kind": "run", "name": "train", "links": [{"rel": "used", "id": raw.id}]}]
    )[0]
    model = reg.add(write(tmp_path / "model.bin", b"\0weights"), links=[("generated_by", run.id)])
    return raw, run, model


def test_a_refused_rm_or_apply_changes_nothing(scratch, tmp_path):
    raw = scratch.add(write(tmp_path / "raw.csv", "a,b\n1,2\n"))
    now = utcnow()
    before = snapshot(scratch)
    with pytest.raises(RefusedError, match="retained until"):
        scratch.rm(raw.id, "erasure", now)
    assert snapshot(scratch) == before
    scratch.hold(raw.id, "litigation 2026-17")
    held = snapshot(scratch)
    with pytest.raises(RefusedError, match="legal hold"):
        scratch.rm(raw.id, "erasure", now + 400 * DAY)  # long expired, but held
    assert scratch.retention_apply(now + 400 * DAY) == {"purged": [], "finished": [], "refused": []}
    assert snapshot(scratch) == held
    assert scratch.store.has(raw.record["subject"]["digest"]["sha256"])


def test_hold_survives_apply_then_release_purges_and_lineage_still_verifies(scratch, tmp_path):
    raw, run, model = lineage_around(scratch, tmp_path)
    later = utcnow() + 31 * DAY
    scratch.hold(model.id, "audit of model v1")
    status = scratch.retention_status(model.id, later)
    assert status["state"] == "held" and status["holds"][0]["reason"] == "audit of model v1"
    result = scratch.retention_apply(later)
    assert [p["id"] for p in result["purged"]] == [raw.id]  # the held model survives
    model_sha = model.record["subject"]["digest"]["sha256"]
    assert scratch.store.has(model_sha)
    assert not scratch.store.has(raw.record["subject"]["digest"]["sha256"])
    scratch.release(model.id, "audit closed")
    assert scratch.retention_status(model.id, later)["state"] == "expired-purge"
    assert [p["id"] for p in scratch.retention_apply(later)["purged"]] == [model.id]
    assert not scratch.store.has(model_sha)
    shown = scratch.show(model.id)
    assert shown["locations"][0]["present"] is False
    assert scratch.retention_status(model.id, later)["state"] == "tombstoned"
    # The lineage around the purged bytes still answers and verifies, contents included.
    assert set(scratch.lineage_query(model.id, "up").nodes) == {model.id, run.id, raw.id}
    assert set(scratch.lineage_query(raw.id, "down").nodes) == {model.id, run.id, raw.id}
    report = scratch.verify(full=True, content=True)
    assert report["ok"], report


def test_release_without_a_hold_and_hold_on_unknown_record(scratch, tmp_path):
    raw, _, _ = lineage_around(scratch, tmp_path)
    # A hold registered under another name would go unseen by the registry: refused as invalid.
    disguised = {
        "kind": "attestation",
        "name": "note",
        "links": [{"rel": "about", "id": raw.id}],
        "attributes": {"predicate": "legal-hold", "body": {"reason": "x"}},
    }
    with pytest.raises(InputError, match="named 'legal-hold'"):
        scratch.register([disguised])
    with pytest.raises(InputError, match="no legal hold"):
        scratch.release(raw.id, "nothing to release")
    with pytest.raises(NotFoundError):
        scratch.hold("sha256:" + "ab" * 32, "unknown")
    with pytest.raises(InputError, match="reason"):
        scratch.hold(raw.id, " ")


def test_a_purge_cut_short_after_its_tombstone_is_finished_by_apply(scratch, tmp_path, monkeypatch):
    raw, _, _ = lineage_around(scratch, tmp_path)
    later = utcnow() + 31 * DAY
    sha = raw.record["subject"]["digest"]["sha256"]
    real_finish = retain._finish

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the tombstone, before any delete

    monkeypatch.setattr(retain, "_finish", crash)
    with pytest.raises(KeyboardInterrupt):
        scratch.rm(raw.id, "erasure", later)
    monkeypatch.setattr(retain, "_finish", real_finish)
    status = scratch.retention_status(raw.id, later)
    assert status["state"] == "tombstoned" and status["locations"]  # bytes not gone yet
    assert scratch.store.has(sha)
    assert scratch.verify(full=True, content=True)["ok"]  # verifiable all along
    plan = scratch.retention_plan(later)
    assert [i["id"] for i in plan["due"] if i["unfinished"]] == [raw.id]
    result = scratch.retention_apply(later)
    assert result["finished"] == [raw.id]
    assert not scratch.store.has(sha) and not scratch.retention_status(raw.id, later)["locations"]
    assert scratch.verify(full=True, content=True)["ok"]


def test_an_erasure_no_policy_governs_cut_short_is_finished_by_apply(tmp_path, monkeypatch):
    """``prov rm`` of a record no policy covers, killed after its tombstone: ``retention
    plan`` lists it and ``apply`` finishes it (both once skipped records without a policy)."""
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    reg = Registry.init(tmp_path / "reg", retention=None)
    try:
        added = reg.add(write(tmp_path / "pii.csv", "name\nAda\n"), kind="dataset")
        sha = added.record["subject"]["digest"]["sha256"]

        def crash(*args, **kwargs):
            raise KeyboardInterrupt

        real_finish = retain._finish
        monkeypatch.setattr(retain, "_finish", crash)
        with pytest.raises(KeyboardInterrupt):
            reg.rm(added.id, "erasure")
        monkeypatch.setattr(retain, "_finish", real_finish)
        assert reg.store.has(sha)
    finally:
        reg.close()
    shown = run_prov("retention", "plan", cwd=tmp_path / "reg")
    assert shown.code == 0 and "finish purge" in shown.out and "no policy applies" in shown.out
    done = run_prov("retention", "apply", "--yes", "--json", cwd=tmp_path / "reg")
    assert done.code == 0 and done.json()["finished"] == [added.id], done
    reg = Registry.open(tmp_path / "reg")
    try:
        assert not reg.store.has(sha)
        assert reg.verify(full=True, content=True)["ok"]
    finally:
        reg.close()


def test_bytes_another_record_still_needs_are_kept(scratch, tmp_path):
    a = scratch.add(write(tmp_path / "a.csv", "same bytes\n"))
    later = utcnow() + 31 * DAY
    scratch.add_policy(
        "keep-b",
        {
            "duration": "P10Y",
            "applies_to": {"name_glob": "b.csv"},
            "on_expiry": "review",
            "basis": "contract",
        },
    )
    b = scratch.add(write(tmp_path / "b.csv", "same bytes\n"))
    scratch.rm(a.id, "erasure", later)
    assert scratch.store.has(b.record["subject"]["digest"]["sha256"])
    assert scratch.verify(full=True, content=True)["ok"]
    with pytest.raises(RefusedError):
        scratch.rm(b.id, "erasure", later)


def test_a_directory_purge_removes_its_files_but_not_those_a_kept_record_holds(scratch, tmp_path):
    write(tmp_path / "d" / "a.txt", "file a\n")
    write(tmp_path / "d" / "sub" / "b.txt", "file b\n")
    scratch.add_policy(
        "keep-b",
        {
            "duration": "P10Y",
            "applies_to": {"name_glob": "b.txt"},
            "on_expiry": "review",
            "basis": "contract",
        },
    )
    kept = scratch.add(tmp_path / "d" / "sub" / "b.txt")
    directory = scratch.add(tmp_path / "d")
    manifest = directory.record["subject"]["digest"]["sha256"]
    a_sha = hashlib.sha256(b"file a\n").hexdigest()
    scratch.rm(directory.id, "erasure", utcnow() + 31 * DAY)
    assert not scratch.store.has(manifest) and not scratch.store.has(a_sha)
    assert scratch.store.has(kept.record["subject"]["digest"]["sha256"])
    assert scratch.verify(full=True, content=True)["ok"]


def test_latest_policy_wins_and_the_most_conservative_action():
    created = "2020-01-01T00:00:00.000000Z"
    record = {"kind": "dataset", "name": "d", "created_at": created, "tags": {}}
    logged = utcnow()

    def policy(duration, action):
        return {"attributes": {"duration": duration, "on_expiry": action, "applies_to": {}}}

    r = retention_of(
        record,
        logged,
        [
            ("p1", policy("P1Y", "purge")),
            ("p2", policy("P7Y", "purge")),
            ("p3", policy("P84M", "review")),
        ],
    )
    assert r.retain_until.year == 2027 and r.on_expiry == "review" and r.deciding == ("p2", "p3")
    assert r.state(r.retain_until) == "expired-review"
    assert r.state(r.retain_until - timedelta(microseconds=1)) == "retained"


@given(
    st.lists(
        st.tuples(st.sampled_from([HOLD, RELEASE]), st.sampled_from("abc"), st.booleans()),
        max_size=30,
    )
)
def test_holds_replay_matches_a_simple_model(events):
    """A release naming its holds ends those; one naming none ends them all."""
    model: dict[str, list[str]] = {}
    replay = []
    for i, (predicate, about, named) in enumerate(events):
        aid = f"h{i}"
        body = {}
        if predicate == HOLD:
            model.setdefault(about, []).append(aid)
        else:
            current = model.get(about, [])
            ends = current[:1] if named and current else []
            if named:
                body["holds"] = ends
            model[about] = [h for h in current if named and h not in ends]
            if not model[about]:
                model.pop(about)
        replay.append((aid, predicate, about, body))
    assert active_holds(replay) == model


def test_cli_exit_codes(tmp_path):
    assert run_prov("init", "--retention", "dev-ttl-30d", cwd=tmp_path).code == 0
    write(tmp_path / "d.csv", "x\n1\n")
    added = run_prov("add", "d.csv", "--json", cwd=tmp_path).json()["records"][0]["id"]
    bad = run_prov(
        "retention",
        "policy",
        "add",
        "p",
        "--duration",
        "P7Q",
        "--on-expiry",
        "purge",
        "--basis",
        "x",
        cwd=tmp_path,
    )
    assert bad.code == 2 and "ISO 8601" in bad.err
    assert (
        run_prov("retention", "hold", "sha256:" + "0" * 64, "--reason", "x", cwd=tmp_path).code == 3
    )
    refused = run_prov("rm", added, "--reason", "erasure", cwd=tmp_path)
    assert refused.code == 4 and "retained until" in refused.err
    status = run_prov("retention", "status", added, "--json", cwd=tmp_path).json()
    assert status["state"] == "retained" and status["on_expiry"] == "purge"
    assert run_prov("retention", "hold", added, "--reason", "case 1", cwd=tmp_path).code == 0
    listed = run_prov("retention", "policy", "list", "--json", cwd=tmp_path).json()["policies"]
    assert [p["name"] for p in listed] == ["dev-ttl-30d"] and listed[0]["duration"] == "P30D"
    plan = run_prov("retention", "plan", "--json", cwd=tmp_path).json()
    assert plan["states"] == {"held": 1}
    assert run_prov("retention", "apply", "--yes", "--json", cwd=tmp_path).json() == {
        "purged": [],
        "finished": [],
        "refused": [],
    }
