"""Retention and holds under attack (issue 15, items 1-3, 6, 10, 24): no date, raw record,
race or shared bytes makes the registry delete what it must keep, or say it deleted what it
kept. Each test failed on the code before the fix."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest

from provenance.dsse import Envelope
from provenance.records import encode_record, short_id
from provenance.timefmt import END_OF_TIME, format_time, utcnow
from registry.errors import InputError, RefusedError, RetentionRefusedError, StorageError
from registry.service import Registry
from registry.service import retention as retain
from registry.service.writer import Plan, new_record
from tests.helpers import one_line_error, run_prov, write

FAR = "9999-12-31T23:59:59.999999Z"


@pytest.fixture
def reg(tmp_path, monkeypatch):
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    r = Registry.init(tmp_path)  # seven-years
    yield r
    r.close()


def _signed_here(reg: Registry, record: dict) -> Envelope:
    """An envelope signed by the registry's own (trusted) signer key, as a client holding a
    registered signer key would send it."""
    _, data = encode_record(record)
    return Envelope.sign(data, [reg.writer.signer(reg.config.signer)])


def test_a_record_the_registry_signs_may_not_be_dated_in_the_future(reg):
    future = {"kind": "dataset", "name": "d", "created_at": FAR, "subject": _subject()}
    with pytest.raises(InputError, match="in the future"):
        reg.register([future])
    with pytest.raises(InputError, match="in the future"):
        reg.submit([future], "writer-1")
    soon = format_time(utcnow() + timedelta(minutes=1))  # within the clock skew
    assert reg.register([{**future, "created_at": soon}])


def test_a_far_future_date_saturates_instead_of_disabling_retention(reg, tmp_path):
    """A client-signed record may carry any date: plan, apply and show still answer."""
    record = {
        "type": "prov.record/v1",
        "kind": "dataset",
        "name": "far",
        "created_at": FAR,
        "created_by": "writer-1",
        "subject": _subject(),
    }
    [logged], _ = reg.submit([_signed_here(reg, record)], "writer-1")
    shown = run_prov("show", logged.id, "--json", cwd=tmp_path)
    assert shown.code == 0, shown
    assert shown.json()["retention"]["retain_until"] == format_time(END_OF_TIME)
    plan = run_prov("retention", "plan", "--json", cwd=tmp_path)
    assert plan.code == 0, plan
    assert plan.json()["upcoming"] == {"9999": 1}
    assert run_prov("retention", "apply", "--yes", "--json", cwd=tmp_path).code == 0


@pytest.mark.parametrize("duration", ["P8000Y", "P999999999D", "P99999999999M"])
def test_a_policy_that_would_end_after_year_9999_is_refused(reg, tmp_path, duration):
    before = reg.checkpoint()["tree_size"]
    r = run_prov(
        "retention", "policy", "add", "forever", "--duration", duration,
        "--on-expiry", "purge", "--basis", "x", cwd=tmp_path,
    )  # fmt: skip
    assert "9999" in one_line_error(r, 2)
    assert reg.checkpoint()["tree_size"] == before
    assert run_prov(
        "show",
        reg.log(kind="dataset", limit=1)[0]["id"] if reg.log(kind="dataset") else "abcdef0",
        cwd=tmp_path,
    ).code in (0, 3)


def test_a_time_offset_past_year_one_is_an_input_error(reg, tmp_path):
    raw = reg.add(write(tmp_path / "raw.csv", "a\n1\n"), kind="dataset")
    r = run_prov("lineage", raw.id, "--as-of", "0001-01-01T00:00:00+14:00", cwd=tmp_path)
    assert "not a date or time" in one_line_error(r, 2)


def test_a_raw_tombstone_is_refused_on_every_door(reg, tmp_path):
    raw = reg.add(write(tmp_path / "raw.csv", "a\n1\n"), kind="dataset")
    tombstone = new_record(
        "tombstone", "raw.csv", links=[{"rel": "about", "id": raw.id}],
        attributes={"reason": "erasure", "locations": [{"store": "local", "uri": "x"}]},
    )  # fmt: skip
    before = reg.checkpoint()["tree_size"]
    with pytest.raises(RefusedError, match="tombstones are written by"):
        reg.register([tombstone])
    with pytest.raises(RefusedError, match="tombstones are written by"):
        reg.submit([_signed_here(reg, tombstone)], "admin-1")
    assert reg.checkpoint()["tree_size"] == before


def test_apply_does_not_finish_a_tombstone_a_hold_or_a_policy_forbids(reg, tmp_path):
    """A tombstone that got into the log without the purge's checks (an older prov took them
    over the API) deletes nothing while a hold or a policy keeps the bytes."""
    raw = reg.add(write(tmp_path / "raw.csv", "a\n1\n"), kind="dataset")
    sha = raw.record["subject"]["digest"]["sha256"]
    reg.hold(raw.id, "litigation 2026-17")
    tombstone = new_record(
        "tombstone", "raw.csv", links=[{"rel": "about", "id": raw.id}],
        attributes={"reason": "erasure", "locations": [{"store": "local", "uri": "x"}]},
    )  # fmt: skip
    reg.writer.append(lambda conn: Plan([tombstone], purge=True))  # as the old door did
    r = run_prov("retention", "apply", "--yes", "--json", cwd=tmp_path)
    assert r.code == 0, r
    assert [x["id"] for x in r.json()["refused"]] == [raw.id]
    assert "legal hold" in r.json()["refused"][0]["reason"]
    assert reg.store.has(sha)
    reg.release(raw.id, "settled")
    again = run_prov("retention", "apply", "--yes", "--json", cwd=tmp_path).json()
    assert "retained until" in again["refused"][0]["reason"]  # seven years still run
    assert reg.store.has(sha)
    with pytest.raises(RetentionRefusedError):
        reg.rm(raw.id, "erasure")  # finishing through rm re-checks too


def test_a_hold_on_a_purged_or_purging_record_is_refused_naming_the_tombstone(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    reg = Registry.init(tmp_path, retention=None)
    try:
        raw = reg.add(write(tmp_path / "raw.csv", "a\n1\n"), kind="dataset")

        def crash(*args, **kwargs):
            raise KeyboardInterrupt  # killed after the tombstone, before deleting

        real = retain._finish
        monkeypatch.setattr(retain, "_finish", crash)
        with pytest.raises(KeyboardInterrupt):
            reg.rm(raw.id, "erasure")
        monkeypatch.setattr(retain, "_finish", real)
        tomb = reg.retention_status(raw.id)["tombstone"]
    finally:
        reg.close()
    r = run_prov("retention", "hold", raw.id, "--reason", "too late", cwd=tmp_path)
    assert short_id(tomb) in one_line_error(r, 4)
    assert run_prov("retention", "apply", "--yes", cwd=tmp_path).code == 0  # the purge ends
    r = run_prov("retention", "hold", raw.id, "--reason", "still too late", cwd=tmp_path)
    assert short_id(tomb) in one_line_error(r, 4)


def test_two_runs_finishing_one_purge_log_its_removal_once(tmp_path, monkeypatch):
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    reg = Registry.init(tmp_path, retention=None)
    raw = reg.add(write(tmp_path / "raw.csv", "a\n1\n"), kind="dataset")
    tombstone = new_record(
        "tombstone", "raw.csv", links=[{"rel": "about", "id": raw.id}],
        attributes={"reason": "erasure", "locations": [{"store": "local", "uri": "x"}]},
    )  # fmt: skip
    reg.writer.append(lambda conn: Plan([tombstone], purge=True))  # a purge cut short
    both_read = threading.Barrier(2)
    real_store = retain.store

    def store(r, name):  # both runs have read the locations before either deletes
        both_read.wait(timeout=30)
        return real_store(r, name)

    monkeypatch.setattr(retain, "store", store)
    results = []
    runs = [
        threading.Thread(target=lambda: results.append(retain.apply(reg, utcnow())))
        for _ in range(2)
    ]
    for t in runs:
        t.start()
    for t in runs:
        t.join(timeout=60)
    assert len(results) == 2
    removals = [r for r in reg.log(kind="attestation") if r["name"] == "stored-at local"]
    assert len(removals) == 2  # stored at add, removed once
    assert reg.verify(full=True, content=True)["ok"]
    reg.close()


def test_an_erasure_of_shared_bytes_says_they_are_kept_and_signs_no_removal(tmp_path):
    write(tmp_path / "a.csv", "ssn\n987-65-4321\n")
    assert run_prov("init", "--retention", "none", cwd=tmp_path).code == 0
    one = run_prov("add", "a.csv", "--name", "one", "--json", cwd=tmp_path).json()["records"][0]
    two = run_prov("add", "a.csv", "--name", "two", "--json", cwd=tmp_path).json()["records"][0]
    r = run_prov("rm", one["id"], "--reason", "erasure", "--json", cwd=tmp_path)
    assert r.code == 0, r
    assert r.json()["removed"] == []
    assert r.json()["kept"] == [
        {"store": "local", "uri": r.json()["kept"][0]["uri"], "kept_for": [two["id"]]}
    ]
    human = run_prov("rm", two["id"], "--reason", "erasure", cwd=tmp_path)
    assert human.code == 0 and "purged" in human.out
    reg = Registry.open(tmp_path)
    try:
        stored = [reg.get(x["id"]).record for x in reg.log(kind="attestation")]
        actions = [
            s["attributes"]["body"]["action"] for s in stored if s["name"] == "stored-at local"
        ]
        assert sorted(actions) == ["released", "removed", "stored", "stored"]
        assert not reg.store.has(one["sha256"])  # gone once no live record holds it
        assert reg.verify(full=True, content=True)["ok"]
    finally:
        reg.close()
    shown = run_prov("rm", one["id"], "--reason", "erasure", cwd=tmp_path)
    assert shown.code == 0


def test_a_log_ahead_of_the_clock_refuses_appends_with_one_line(tmp_path, monkeypatch):
    import provenance.timefmt as timefmt
    import registry.service.writer as writer

    assert run_prov("init", cwd=tmp_path).code == 0
    ahead = utcnow() + timedelta(days=400)
    monkeypatch.setattr(timefmt, "utcnow", lambda: ahead)  # a clock set a year ahead, once
    monkeypatch.setattr(writer, "utcnow", lambda: ahead)
    write(tmp_path / "a.csv", "a\n")
    assert run_prov("add", "a.csv", cwd=tmp_path).code == 0
    monkeypatch.undo()
    write(tmp_path / "b.csv", "b\n")
    line = one_line_error(run_prov("add", "b.csv", cwd=tmp_path), 5)
    assert "ahead of this machine's clock" in line


def _subject() -> dict:
    return {"digest": {"sha256": "ab" * 32, "md5": "cd" * 16}, "size": 1}


def test_end_of_time_is_the_last_instant():
    assert datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) == END_OF_TIME


def test_prov_add_never_adopts_another_principals_back_dated_record(tmp_path):
    """Name squatting: a writer registers a public file's bytes under its name, dated 2001;
    the operator's `prov add` of that file made the writer's record its own, and `prov rm`
    then purged at once what seven years should keep."""
    data = write(tmp_path / "data" / "public.csv", "a,b\n1,2\n")
    assert run_prov("init", cwd=tmp_path).code == 0
    import hashlib

    squat = {
        "kind": "dataset",
        "name": "data/public.csv",
        "created_at": "2001-01-01T00:00:00.000000Z",
        "subject": {
            "digest": {
                "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
                "md5": hashlib.md5(data.read_bytes()).hexdigest(),
            },
            "size": data.stat().st_size,
        },
    }
    with Registry.open(tmp_path) as reg:
        [squatter], _ = reg.submit([squat], "writer-1")  # POST /v1/records
    added = run_prov("add", "data/public.csv", "--json", cwd=tmp_path).json()["records"][0]
    assert added["id"] != squatter.id and not added["existing"]
    refused = run_prov("rm", added["id"], "--reason", "erasure", cwd=tmp_path)
    assert "retained until 20" in one_line_error(refused, 4)
    shown = run_prov("show", squatter.id, "--json", cwd=tmp_path).json()
    assert shown["backdated_s"] > 20 * 365 * 86400
    assert "back-dated" in run_prov("show", squatter.id, cwd=tmp_path).out
    again = run_prov("add", "data/public.csv", "--json", cwd=tmp_path).json()["records"][0]
    assert again["id"] == added["id"] and again["existing"]  # one's own record is adopted


def test_a_purge_during_an_add_of_the_same_bytes_never_leaves_a_live_record_without_them(
    tmp_path, monkeypatch
):
    """`prov add big2` (the bytes of `big`) while `prov rm big` ran left 12,000 of big2's 12,001
    objects missing. The purge deletes under the writer lock, and an add checks its objects
    under it: here the purge lands between the add's hashing and its registration."""
    import registry.service.add as adding

    big = tmp_path / "big"
    for i in range(40):
        write(big / f"part-{i:03d}.bin", f"shared bytes {i}\n" * 50)
    shutil.copytree(big, tmp_path / "big2")
    reg = Registry.init(tmp_path, retention=None)
    first = reg.add(big, kind="dataset")
    real = adding.register_artifact

    def purge_first(*args, **kwargs):  # the other process's `prov rm big` runs now
        other = Registry.open(tmp_path)
        try:
            assert other.rm(first.id, "erasure")["removed"]
        finally:
            other.close()
        return real(*args, **kwargs)

    monkeypatch.setattr(adding, "register_artifact", purge_first)
    before = reg.checkpoint()["tree_size"]
    with pytest.raises(StorageError, match="add again"):
        reg.add(tmp_path / "big2", kind="dataset")
    monkeypatch.setattr(adding, "register_artifact", real)
    assert reg.checkpoint()["tree_size"] == before + 2  # the tombstone, the removal: no big2
    again = reg.add(tmp_path / "big2", kind="dataset")
    assert not again.existing
    assert reg.verify(full=True, content=True)["ok"]  # every byte of big2 is there
    reg.close()
