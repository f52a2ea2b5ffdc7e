"""Checkpoints as C2SP signed notes: the key hash rule, round trips and strict parsing."""

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.checkpoint import Checkpoint, SignedNote, key_hash, verifier_key
from provenance.errors import CheckpointError
from provenance.keys import Signer

ORIGIN = "prov/3f2c-test"
ROOT = hashlib.sha256(b"root").digest()


def _note(size=42, signer=None):
    signer = signer or Signer.generate()
    return SignedNote.sign(Checkpoint(ORIGIN, size, ROOT), ORIGIN, signer), signer


def test_key_hash_is_sha256_of_name_newline_0x01_key():
    signer = Signer.generate()
    want = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + signer.public_raw).digest()[:4]
    assert key_hash(ORIGIN, signer.public_raw) == want
    name, hexhash, b64 = verifier_key(ORIGIN, signer.public_raw).split("+", 2)
    assert (name, bytes.fromhex(hexhash), base64.b64decode(b64)) == (
        ORIGIN,
        want,
        b"\x01" + signer.public_raw,
    )


def test_note_text_is_the_c2sp_layout():
    note, signer = _note()
    lines = note.text().split("\n")
    assert lines[:4] == [ORIGIN, "42", base64.b64encode(ROOT).decode(), ""]
    assert lines[4].startswith(f"\u2014 {ORIGIN} ")
    raw = base64.b64decode(lines[4].split(" ")[2])
    assert raw[:4] == key_hash(ORIGIN, signer.public_raw) and len(raw) == 68
    assert lines[5] == ""


def test_round_trip_and_verify():
    note, signer = _note()
    parsed = SignedNote.parse(note.text())
    assert parsed == note
    parsed.verify(ORIGIN, signer.public_raw)


def test_verify_fails_for_another_key_or_a_changed_body():
    note, signer = _note()
    with pytest.raises(CheckpointError):
        note.verify(ORIGIN, Signer.generate().public_raw)
    text = note.text().replace("\n42\n", "\n43\n")
    with pytest.raises(CheckpointError, match="does not verify"):
        SignedNote.parse(text).verify(ORIGIN, signer.public_raw)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1],  # no final newline
        lambda t: t.replace("\n\n", "\n"),  # no blank line
        lambda t: t.replace("\n42\n", "\n042\n"),  # leading zero
        lambda t: t.replace("\n42\n", "\n-1\n"),
        lambda t: t.replace("\u2014 ", "- "),  # not an em dash
        lambda t: t.replace(f"{ORIGIN}\n", f"{ORIGIN}\nextension\n", 1),
        lambda t: t.replace(base64.b64encode(ROOT).decode(), base64.b64encode(ROOT[:31]).decode()),
        lambda t: t + "\u2014 other short\n",
    ],
)
def test_strict_parser_rejects_malformed_notes(mutate):
    note, _ = _note()
    with pytest.raises(CheckpointError):
        SignedNote.parse(mutate(note.text()))


@given(st.integers(0, 2**63), st.binary(min_size=32, max_size=32))
def test_any_checkpoint_round_trips(size, root):
    signer = Signer.generate()
    note = SignedNote.sign(Checkpoint(ORIGIN, size, root), ORIGIN, signer)
    assert SignedNote.parse(note.text()).checkpoint == Checkpoint(ORIGIN, size, root)


@given(st.text(max_size=300))
def test_arbitrary_text_never_parses_into_a_verifying_note(text):
    _, signer = _note()
    try:
        SignedNote.parse(text).verify(ORIGIN, signer.public_raw)
    except CheckpointError:
        return
    pytest.fail("random text verified")
