"""The HTTP doors under attack (issue 15, items 14, 15): a request's head is capped in
``prov serve`` itself, and a browser's cross-site request or a rebound DNS name registers
nothing on a server without tokens. Each test failed on the code before the fix."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import httpx
import pytest

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
