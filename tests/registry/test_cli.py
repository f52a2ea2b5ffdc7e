"""The prov command: --json shapes, exit codes, and bad input that writes nothing (SPEC §5)."""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import sys

import pytest

from provenance import merkle
from provenance.checkpoint import SignedNote
from tests.helpers import one_line_error, state, write


@pytest.fixture
def project(tmp_path, prov):
    r = prov("init", ".", "--json")
    assert r.code == 0, r
    return tmp_path


def test_init_prints_the_genesis_ids_and_refuses_to_run_twice(project, prov):
    r = prov("log", "--json")
    kinds = [x["kind"] for x in r.json()["records"]][::-1]
    assert kinds == ["key", "key", "policy"]
    line = one_line_error(prov("init", "."), 2)
    assert "already exists" in line


def test_init_without_retention_and_with_an_origin(tmp_path, prov):
    r = prov("init", "sub", "--retention", "none", "--origin", "example.com/ml-log", "--json")
    assert r.code == 0, r
    assert r.json()["origin"] == "example.com/ml-log" and len(r.json()["genesis"]) == 2
    cp = prov("checkpoint", "--json", cwd=tmp_path / "sub").json()
    assert cp["note"].startswith("example.com/ml-log\n2\n")
    assert "unknown retention preset" in one_line_error(prov("init", "x", "--retention", "p9"), 2)


def test_add_json_shape_and_show_log_lookup(project, prov):
    write(project / "a.csv", "a\n1\n")
    r = prov("add", "a.csv", "--tag", "team=risk", "--json")
    assert r.code == 0, r
    rec = r.json()["records"][0]
    assert {"id", "name", "kind", "seq", "sha256", "md5", "size"} <= rec.keys()
    shown = prov("show", rec["id"][7:20], "--json").json()
    assert {
        "id",
        "record",
        "envelope",
        "seq",
        "logged_at",
        "signatures",
        "locations",
        "retention",
    } <= shown.keys()
    assert shown["record"]["tags"] == {"team": "risk"} and shown["signatures"][0]["valid"]
    log = prov("log", "--kind", "dataset", "--json").json()["records"]
    assert [x["id"] for x in log] == [rec["id"]]
    assert {"id", "kind", "name", "seq", "logged_at"} <= log[0].keys()
    assert prov("log", "--name", "a.*", "-n", "1", "--json").json()["records"][0]["id"] == rec["id"]
    assert prov("lookup", "a.csv", "--json").json() == {
        "records": [{"id": rec["id"], "kind": "dataset", "name": "a.csv"}]
    }
    miss = prov("lookup", "sha256:" + "0" * 64, "--json")
    assert miss.code == 3 and miss.json() == {"records": []}


def test_registry_is_found_upward_and_by_flag_and_env(project, prov, tmp_path):
    sub = project / "deep" / "er"
    sub.mkdir(parents=True)
    assert prov("log", "--json", cwd=sub).code == 0
    elsewhere = tmp_path.parent / (tmp_path.name + "-elsewhere")
    elsewhere.mkdir()
    assert "no registry here" in one_line_error(prov("log", cwd=elsewhere), 2)
    assert prov("--registry", str(project), "log", "--json", cwd=elsewhere).code == 0
    assert prov("log", "--json", cwd=elsewhere, env={"PROV_REGISTRY": str(project)}).code == 0


def test_proofs_verify_against_the_signed_checkpoint(project, prov):
    for i in range(5):
        write(project / f"f{i}", str(i))
        assert prov("add", f"f{i}").code == 0
    cp = prov("checkpoint", "--json").json()
    note = SignedNote.parse(cp["note"])
    note.verify(cp["origin"], base64.b64decode(cp["public_key"]))
    assert note.checkpoint.root.hex() == cp["root"] and note.checkpoint.size == cp["tree_size"]
    rid = prov("log", "-n", "1", "--kind", "dataset", "--json").json()["records"][0]["id"]
    p = prov("proof", "inclusion", rid).json()
    assert {"id", "leaf_index", "tree_size", "leaf_hash", "hashes", "root"} <= p.keys()
    merkle.verify_inclusion(
        bytes.fromhex(p["leaf_hash"]),
        p["leaf_index"],
        p["tree_size"],
        [bytes.fromhex(h) for h in p["hashes"]],
        note.checkpoint.root,
    )
    old = prov("proof", "inclusion", rid, "--size", str(p["leaf_index"] + 1)).json()
    c = prov("proof", "consistency", str(old["tree_size"])).json()
    assert {"old_size", "new_size", "old_root", "new_root", "hashes"} <= c.keys()
    merkle.verify_consistency(
        c["old_size"],
        c["new_size"],
        bytes.fromhex(old["root"]),
        note.checkpoint.root,
        [bytes.fromhex(h) for h in c["hashes"]],
    )
    assert one_line_error(prov("proof", "consistency", "999"), 2)


