"""API tokens: shown once, stored only as a hash, revocable, roles as SPEC §10 orders them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import tokens
from registry.errors import InputError, NotFoundError
from registry.service import Registry


@pytest.fixture(params=["sqlite", "postgresql"])
def any_reg(request, tmp_path, monkeypatch):
    monkeypatch.delenv("PROV_DATABASE_URL", raising=False)
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    r = Registry.init(tmp_path, database_url=url)
    yield r
    r.close()


def test_a_token_authenticates_as_its_name_and_role_until_revoked(any_reg):
    token, info = any_reg.create_token("ci-pipeline", "writer")
    assert token.startswith("prov_") and len(token) == 48
    who = tokens.authenticate(any_reg.engine, token)
    assert who == tokens.Principal("ci-pipeline", "writer", info["id"])
    # One character off, a prefix, the hash itself, or the id: none of them is the token.
    near = (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:-1], token + "\n")
    for wrong in (*near, info["id"]):
        assert tokens.authenticate(any_reg.engine, wrong) is None
    any_reg.revoke_token("ci-pipeline")
    assert tokens.authenticate(any_reg.engine, token) is None
    assert [t["revoked_at"] is not None for t in any_reg.tokens()] == [True]


def test_only_the_hash_is_stored(reg, tmp_path):
    token, _ = reg.create_token("alice", "reader")
    reg.close()
    for f in (tmp_path / ".prov").rglob("*"):
        if f.is_file():
            assert token.encode() not in f.read_bytes(), f
    listing = Registry.open(tmp_path).tokens()[0]
    assert token not in repr(listing) and "hash" not in listing


def test_names_roles_and_revocation_are_checked(reg):
    with pytest.raises(InputError, match="unknown role"):
        reg.create_token("x", "root")
    for bad in ("", "has space", "new\nline", "trailing\n", "-dash-first", "x" * 101):
        with pytest.raises(InputError, match="bad token name"):
            reg.create_token(bad, "reader")
    first, _ = reg.create_token("bot", "reader")
    with pytest.raises(InputError, match="already named"):
        reg.create_token("bot", "writer")
    reg.revoke_token("bot")
    with pytest.raises(NotFoundError):
        reg.revoke_token("bot")
    second, info = reg.create_token("bot", "writer")  # the name is free again
    assert tokens.authenticate(reg.engine, first) is None
    assert tokens.authenticate(reg.engine, second).role == "writer"
    reg.revoke_token(info["id"])  # by id too
    assert tokens.authenticate(reg.engine, second) is None


def test_role_order():
    allowed = {(r, n) for r in tokens.ROLES for n in tokens.ROLES if tokens.permits(r, n)}
    assert allowed == {
        ("reader", "reader"),
        ("writer", "reader"),
        ("writer", "writer"),
        ("auditor", "reader"),
        ("auditor", "auditor"),
        *(("admin", n) for n in tokens.ROLES),
    }
    assert not tokens.permits("nobody", "reader")


def test_rebuild_keeps_tokens(reg):
    token, _ = reg.create_token("keep", "admin")
    reg.rebuild()
    assert tokens.authenticate(reg.engine, token).name == "keep"


@pytest.fixture(scope="module")
def module_reg(tmp_path_factory):
    r = Registry.init(tmp_path_factory.mktemp("tokens"))
    r.create_token("someone", "admin")
    yield r
    r.close()


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_any_bearer_string_is_refused_without_error(module_reg, text):
    assert tokens.authenticate(module_reg.engine, text) is None


def test_cli(prov):
    assert prov("init", ".").code == 0
    made = prov("token", "create", "--role", "auditor", "--name", "audit@bank", "--json")
    assert made.code == 0, made
    doc = made.json()
    assert doc["token"].startswith("prov_") and (doc["name"], doc["role"]) == (
        "audit@bank",
        "auditor",
    )
    plain = prov("token", "create", "--role", "reader", "--name", "r")
    assert plain.out.strip().startswith("prov_") and "shown once" in plain.err
    listed = prov("token", "list", "--json").json()["tokens"]
    assert [t["name"] for t in listed] == ["audit@bank", "r"]
    assert doc["token"] not in prov("token", "list").out
    assert prov("token", "create", "--role", "god", "--name", "g").code == 2
    assert prov("token", "revoke", "audit@bank").code == 0
    assert prov("token", "revoke", "audit@bank").code == 3
