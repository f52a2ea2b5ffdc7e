"""The HTTP API over real HTTP: registering, reading, errors, envelopes, roles (SPEC §10)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from provenance.checkpoint import SignedNote
from provenance.dsse import Envelope
from provenance.keys import Signer
from provenance.records import encode_record
from provenance.timefmt import format_time, utcnow
from registry.keystore import KeyStore
from tests.helpers import run_prov, run_prov_process, spawn_serve


def dataset(name: str, data: bytes = b"abc", **extra) -> dict:
    digest = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    return {
        "kind": "dataset",
        "name": name,
        "subject": {"digest": digest, "size": len(data)},
        **extra,
    }


def is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"] and body["type"].startswith("urn:prov:")
    return body


def test_register_read_list_lookup_and_lineage(live):
    w = live.client("writer")
    first = w.post("/v1/records", json={"record": dataset("raw.csv")})
    assert first.status_code == 201, first.text
    rid, seq = first.json()["id"], first.json()["seq"]
    note = SignedNote.parse(first.json()["checkpoint"])
    assert note.checkpoint.size == seq + 1
    # The record the server signed names the token's principal, whatever the body claimed.
    shown = w.get(f"/v1/records/{rid[7:19]}").json()
    assert shown["record"]["created_by"] == "writer-1"
    assert shown == live.reg.show(rid) | {"retention": shown["retention"]}
    assert all(s["valid"] for s in shown["signatures"])
    # The same record again (created_at fixed, as a retrying client sends it): 200, same id.
    again_body = {"record": shown["record"] | {"created_by": "someone-else"}}
    again = w.post("/v1/records", json=again_body)
    assert again.status_code == 200 and again.json()["id"] == rid
    assert len(live.reg.log(kind="dataset")) == 1

    model = w.post(
        "/v1/records",
        json={
            "record": dataset(
                "m.onnx", b"weights", kind="model", links=[{"rel": "derived_from", "id": rid}]
            )
        },
    ).json()
    lineage = w.get(f"/v1/records/{model['id']}/lineage", params={"direction": "up"}).json()
    assert lineage == live.reg.lineage_query(model["id"], "up").to_json()
    assert {n["id"] for n in lineage["nodes"]} == {rid, model["id"]}

    sha = hashlib.sha256(b"abc").hexdigest()
    assert [r["id"] for r in w.get(f"/v1/lookup/sha256/{sha}").json()["records"]] == [rid]
    md5 = hashlib.md5(b"abc").hexdigest().upper()  # case does not matter
    assert [r["id"] for r in w.get(f"/v1/lookup/md5/{md5}").json()["records"]] == [rid]
    assert w.get(f"/v1/lookup/sha256/{'0' * 64}").json() == {"records": []}

    # Paging: newest first, the cursor continues exactly where the page ended.
    seen, after = [], None
    while True:
        page = w.get("/v1/records", params={"limit": 2, **({"after": after} if after else {})})
        body = page.json()
        seen += [r["seq"] for r in body["records"]]
        after = body["next"]
        if after is None:
            break
    assert seen == sorted(range(model["seq"] + 1), reverse=True)
    tagged = w.post("/v1/records", json={"record": dataset("t", b"t", tags={"team": "risk"})})
    assert [
        r["id"] for r in w.get("/v1/records", params={"tag": "team=risk"}).json()["records"]
    ] == [tagged.json()["id"]]
    assert w.get("/v1/records", params={"tag": "team=other"}).json()["records"] == []
    assert w.get("/v1/records", params={"kind": "model"}).json()["records"][0]["id"] == model["id"]


def test_log_routes_match_the_cli_shapes(live):
    r = live.client("reader")
    cp = r.get("/v1/log/checkpoint").json()
    assert cp == live.reg.checkpoint()
    first = live.reg.log()[-1]["id"]
    assert r.get("/v1/log/proof/inclusion", params={"id": first}).json() == (
        live.reg.inclusion_proof(first)
    )
    assert r.get("/v1/log/proof/consistency", params={"old": 1}).json() == (
        live.reg.consistency_proof(1)
    )
    a = live.client("auditor").get("/v1/verify", params={"full": True}).json()
    assert a["ok"] is True
    assert live.client(None).get("/v1/health").json()["status"] == "ok"


def test_batch_is_one_transaction_with_results_in_order(live):
    w = live.client("writer")
    items = [
        {"record": dataset(f"d{i}", bytes([i]), created_at=format_time(utcnow()))} for i in range(3)
    ]
    answer = w.post("/v1/records/batch", json=[*items, items[1]])
    assert answer.status_code == 201, answer.text
    results = answer.json()["results"]
    assert [r["id"] for r in results][3] == results[1]["id"]
    assert [r["seq"] for r in results[:3]] == sorted(r["seq"] for r in results[:3])
    size = live.reg.checkpoint()["tree_size"]
    # One bad item: nothing of the batch is written.
    bad = [
        {"record": dataset("ok-one", b"x")},
        {"record": {"kind": "dataset", "name": "no-subject"}},
    ]
    is_problem(w.post("/v1/records/batch", json=bad), 422)
    assert live.reg.checkpoint()["tree_size"] == size
    is_problem(w.post("/v1/records/batch", json=[]), 422)
    too_many = [{"record": dataset(f"n{i}", str(i).encode())} for i in range(1001)]
    is_problem(w.post("/v1/records/batch", json=too_many), 422)
    assert live.reg.checkpoint()["tree_size"] == size


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/records", b"{not json", 400),
        ("POST", "/v1/records", b"[1, 2]", 422),
        ("POST", "/v1/records", json.dumps({"record": {"kind": "dataset", "name": "x"}}), 422),
        ("POST", "/v1/records", json.dumps({"record": {"kind": "nope", "name": "x"}}), 422),
        ("POST", "/v1/records", json.dumps({"record": dataset("x", bogus=1)}), 422),
        (
            "POST",
            "/v1/records",
            json.dumps(
                {"record": dataset("x", links=[{"rel": "used", "id": "sha256:" + "0" * 64}])}
            ),
            404,
        ),
        (
            "POST",
            "/v1/records",
            b'{"record": {"kind": "run", "name": "x", "attributes": {"v": NaN}}}',
            422,
        ),
        (
            "POST",
            "/v1/records",
            json.dumps({"payloadType": "x", "payload": "!!", "signatures": []}),
            422,
        ),
        ("GET", "/v1/records/zzzz", None, 404),
        ("GET", "/v1/records/abcdef", None, 404),
        ("GET", "/v1/records?limit=0", None, 422),
        ("GET", "/v1/records?limit=100000", None, 422),
        ("GET", "/v1/records?kind=unicorn", None, 422),
        ("GET", "/v1/records?after=-1", None, 422),
        ("GET", "/v1/lookup/sha1/abc", None, 422),
        ("GET", "/v1/lookup/sha256/xyz", None, 422),
        ("GET", "/v1/log/proof/inclusion?id=abcdef&size=0", None, 422),
        ("GET", "/v1/log/proof/consistency?old=5&new=2", None, 422),
        ("GET", "/v1/log/proof/consistency?old=999999", None, 422),
        ("GET", "/v1/exports/zip", None, 422),
        ("GET", "/v1/nowhere", None, 404),
        ("DELETE", "/v1/records", None, 405),
    ],
)
def test_bad_input_is_a_problem_and_writes_nothing(live, method, path, body, status):
    size = live.reg.checkpoint()["tree_size"]
    response = live.client("admin").request(
        method, path, content=body, headers={"content-type": "application/json"}
    )
    is_problem(response, status)
    assert live.reg.checkpoint()["tree_size"] == size


def test_lineage_parameters_are_checked(live):
    a = live.client("reader")
    rid = live.reg.log()[0]["id"]
    for params in ({"depth": -1}, {"direction": "sideways"}, {"as_of": "yesterday-ish"}):
        is_problem(a.get(f"/v1/records/{rid}/lineage", params=params), 422)
    assert a.get(f"/v1/records/{rid}/lineage", params={"as_of": "2000-01-01"}).status_code == 404


def test_bodies_over_the_cap_get_413(tmp_path, monkeypatch):
    from registry.api.app import Settings
    from registry.service import Registry
    from tests.helpers import run_app

    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    reg = Registry.init(tmp_path)
    token = reg.create_token("w", "writer")[0]
    import httpx

    for base in run_app(Settings(str(reg.prov_dir), max_body=1024)):
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
        big = json.dumps({"record": dataset("x", attributes={"pad": "x" * 2000})})
        is_problem(httpx.post(f"{base}/v1/records", content=big, headers=headers), 413)

        def chunks():  # no Content-Length: the cap counts what arrives
            yield b'{"record": {"kind": "dataset", "name": "'
            for _ in range(100):
                yield b"x" * 100
            yield b'"}}'

        is_problem(httpx.post(f"{base}/v1/records", content=chunks(), headers=headers), 413)
    assert len(reg.log()) == 3  # genesis only
    reg.close()


def _signed(signer: Signer, record: dict) -> dict:
    _, data = encode_record(record)
    return Envelope.sign(data, [signer]).to_json()


def test_client_signed_envelopes_need_a_key_the_log_trusts(live):
    w, admin = live.client("writer"), live.client("admin")
    signer = Signer.generate()
    record = dataset(
        "signed.bin",
        b"s",
        type="prov.record/v1",
        created_at=format_time(utcnow()),
        created_by="writer-1",
    )
    envelope = _signed(signer, record)
    body = is_problem(w.post("/v1/records", json=envelope), 403)
    assert "no signature by a signer key the log trusts" in body["detail"]
    key_record = {
        "kind": "key",
        "name": "pipeline-signer",
        "attributes": {
            "algorithm": "ed25519",
            "public_key": signer.public_b64,
            "owner": "pipeline",
            "role": "signer",
        },
    }
    is_problem(w.post("/v1/records", json={"record": key_record}), 403)  # writers cannot
    assert admin.post("/v1/records", json={"record": key_record}).status_code == 201
    accepted = w.post("/v1/records", json=envelope)
    assert accepted.status_code == 201, accepted.text
    # Logged byte for byte: the client's signature is the one in the log.
    shown = w.get(f"/v1/records/{accepted.json()['id']}").json()
    assert shown["envelope"] == envelope and shown["signatures"][0]["valid"]
    # Not canonical, a forged signature, or someone else's name: refused.
    loose = dict(envelope, payload=base64.b64encode(json.dumps(record, indent=1).encode()).decode())
    is_problem(w.post("/v1/records", json=_resign(signer, loose)), 422)
    forged = json.loads(json.dumps(envelope))
    forged["signatures"][0]["sig"] = base64.b64encode(b"\0" * 64).decode()
    forged["payload"] = base64.b64encode(encode_record(record | {"name": "other"})[1]).decode()
    is_problem(w.post("/v1/records", json=forged), 422)
    is_problem(w.post("/v1/records", json=_signed(signer, record | {"created_by": "admin-1"})), 422)
    # A good signature padded with thousands of unknown keys: refused before any key lookup
    # (it held the writer lock for seconds), not a database error.
    padded = _signed(signer, record | {"name": "padded"})
    zero = base64.b64encode(b"\0" * 64).decode()
    padded["signatures"] += [{"keyid": f"{i:064x}", "sig": zero} for i in range(40_000)]
    assert "at most 16 signatures" in is_problem(w.post("/v1/records", json=padded), 422)["detail"]
    assert run_prov("verify", "--full", cwd=live.reg.root).code == 0


def test_envelopes_cannot_share_a_batch_with_key_changes(live):
    """Signatures are checked against the keys before the batch: a key registered or revoked
    in the same batch would make the log disagree with that check, so the batch is refused."""
    signer = Signer.generate()
    key_record = {
        "kind": "key",
        "name": "batch-signer",
        "attributes": {
            "algorithm": "ed25519",
            "public_key": signer.public_b64,
            "owner": "pipeline",
            "role": "signer",
        },
    }
    envelope = _signed(
        signer,
        dataset(
            "b.bin",
            b"b",
            type="prov.record/v1",
            created_at=format_time(utcnow()),
            created_by="admin-1",
        ),
    )
    admin = live.client("admin")
    key_id = admin.post("/v1/records", json={"record": key_record}).json()["id"]
    revocation = {
        "kind": "attestation",
        "name": "revocation",
        "links": [{"rel": "about", "id": key_id}],
        "attributes": {"predicate": "revocation", "body": {"reason": "leaked"}},
    }
    size = live.reg.checkpoint()["tree_size"]
    body = is_problem(admin.post("/v1/records/batch", json=[{"record": revocation}, envelope]), 422)
    assert "own" in body["detail"]
    assert live.reg.checkpoint()["tree_size"] == size
    assert run_prov("verify", "--full", cwd=live.reg.root).code == 0


def _resign(signer: Signer, envelope: dict) -> dict:
    payload = base64.b64decode(envelope["payload"])
    return Envelope.sign(payload, [signer]).to_json()


def test_a_stolen_server_key_file_is_not_served(live):
    """Nothing under /v1 reads files: a path where a ref or digest goes is just not found."""
    r = live.client("admin")
    key_file = next(KeyStore(live.reg.prov_dir / "keys").root.iterdir())
    for path in (f"/v1/records/..%2F..%2Fkeys%2F{key_file.name}", "/v1/lookup/sha256/..%2Fconfig"):
        response = r.get(path)
        assert response.status_code in (404, 422)
        assert b"PRIVATE" not in response.content


def test_no_auth_only_on_loopback(tmp_path):
    run_prov("init", cwd=tmp_path)
    refused = run_prov_process("serve", "--no-auth", "--host", "0.0.0.0", cwd=tmp_path)
    assert refused.code == 2 and "loopback" in refused.err
    proc, base = spawn_serve(tmp_path / ".prov", "--no-auth")
    try:
        import httpx

        answer = httpx.post(f"{base}/v1/records", json={"record": dataset("open")})
        assert answer.status_code == 201
        assert (
            httpx.get(f"{base}/v1/records/{answer.json()['id']}").json()["record"]["created_by"]
            == "anonymous"
        )
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.parametrize("path", ["/v1/records", "/v1/records/batch", "/api/v1/lineage"])
def test_deeply_nested_bodies_are_refused_not_crashed(live, path):
    """Found by hand: 100,000 nested arrays, or 900 inside a record's attributes, were 500s."""
    size = live.reg.checkpoint()["tree_size"]
    a = live.client("admin")
    flat = b"[" * 100_000 + b"]" * 100_000
    is_problem(a.post(path, content=flat, headers={"content-type": "application/json"}), 400)
    deep = {"a": 1}
    for _ in range(900):
        deep = {"a": deep}
    record = {"record": {"kind": "run", "name": "deep", "attributes": deep}}
    event = {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-21T10:00:00Z",
        "run": {"runId": "0b3a0a4e-5c1a-4d0e-9a55-0a1b2c3d4e5f", "facets": {"x": deep}},
        "job": {"namespace": "n", "name": "j"},
    }
    body = {"/v1/records": record, "/v1/records/batch": [record], "/api/v1/lineage": event}[path]
    text = _dumps_deep(body)
    response = a.post(path, content=text, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert live.reg.checkpoint()["tree_size"] == size


def _dumps_deep(value) -> str:
    """json.dumps without its own recursion limit getting in the way of building the test."""
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        return json.dumps(value)
    finally:
        sys.setrecursionlimit(old)
