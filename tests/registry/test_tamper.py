"""Tamper evidence (SPEC §8): edits made directly in SQLite or the object store are reported by
``prov verify --full`` / ``--content`` with exit 1, naming the record or sequence number."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3

import pytest

from provenance.canonical import canonical_bytes
from tests.helpers import run_prov, write

TARGET = 7  # the third dataset (0-2 genesis, then each add logs a dataset and its stored-at)


@pytest.fixture
def project(tmp_path, reg):
    """A registry with a dozen records: datasets, their stored-at attestations, a model."""
    ids = []
    for i in range(4):
        ids.append(reg.add(write(tmp_path / f"d{i}.csv", f"a,b\n{i},{i * i}\n")).id)
    model = reg.add(
        write(tmp_path / "m.bin", b"\x00weights"), kind="model", links=[("derived_from", ids[0])]
    )
    reg.close()
    assert run_prov("verify", "--full", "--content", cwd=tmp_path).code == 0
    return tmp_path, ids, model.id


def db(project_dir):
    conn = sqlite3.connect(project_dir / ".prov" / "registry.db", isolation_level=None)
    return conn


def entry(conn, seq):
    rid, env = conn.execute(
        "SELECT record_id, envelope FROM log_entries WHERE seq = ?", (seq,)
    ).fetchone()
    return rid, json.loads(env)


def rewrite_record(conn, seq, **changes):
    """Edit a logged record's fields in place, keeping the old signature: a forgery."""
    rid, env = entry(conn, seq)
    record = json.loads(base64.b64decode(env["payload"]))
    record.update(changes)
    env["payload"] = base64.b64encode(canonical_bytes(record)).decode()
    conn.execute("UPDATE log_entries SET envelope = ? WHERE seq = ?", (canonical_bytes(env), seq))
    return rid


def verify(project_dir, *flags):
    r = run_prov("verify", *flags, "--json", cwd=project_dir)
    assert r.code == 1, r
    report = r.json()
    assert report["ok"] is False and report["problems"]
    return report["problems"]


def named(problems, seq=None, rid=None):
    return [
        p
        for p in problems
        if (seq is not None and p.get("seq") == seq) or (rid is not None and p.get("id") == rid)
    ]


def test_a_clean_registry_verifies_in_every_mode(project):
    d, _, _ = project
    for flags in ([], ["--full"], ["--content"], ["--full", "--content"]):
        r = run_prov("verify", *flags, "--json", cwd=d)
        assert r.code == 0, r
        assert r.json()["ok"] is True and r.json()["problems"] == []


def test_an_edited_payload_is_reported(project):
    d, _, _ = project
    with db(d) as conn:
        rid = rewrite_record(conn, TARGET, name="renamed-behind-our-back.csv")
    problems = named(verify(d, "--full"), seq=TARGET)
    kinds = {p["problem"] for p in problems}
    assert {"id-mismatch", "bad-signature", "leaf-mismatch"} <= kinds
    assert all(p["id"] == rid for p in problems if "id" in p)


def test_a_changed_timestamp_is_reported(project):
    d, _, _ = project
    with db(d) as conn:
        conn.execute(
            "UPDATE log_entries SET logged_at = '2020-01-01T00:00:00.000000Z' WHERE seq = ?",
            (TARGET,),
        )
    problems = verify(d, "--full")
    assert {p["problem"] for p in named(problems, seq=TARGET)} >= {
        "leaf-mismatch",
        "logged-at-backwards",
    }


def test_a_back_dated_created_at_is_reported(project):
    d, _, _ = project
    with db(d) as conn:
        rewrite_record(conn, TARGET, created_at="2019-01-01T00:00:00.000000Z")
    assert named(verify(d, "--full"), seq=TARGET)


def test_a_deleted_record_is_reported(project):
    d, _, _ = project
    with db(d) as conn:
        conn.execute("DELETE FROM log_entries WHERE seq = ?", (TARGET,))
    problems = verify(d, "--full")
    gaps = [p for p in problems if p["problem"] == "log-gap"]
    assert gaps and gaps[0]["seq"] == TARGET


def test_a_deleted_record_with_its_leaf_is_reported(project):
    d, _, _ = project
    with db(d) as conn:
        conn.execute("DELETE FROM log_entries WHERE seq = ?", (TARGET,))
        conn.execute("DELETE FROM log_nodes WHERE node = ?", (TARGET,))
    problems = verify(d)  # the fast check already sees it
    assert any(p.get("seq") == TARGET for p in problems)