def test_verify_since_an_auditors_checkpoint(project, prov):
    assert prov("checkpoint", "-o", "cp.txt").code == 0
    write(project / "later.txt", "later")
    assert prov("add", "later.txt").code == 0
    r = prov("verify", "--since", "cp.txt", "--json")
    assert r.code == 0 and r.json()["ok"], r
    other = project / "other"
    assert prov("init", str(other)).code == 0
    foreign = prov("verify", "--since", str(project / "cp.txt"), cwd=other)
    assert foreign.code == 1 and "checkpoint-signature" in foreign.out


def test_key_new_list_and_revoke(project, prov):
    keys = prov("key", "list", "--json").json()["keys"]
    assert [k["role"] for k in keys] == ["signer", "log"]
    assert {"keyid", "algorithm", "public_key", "role", "owner", "record", "revoked"} <= keys[
        0
    ].keys()
    old_signer = keys[0]["keyid"]
    line = one_line_error(prov("key", "revoke", old_signer, "--reason", "leaked"), 4)
    assert "active signer key" in line
    assert prov("key", "new", "--role", "signer").code == 0
    assert prov("key", "revoke", old_signer[:12], "--reason", "rotated").code == 0
    keys = {k["keyid"]: k for k in prov("key", "list", "--json").json()["keys"]}
    assert keys[old_signer]["revoked"] is True
    write(project / "after.txt", "signed by the new key")
    rec = prov("add", "after.txt", "--json").json()["records"][0]
    shown = prov("show", rec["id"], "--json").json()
    assert shown["signatures"][0]["valid"] and shown["signatures"][0]["keyid"] != old_signer
    assert prov("key", "new", "--role", "log").code == 0
    assert prov("verify", "--full").code == 0


def test_keys_are_private_files_and_never_printed(project, prov):
    keydir = project / ".prov" / "keys"
    assert oct(keydir.stat().st_mode & 0o777) == "0o700"
    pems = list(keydir.glob("*.pem"))
    assert len(pems) == 2 and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in pems)
    outputs = prov("key", "list", "--json").out + prov("checkpoint", "--json").out
    for p in pems:
        body = "".join(p.read_text().splitlines()[1:-1])
        assert body not in outputs


def test_an_encrypted_key_needs_the_right_passphrase(tmp_path, prov):
    env = {"PROV_KEY_PASSPHRASE": "correct horse"}
    assert prov("init", ".", env=env).code == 0
    assert b"ENCRYPTED" in next((tmp_path / ".prov" / "keys").glob("*.pem")).read_bytes()
    write(tmp_path / "a.txt", "a")
    before = state(tmp_path)
    line = one_line_error(prov("add", "a.txt", env={"PROV_KEY_PASSPHRASE": "wrong"}), 2)
    assert "PROV_KEY_PASSPHRASE is wrong" in line
    assert "encrypted" in one_line_error(prov("add", "a.txt"), 2)
    assert state(tmp_path)[0] == before[0]
    assert prov("add", "a.txt", env=env).code == 0


# --------------------------------------------------------------------------- bad input


def test_missing_file(project, prov):
    before = state(project)
    assert "no such file" in one_line_error(prov("add", "nope.csv"), 2)
    assert state(project) == before


@pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which("setpriv"),
    reason="needs root to drop CAP_DAC_OVERRIDE with setpriv",
)
def test_unreadable_file(project):
    import subprocess

    write(project / "ok.csv", "fine")
    os.chmod(write(project / "dir" / "secret.csv", "s"), 0)
    before = state(project)
    for target in ("dir/secret.csv", "dir"):
        # Root reads any file: run prov without the capabilities that bypass file modes.
        proc = subprocess.run(
            [
                "setpriv",
                "--bounding-set=-dac_override,-dac_read_search",
                sys.executable,
                "-m",
                "registry.cli.main",
                "add",
                target,
            ],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot read" in lines[0] and "Permission denied" in lines[0]
        assert state(project) == before


def test_a_directory_with_a_symlink_loop(project, prov):
    d = project / "loopy"
    write(d / "a.txt", "a")
    (d / "sub").mkdir()
    (d / "sub" / "back").symlink_to(d, target_is_directory=True)
    before = state(project)
    assert "symlink loop" in one_line_error(prov("add", "loopy"), 2)
    assert state(project) == before


def test_a_self_referencing_symlink(project, prov):
    d = project / "self"
    d.mkdir()
    (d / "me").symlink_to(d / "me")
    assert "symlink loop" in one_line_error(prov("add", "self"), 2)


def test_an_invalid_link_target(project, prov):
    write(project / "a.txt", "a")
    before = state(project)
    assert "no record" in one_line_error(
        prov("add", "a.txt", "--link", "derived_from=abcdef0123"), 3
    )
    assert "unknown link relation" in one_line_error(
        prov("add", "a.txt", "--link", "inspired_by=abcdef0123"), 2
    )
    assert "KEY=VALUE" in one_line_error(prov("add", "a.txt", "--link", "abcdef"), 2)
    assert "not a record id" in one_line_error(prov("add", "a.txt", "--link", "used=xyz"), 3)
    assert state(project) == before


def test_an_unknown_kind(project, prov):
    write(project / "a.txt", "a")
    before = state(project)
    assert "unknown kind" in one_line_error(prov("add", "a.txt", "--kind", "weights"), 2)
    assert state(project) == before


def test_a_corrupt_config(project, prov):
    (project / ".prov" / "config").write_text("[registry\nuuid = ???\n")
    assert "config is corrupt" in one_line_error(prov("log"), 2)
    (project / ".prov" / "config").write_text("[registry]\nuuid = x\n")
    assert "config is corrupt" in one_line_error(prov("log"), 2)


def test_a_database_that_holds_another_registry(project, prov, tmp_path):
    other = tmp_path / "other"
    assert prov("init", str(other)).code == 0
    shutil.copy(other / ".prov" / "registry.db", project / ".prov" / "registry.db")
    assert "does not hold registry" in one_line_error(prov("log"), 5)


def test_unknown_references_and_commands(project, prov):
    assert one_line_error(prov("show", "deadbeef00"), 3)
    assert "at least 6" in one_line_error(prov("show", "abc"), 3)
    assert one_line_error(prov("nosuchcommand"), 2)
    assert one_line_error(prov("add", "--bogus-flag", "x"), 2)


def test_an_ambiguous_prefix_lists_the_candidates(reg):
    from provenance.records import encode_record
    from registry.errors import NotFoundError

    # Search offline for two records whose ids share 6 hex digits (a birthday search of a few
    # thousand candidates), then register just those two.
    seen: dict[str, dict] = {}
    for i in range(200_000):
        rec = {
            "type": "prov.record/v1",
            "kind": "dataset",
            "name": f"n{i}",
            "created_at": "2026-01-01T00:00:00.000000Z",
            "created_by": "t@h",
            "subject": {"digest": {"sha256": "0" * 64}, "size": i},
        }
        rid, _ = encode_record(rec)
        if rid[7:13] in seen:
            pair = [seen[rid[7:13]], rec]
            break
        seen[rid[7:13]] = rec
    a, b = reg.register(pair)
    with pytest.raises(NotFoundError, match="ambiguous") as e:
        reg.resolve(a.id[7:13])
    assert a.id[7:19] in str(e.value) and b.id[7:19] in str(e.value)
    assert reg.resolve(a.id[7:19]) == a.id


def test_a_traceback_only_with_prov_debug(project, prov_process):
    (project / ".prov" / "config").write_text("[registry\n")
    assert "Traceback" in prov_process("log", env={"PROV_DEBUG": "1"}).err


def test_a_large_file_is_hashed_while_the_database_layer_loads(project, prov_process):
    import hashlib

    from tests.helpers import age

    data = os.urandom(33 << 20)  # above the pre-hash threshold
    big = age(write(project / "big.bin", data))
    # A real process: in this one the database layer is loaded already.
    rec = prov_process("add", "big.bin", "--json").json()["records"][0]
    assert (rec["sha256"], rec["md5"], rec["files_read"]) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
        1,
    )
    assert prov_process("verify", "--full", "--content").code == 0
    again = prov_process("add", str(big), "--json").json()["records"][0]
    assert again["files_read"] == 0 and again["existing"]


def test_a_failure_after_pre_hashing_leaves_nothing_behind(project, prov):
    write(project / "big.bin", os.urandom(33 << 20))
    before = state(project)
    r = prov("add", "big.bin", "--link", "derived_from=abcdef012345")
    assert r.code == 3
    assert state(project) == before
    assert not any((project / ".prov" / "objects" / "tmp").iterdir())


def test_the_digest_cache_is_local_to_this_machine(project, prov):
    write(project / "a.txt", "a")
    assert prov("add", "a.txt").code == 0
    with sqlite3.connect(project / ".prov" / "registry.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "file_states" not in tables
    assert (project / ".prov" / "cache" / "files.db").exists()


def test_a_database_that_is_not_a_prov_registry(project, prov):
    db_path = project / ".prov" / "registry.db"
    for suffix in ("", "-wal", "-shm"):
        (project / ".prov" / f"registry.db{suffix}").unlink(missing_ok=True)
    sqlite3.connect(db_path).execute("CREATE TABLE other (x)").connection.commit()
    assert "does not hold registry" in one_line_error(prov("log"), 5)
