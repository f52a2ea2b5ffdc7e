"""Keys under attack (issue 15, item 8): no door revokes a key the registry signs with (which
bricked it: every append refused, `prov key new` too), and a lost signer key has a recovery
that works and leaves no orphan key file. Each test failed on the code before the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provenance.dsse import Envelope
from provenance.records import encode_record
from registry.errors import RefusedError
from registry.service import Registry
from registry.service.writer import new_record
from tests.helpers import one_line_error, run_prov, write


@pytest.fixture
def project(tmp_path) -> Path:
    assert run_prov("init", cwd=tmp_path).code == 0
    return tmp_path


def _keys(project: Path) -> list[dict]:
    return run_prov("key", "list", "--json", cwd=project).json()["keys"]


def _active(project: Path, role: str) -> dict:
    return next(k for k in _keys(project) if k["active"] and k["role"] == role)


@pytest.mark.parametrize("role", ["signer", "log"])
def test_no_door_revokes_an_active_key(project, role):
    key = _active(project, role)
    revocation = new_record(
        "attestation",
        "revocation",
        links=[{"rel": "about", "id": key["record"]}],
        attributes={"predicate": "revocation", "body": {"reason": "compromised?"}},
    )
    with Registry.open(project) as reg:
        size = reg.checkpoint()["tree_size"]
        with pytest.raises(RefusedError, match="successor"):
            reg.register([revocation])  # what POST /v1/records does for an admin
        _, data = encode_record(revocation)
        envelope = Envelope.sign(data, [reg.writer.signer(reg.config.signer)])
        with pytest.raises(RefusedError, match="successor"):
            reg.submit([envelope], "admin-1")
        assert reg.checkpoint()["tree_size"] == size
    assert "successor" in one_line_error(
        run_prov("key", "revoke", key["keyid"], "--reason", "x", cwd=project), 4
    )
    assert run_prov("add", str(write(project / "a.csv", "a")), cwd=project).code == 0


def test_a_lost_signer_key_without_a_standby_fails_cleanly(project):
    keys_dir = project / ".prov" / "keys"
    (keys_dir / f"{_active(project, 'signer')['keyid']}.pem").unlink()  # lost
    before = sorted(p.name for p in keys_dir.iterdir())
    for _ in range(2):
        line = one_line_error(run_prov("key", "new", "--role", "signer", cwd=project), 2)
        assert "--standby" in line
    assert sorted(p.name for p in keys_dir.iterdir()) == before  # no orphan key file


def test_a_lost_signer_key_is_recovered_with_a_standby_key(project, tmp_path_factory):
    keys_dir = project / ".prov" / "keys"
    standby = run_prov("key", "new", "--role", "signer", "--standby", "--json", cwd=project)
    assert standby.code == 0, standby
    standby_key = next(k for k in _keys(project) if k["record"] == standby.json()["id"])
    assert not standby_key["active"]
    vault = tmp_path_factory.mktemp("vault")
    shutil.move(keys_dir / f"{standby_key['keyid']}.pem", vault)  # kept offline
    lost = _active(project, "signer")
    (keys_dir / f"{lost['keyid']}.pem").unlink()
    assert one_line_error(run_prov("add", str(write(project / "a.csv", "a")), cwd=project), 2)
    shutil.move(vault / f"{standby_key['keyid']}.pem", keys_dir)  # brought back
    recovered = run_prov("key", "new", "--role", "signer", cwd=project)
    assert recovered.code == 0, recovered
    assert _active(project, "signer")["keyid"] not in (lost["keyid"], standby_key["keyid"])
    assert run_prov("add", "a.csv", cwd=project).code == 0
    assert run_prov("key", "revoke", lost["keyid"], "--reason", "lost", cwd=project).code == 0
    assert run_prov("verify", "--full", cwd=project).code == 0


def test_rows_inserted_in_the_keys_table_make_no_forgery_valid(project):
    """A database administrator forges a record with their own signer key, rebuilds the tree,
    signs a checkpoint with their own log key, and inserts both keys into the derived ``keys``
    table: fast verify and ``prov show`` authenticate keys from their records in the log."""
    import sqlite3

    from provenance.checkpoint import Checkpoint, SignedNote
    from provenance.keys import Signer

    rid = run_prov("add", str(write(project / "a.csv", "a")), "--json", cwd=project).json()[
        "records"
    ][0]["id"]
    forger, forged_log = Signer.generate(), Signer.generate()
    db = project / ".prov" / "registry.db"
    with sqlite3.connect(db) as conn:
        (payload_env,) = conn.execute(
            "SELECT envelope FROM log_entries WHERE record_id = ?", (rid,)
        ).fetchone()
        forged = Envelope.sign(Envelope.from_bytes(payload_env).payload, [forger])
        conn.execute(
            "UPDATE log_entries SET envelope = ? WHERE record_id = ?", (forged.to_bytes(), rid)
        )
    assert run_prov("rebuild", cwd=project).code == 0  # the tree, from the forged envelope
    with Registry.open(project) as reg:
        from registry import db as database

        with database.read_tx(reg.engine) as c:
            size = reg.merkle.size(c)
            root = reg.merkle.root(c, size)
        origin = reg.config.origin
    note = SignedNote.sign(Checkpoint(origin, size, root), origin, forged_log).text()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM checkpoints")
        conn.execute(
            "INSERT INTO checkpoints (tree_size, note, created_at) VALUES (?, ?, ?)",
            (size, note, "2026-01-01T00:00:00.000000Z"),
        )
        for key, role in ((forger, "signer"), (forged_log, "log")):
            conn.execute(
                "INSERT INTO keys (keyid, record_id, role, owner, public_key, registered_seq, "
                "revoked_seq) VALUES (?, ?, ?, 'mallory', ?, 0, NULL)",
                (key.keyid, "sha256:" + key.keyid, role, key.public_b64),
            )
    (project / ".prov" / "checkpoint").write_text(note)
    shown = run_prov("show", rid, "--json", cwd=project).json()
    assert shown["signatures"] == [{"keyid": forger.keyid, "valid": False}]
    verified = run_prov("verify", "--json", cwd=project)
    assert verified.code == 1
    assert "checkpoint-signature" in {p["problem"] for p in verified.json()["problems"]}


def test_a_cosignature_by_an_unknown_key_does_not_count_and_refuses_nothing(project):
    """SPEC §3: a signature counts only if its key is trusted; others are kept, not refused."""
    from provenance.keys import Signer

    stranger = Signer.generate()
    with Registry.open(project) as reg:
        record = new_record("dataset", "cosigned", subject=_subject_of(b"c"))
        _, data = encode_record(record)
        envelope = Envelope.sign(data, [reg.writer.signer(reg.config.signer), stranger])
        [logged], _ = reg.submit([envelope], "writer-1")
        with pytest.raises(RefusedError, match="no signature by a signer key"):
            reg.submit([Envelope.sign(data.replace(b"cosigned", b"stranger"), [stranger])], "w")
    shown = run_prov("show", logged.id, "--json", cwd=project).json()
    assert [s["valid"] for s in shown["signatures"]] == [True, False]
    assert run_prov("verify", "--full", cwd=project).code == 0


def test_a_checkpoint_with_a_witness_cosignature_verifies(project):
    """C2SP signed-note: signature lines of other keys (a witness's 76-byte timestamped
    cosignature) are ignored, not refused."""
    import base64
    import os

    saved = project / "auditor.txt"
    assert run_prov("checkpoint", "-o", str(saved), cwd=project).code == 0
    cosig = base64.b64encode(os.urandom(4 + 8 + 64)).decode()
    saved.write_text(saved.read_text() + f"\u2014 witness.example.org/w1 {cosig}\n")
    run_prov("add", str(write(project / "later.csv", "l")), cwd=project)
    assert run_prov("verify", "--since", str(saved), cwd=project).code == 0


def _subject_of(data: bytes) -> dict:
    import hashlib

    return {
        "digest": {
            "sha256": hashlib.sha256(data).hexdigest(),
            "md5": hashlib.md5(data).hexdigest(),
        },
        "size": len(data),
    }