def test_a_swapped_signature_is_reported(project):
    d, _, _ = project
    with db(d) as conn:
        rid, env = entry(conn, TARGET)
        _, other = entry(conn, TARGET + 2)
        env["signatures"] = other["signatures"]
        conn.execute(
            "UPDATE log_entries SET envelope = ? WHERE seq = ?", (canonical_bytes(env), TARGET)
        )
    problems = named(verify(d, "--full"), seq=TARGET)
    assert "bad-signature" in {p["problem"] for p in problems}
    assert all(p["id"] == rid for p in problems)


def test_two_swapped_leaves_are_reported(project):
    d, _, _ = project
    with db(d) as conn:
        conn.execute("UPDATE log_entries SET seq = -1 WHERE seq = ?", (TARGET,))
        conn.execute("UPDATE log_entries SET seq = ? WHERE seq = ?", (TARGET, TARGET + 1))
        conn.execute("UPDATE log_entries SET seq = ? WHERE seq = -1", (TARGET + 1,))
    problems = verify(d, "--full")
    assert named(problems, seq=TARGET) and named(problems, seq=TARGET + 1)


def test_two_swapped_leaves_with_their_hashes_are_reported(project):
    d, _, _ = project
    with db(d) as conn:
        for table, col in (("log_entries", "seq"), ("log_nodes", "node")):
            conn.execute(f"UPDATE {table} SET {col} = -1 WHERE {col} = ?", (TARGET,))
            conn.execute(f"UPDATE {table} SET {col} = ? WHERE {col} = ?", (TARGET, TARGET + 1))
            conn.execute(f"UPDATE {table} SET {col} = ? WHERE {col} = -1", (TARGET + 1,))
    problems = verify(d)
    assert {p["problem"] for p in problems} >= {"inconsistent-checkpoint", "node-mismatch"}


@pytest.mark.parametrize("also", ["entries", "entries+leaves+checkpoints"])
def test_a_truncated_log_is_reported(project, also):
    d, _, _ = project
    with db(d) as conn:
        (size,) = conn.execute("SELECT count(*) FROM log_entries").fetchone()
        keep = size - 3
        conn.execute("DELETE FROM log_entries WHERE seq >= ?", (keep,))
        if also != "entries":
            conn.execute("DELETE FROM log_nodes WHERE node < 1099511627776 AND node >= ?", (keep,))
            conn.execute("DELETE FROM log_nodes WHERE node >= 1099511627776")
            conn.execute("DELETE FROM checkpoints WHERE tree_size > ?", (keep,))
    problems = verify(d, "--full")
    truncated = [p for p in problems if p["problem"] in ("log-truncated", "leaf-count")]
    assert truncated, problems


def test_truncation_that_also_rewrites_the_witness_fails_against_an_auditors_checkpoint(project):
    d, _, _ = project
    saved = d / "auditor-checkpoint.txt"
    assert run_prov("checkpoint", "-o", str(saved), cwd=d).code == 0
    with db(d) as conn:
        conn.execute("DELETE FROM log_entries WHERE seq >= 10")
        conn.execute("DELETE FROM log_nodes")  # the attacker rebuilds nothing: nodes gone too
        conn.execute("DELETE FROM checkpoints WHERE tree_size > 10")
    os.unlink(d / ".prov" / "checkpoint")
    problems = verify(d, "--since", str(saved))
    assert any(
        p["problem"] == "log-truncated" and "auditor-checkpoint" in p["detail"] for p in problems
    )


def test_a_leaf_inserted_in_the_middle_is_reported(project):
    d, _, _ = project
    with db(d) as conn:
        rows = conn.execute(
            "SELECT seq, record_id, envelope, logged_at FROM log_entries "
            "WHERE seq >= ? ORDER BY seq DESC",
            (TARGET,),
        ).fetchall()
        for seq, *_ in rows:
            conn.execute("UPDATE log_entries SET seq = ? WHERE seq = ?", (seq + 1, seq))
        _, env = entry(conn, 4)
        record = json.loads(base64.b64decode(env["payload"]))
        record["name"] = "forged.csv"
        payload = canonical_bytes(record)

        forged_id = "sha256:" + hashlib.sha256(payload).hexdigest()
        env["payload"] = base64.b64encode(payload).decode()
        conn.execute(
            "INSERT INTO log_entries (seq, record_id, envelope, logged_at) VALUES (?, ?, ?, ?)",
            (TARGET, forged_id, canonical_bytes(env), rows[-1][3]),
        )
    problems = verify(d, "--full")
    assert named(problems, seq=TARGET)
    assert any(
        p["problem"] == "uncheckpointed-leaves" or p["problem"] == "leaf-count" for p in problems
    )


