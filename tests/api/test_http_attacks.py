"""The HTTP doors under attack (issue 15, items 14, 15): a request's head is capped in
``prov serve`` itself, and a browser's cross-site request or a rebound DNS name registers
nothing on a server without tokens. Each test failed on the code before the fix."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import httpx
import pytest

from registry.errors import InputError
from tests.helpers import run_prov, spawn_serve


@pytest.fixture
def open_server(tmp_path: Path):
    """The real ``prov serve --no-auth`` (tokens off: allowed on loopback only)."""
    assert run_prov("init", cwd=tmp_path).code == 0
    proc, base = spawn_serve(tmp_path / ".prov", "--no-auth")
    yield base
    proc.terminate()
    proc.wait(30)


def _size(base: str) -> int:
    return int(httpx.get(f"{base}/v1/log/checkpoint").json()["tree_size"])


def _raw(base: str, head: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        with contextlib.suppress(OSError):  # the server may stop reading before it has all
            s.sendall(head)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def test_a_request_head_past_64_kib_is_refused_and_the_connection_closed(open_server):
    pad = b"x" * 4096
    head = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += b"".join(b"X-Pad-%d: %b\r\n" % (i, pad) for i in range(64)) + b"\r\n"  # 256 KiB
    answer = _raw(open_server, head)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"application/problem+json" in answer
    assert httpx.get(f"{open_server}/v1/health").status_code == 200  # the server is fine
    # A large body is not a large head.
    body = b'{"record": {"kind": "run", "name": "' + b"x" * (2 << 20) + b'"}}'
    big = httpx.post(
        f"{open_server}/v1/records", content=body, headers={"content-type": "application/json"}
    )
    assert big.status_code == 422  # a name over 256 characters: the app saw it


def test_a_cross_site_text_plain_post_registers_nothing(open_server):
    before = _size(open_server)
    key = (
        '{"record": {"kind": "key", "name": "evil", "attributes": {"algorithm": "ed25519", '
        '"public_key": "' + "A" * 43 + '=", "owner": "x", "role": "signer"}}}'
    )
    answer = httpx.post(
        f"{open_server}/v1/records", content=key, headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"
    assert _size(open_server) == before


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "10.0.0.1"])
def test_without_tokens_only_loopback_host_names_are_answered(open_server, host):
    before = _size(open_server)
    answer = httpx.post(
        f"{open_server}/v1/records",
        json={"record": {"kind": "run", "name": "rebound"}},
        headers={"host": host},
    )
    assert answer.status_code == 403 and "loopback" in answer.json()["detail"]
    assert _size(open_server) == before
    for ok in ("localhost:1234", "127.0.0.1", "[::1]:8000"):
        assert (
            httpx.get(f"{open_server}/v1/log/checkpoint", headers={"host": ok}).status_code == 200
        )


def test_registering_a_known_public_key_again_is_an_input_error(live):
    key = live.reg.keys()[0]
    record = {
        "kind": "key",
        "name": "the-same-key",
        "attributes": {
            "algorithm": "ed25519",
            "public_key": key["public_key"],
            "owner": "mallory",
            "role": "signer",
        },
    }
    answer = live.client("admin").post("/v1/records", json={"record": record})
    assert answer.status_code == 422 and "registered already" in answer.json()["detail"]


def test_a_time_past_year_one_is_an_input_error_over_http(live):
    rid = live.reg.log()[0]["id"]
    reader = live.client("reader")
    far = "0001-01-01T00:00:00+14:00"
    assert reader.get(f"/v1/records/{rid}/lineage", params={"as_of": far}).status_code == 422
    event = {
        "eventType": "COMPLETE",
        "eventTime": far,
        "run": {"runId": "3f6c1f4e-1f0a-4c39-9d5c-0c8a9c1e2b11"},
        "job": {"namespace": "ns", "name": "job"},
        "producer": "test",
    }
    assert live.client("writer").post("/api/v1/lineage", json=event).status_code == 422


def test_an_unexpected_failure_is_a_500_problem_and_keeps_the_connection(live, monkeypatch):
    from registry.service import Registry

    def broken(self) -> dict:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Registry, "checkpoint", broken)  # the server's registry too
    token = live.tokens["reader"]
    request = (
        f"GET /v1/log/checkpoint HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()
    health = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s, s.makefile("rb") as f:
        s.sendall(request)
        assert f.readline().startswith(b"HTTP/1.1 500 ")
        length = _headers_length(f)
        assert b"internal error" in f.read(length)
        s.sendall(health)  # the same connection, still open
        assert f.readline().startswith(b"HTTP/1.1 200 ")


def _headers_length(f) -> int:
    length = 0
    while (line := f.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return length


def _event(run_id: str, kind: str, n: int = 0) -> dict:
    return {
        "eventType": kind,
        "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": run_id, "facets": {f"f{n}": {"pad": "x" * 400}}},
        "job": {"namespace": "ns", "name": "job"},
        "inputs": [],
        "outputs": [],
        "producer": "test",
    }


def test_records_are_capped_at_one_mib_on_every_door(live):
    size = live.reg.checkpoint()["tree_size"]
    big = {"kind": "run", "name": "big", "attributes": {"pad": "x" * (1 << 20)}}
    answer = live.client("writer").post("/v1/records", json={"record": big})
    assert answer.status_code == 422 and "over the cap" in answer.json()["detail"]
    with pytest.raises(InputError, match="over the cap"):
        live.reg.register([big])
    assert live.reg.checkpoint()["tree_size"] == size


def test_an_open_runs_events_cannot_grow_past_the_cap_and_stale_runs_expire(tmp_path, monkeypatch):
    from sqlalchemy import text

    from registry.api.app import Settings
    from registry.service import Registry
    from tests.helpers import run_app

    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    reg = Registry.init(tmp_path)
    reg.config.max_record_bytes = 4096  # configurable, in .prov/config
    reg.config.save(reg.prov_dir)
    token = reg.create_token("w", "writer")[0]
    run = "2c5b1b7e-6d0e-4a52-9f4e-7c1d7f9a0b01"
    for base in run_app(Settings(str(reg.prov_dir))):
        writer = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        statuses = [
            writer.post("/api/v1/lineage", json=_event(run, "RUNNING", i)).status_code
            for i in range(20)
        ]
        assert 422 in statuses  # the run's merged state reached the cap: refused, not grown
        with reg.engine.begin() as conn:
            (state_len,) = conn.execute(
                text("SELECT length(state) FROM openlineage_runs WHERE run_id = :r"), {"r": run}
            ).one()
            assert state_len <= 4096
            conn.execute(
                text("UPDATE openlineage_runs SET updated_at = '2001-01-01T00:00:00.000000Z'")
            )
        other = "9d1e4a2b-3c5f-4e6a-8b7c-1d2e3f4a5b6c"
        assert writer.post("/api/v1/lineage", json=_event(other, "START")).status_code == 200
        with reg.engine.begin() as conn:
            runs = conn.execute(text("SELECT run_id FROM openlineage_runs")).scalars().all()
        assert runs == [other]  # the stale open run was dropped after 30 days without an event
    reg.close()


def test_a_large_record_is_read_off_the_event_loop(live, monkeypatch):
    """Issue 15, item 12: decoding and encoding a large record inline stalled every request the
    event loop was serving; a small one stays inline (the hot path)."""
    import registry.api.routes.records as records

    offloaded = []
    real = records.run_in_threadpool

    async def spy(fn, *args, **kwargs):
        offloaded.append(fn)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(records, "run_in_threadpool", spy)
    small = live.reg.register([{"kind": "run", "name": "small"}])[0]
    big = live.reg.register(
        [{"kind": "run", "name": "big", "attributes": {"pad": "x" * (200 << 10)}}]
    )[0]
    reader = live.client("reader")
    assert reader.get(f"/v1/records/{small.id}").status_code == 200
    assert offloaded == []
    answer = reader.get(f"/v1/records/{big.id}")
    assert answer.status_code == 200 and answer.json()["record"]["name"] == "big"
    assert len(offloaded) == 1
