"""Records are permanent, so no secret and no personal value goes into one (issue 15, item 22):
credentials are masked where they are captured, and a text column's profile keeps no value."""

from __future__ import annotations

import json
import sys

from hypothesis import given
from hypothesis import strategies as st

from registry.capture.git import strip_credentials
from registry.capture.redact import MASK, redact_argv, redact_url
from tests.helpers import git, git_repo, write


def test_prov_run_masks_credentials_in_the_command_line(tmp_path, prov):
    git_repo(tmp_path)
    prov("init")
    r = prov(
        "run", "load", "--json", "--", sys.executable, "-c", "pass",
        "--db-url", "postgresql://admin:hunter2@db.internal:5432/prod",
        "--password", "s3cret", "--api-key=abc123", "AWS_SECRET_ACCESS_KEY=zzz",
        "--tokenizer", "bpe",
    )  # fmt: skip
    assert r.code == 0, r
    record = prov("show", r.json()["run"]["id"], "--json").out
    for secret in ("hunter2", "s3cret", "abc123", "zzz"):
        assert secret not in record
    command = json.loads(record)["record"]["attributes"]["command"]
    assert "postgresql://admin:***@db.internal:5432/prod" in command
    assert "--tokenizer bpe" in command  # not a secret: kept


def test_a_remote_url_keeps_no_token_in_the_code_record(tmp_path, prov):
    git_repo(tmp_path)
    git(tmp_path, "remote", "add", "origin", "https://git.example/org/repo.git?access_token=ghp_x")
    prov("init")
    code = prov("code", "--json").json()
    assert "ghp_x" not in json.dumps(code)
    assert code["record"]["attributes"]["repo"] == "https://git.example/org/repo.git"


def test_a_csv_profile_keeps_no_value_of_a_text_column(tmp_path, prov):
    write(tmp_path / "people.csv", "name,ssn,age\nAda,987-65-4321,36\nBob,123-45-6789,41\n")
    prov("init")
    rid = prov("add", "people.csv", "--json").json()["records"][0]["id"]
    shown = prov("show", rid, "--json").out
    assert "987-65-4321" not in shown and "Ada" not in shown and "Bob" not in shown
    columns = {
        c["name"]: c for c in json.loads(shown)["record"]["attributes"]["profile"]["columns"]
    }
    assert columns["ssn"] == {
        "name": "ssn",
        "nulls": 0,
        "min_length": 11,
        "max_length": 11,
        "distinct": 2,
    }
    assert (columns["age"]["min"], columns["age"]["max"]) == (36, 41)


_secret = st.text(alphabet="0123456789", min_size=8, max_size=16)  # no other text is 8 digits


@given(secret=_secret, user=st.sampled_from(["admin", "u", ""]))
def test_no_password_survives_in_a_url(secret, user):
    url = f"postgresql://{user}:{secret}@db.example:5432/x?sslmode=require&password={secret}"
    masked = redact_url(url)
    assert secret not in masked and MASK in masked and "sslmode=require" in masked
    assert secret not in " ".join(redact_argv(["--db", url, f"--db-password={secret}"]))


@given(secret=_secret)
def test_no_token_survives_in_a_remote_url(secret):
    assert secret not in strip_credentials(f"https://{secret}@host/r.git?access_token={secret}")


def test_a_very_long_or_unbalanced_command_is_masked_as_text():
    """shlex takes quadratic time (10 s for a 1 MiB command: an import hung on one), and
    refuses unbalanced quotes: such commands are masked as text, linearly."""
    from registry.capture.redact import redact_command

    long = "python train.py --password s3cret --lr 0.1 " + "x" * (1 << 20)
    assert redact_command(long).startswith("python train.py --password *** --lr 0.1 xxx")
    unbalanced = "sh -c 'psql postgresql://admin:hunter2@db --api-key=abc"
    masked = redact_command(unbalanced)
    assert "hunter2" not in masked and "abc" not in masked and "admin:***@db" in masked