@pytest.mark.parametrize(
    ("sql", "problem_id"),
    [
        ("UPDATE records SET name = 'other.csv' WHERE seq = {seq}", "target"),
        ("UPDATE records SET sha256 = '{fake}' WHERE seq = {seq}", "target"),
        ("DELETE FROM links WHERE src = '{model}'", "model"),
        (
            "INSERT INTO links (src, rel, dst, src_seq, dst_seq) "
            "VALUES ('{model}', 'used', '{target}', 0, 0)",
            "model",
        ),
        # lineage walks the log positions: a redirected one is caught too
        ("UPDATE links SET dst_seq = 0 WHERE src = '{model}'", "model"),
        (
            "INSERT INTO tags (record_id, key, value) VALUES ('{target}', 'approved', 'yes')",
            "target",
        ),
        ("UPDATE keys SET revoked_seq = 3", None),
        ("UPDATE locations SET present = 0 WHERE record_id = '{target}'", "target"),
    ],
)
def test_an_edited_derived_table_row_is_reported(project, sql, problem_id):
    d, _ids, model = project
    with db(d) as conn:
        target, _ = entry(conn, TARGET)
        conn.execute(sql.format(seq=TARGET, fake="f" * 64, model=model, target=target))
    problems = [p for p in verify(d, "--full") if p["problem"] == "derived-mismatch"]
    assert problems
    if problem_id:
        want = {"target": target, "model": model}[problem_id]
        assert any(p.get("id") == want for p in problems), problems


def test_a_replaced_object_file_is_reported(project):
    d, _ids, _ = project
    obj = next((d / ".prov" / "objects" / "sha256").glob("*/*"))
    os.chmod(obj, 0o644)
    obj.write_bytes(b"replaced bytes")
    problems = verify(d, "--content")
    corrupt = [p for p in problems if p["problem"] == "object-corrupt"]
    assert corrupt and all(p["id"].startswith("sha256:") for p in corrupt)


def test_a_deleted_object_file_is_reported(project):
    d, _, _ = project
    obj = next((d / ".prov" / "objects" / "sha256").glob("*/*"))
    obj.unlink()
    assert [p for p in verify(d, "--content") if p["problem"] == "object-missing"]


def test_a_forged_checkpoint_is_reported(project):
    d, _, _ = project
    with db(d) as conn:
        (note,) = conn.execute(
            "SELECT note FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
        ).fetchone()
        lines = note.split("\n")
        lines[2] = base64.b64encode(b"\x01" * 32).decode()
        conn.execute(
            "UPDATE checkpoints SET note = ? WHERE tree_size = "
            "(SELECT max(tree_size) FROM checkpoints)",
            ("\n".join(lines),),
        )
    assert any(p["problem"] == "checkpoint-signature" for p in verify(d))


def test_a_replaced_directory_file_is_reported_with_its_path(tmp_path, reg):
    d = tmp_path / "shards"
    write(d / "a.csv", "a")
    write(d / "b.csv", "b")
    rid = reg.add(d).id
    obj = reg.store.path_for(hashlib.sha256(b"b").hexdigest())
    os.chmod(obj, 0o644)
    obj.write_bytes(b"not b")
    reg.close()
    problems = verify(tmp_path, "--content")
    assert any(
        p["problem"] == "object-corrupt" and p["id"] == rid and "b.csv" in p["detail"]
        for p in problems
    )


def test_a_forged_manifest_is_reported_not_followed(tmp_path, reg):
    d = tmp_path / "shards"
    write(d / "a.csv", "a")
    r = reg.add(d)
    manifest = reg.store.path_for(r.record["subject"]["digest"]["sha256"])
    os.chmod(manifest, 0o644)
    manifest.write_text(json.dumps([{"path": "x", "sha256": "../../../etc/passwd"}]))
    reg.close()
    problems = verify(tmp_path, "--content")
    assert [p["problem"] for p in problems if p.get("id") == r.id] == ["object-corrupt"]


def test_rebuild_restores_derived_tables_and_nodes_but_not_a_forgery(project):
    d, _, _ = project
    with db(d) as conn:
        conn.execute("UPDATE records SET name = 'x' WHERE seq = ?", (TARGET,))
        conn.execute("DELETE FROM links")
        conn.execute("UPDATE keys SET revoked_seq = 3")
        conn.execute("DELETE FROM log_nodes WHERE node >= 1099511627776")  # interior nodes
    assert verify(d, "--full")
    r = run_prov("rebuild", "--json", cwd=d)
    assert r.code == 0 and r.json()["skipped"] == [], r
    assert run_prov("verify", "--full", "--content", cwd=d).code == 0
    with db(d) as conn:  # a forged record stays caught after a rebuild
        rid = rewrite_record(conn, TARGET, name="forged.csv")
    assert run_prov("rebuild", cwd=d).code == 0
    assert named(verify(d, "--full"), rid=rid)
