"""DSSE envelopes: ours verify with securesystemslib, and tampering fails there too."""

import base64
import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from provenance.canonical import canonical_bytes
from provenance.dsse import PAYLOAD_TYPE, Envelope, pae
from provenance.errors import EnvelopeError, KeyLoadError, SignatureError
from provenance.keys import Signer, key_id

RECORD = canonical_bytes({"type": "prov.record/v1", "kind": "dataset", "name": "x"})


def _sslib_verify(envelope_json: dict, signer: Signer) -> None:
    pub = Ed25519PublicKey.from_public_bytes(signer.public_raw)
    key = SSlibKey.from_crypto(pub, keyid=signer.keyid)
    SslibEnvelope.from_dict(copy.deepcopy(envelope_json)).verify([key], 1)


def test_pae_matches_the_dsse_spec():
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_our_envelope_verifies_with_securesystemslib():
    signer = Signer.generate()
    env = Envelope.sign(RECORD, [signer])
    assert env.to_json()["payloadType"] == PAYLOAD_TYPE
    assert env.to_json()["signatures"][0]["keyid"] == key_id(signer.public_raw)
    _sslib_verify(env.to_json(), signer)


@pytest.mark.parametrize("tamper", ["payload", "type", "sig"])
def test_a_tampered_envelope_fails_in_securesystemslib_and_here(tamper):
    signer = Signer.generate()
    obj = Envelope.sign(RECORD, [signer]).to_json()
    if tamper == "payload":
        obj["payload"] = base64.b64encode(RECORD.replace(b"dataset", b"model")).decode()
    elif tamper == "type":
        obj["payloadType"] = "application/json"
    else:
        sig = bytearray(base64.b64decode(obj["signatures"][0]["sig"]))
        sig[5] ^= 1
        obj["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(VerificationError):
        _sslib_verify(obj, signer)
    with pytest.raises(SignatureError):
        Envelope.from_json(obj).verify(signer.keyid, signer.public_raw)


def test_a_signature_by_another_key_fails():
    signer, other = Signer.generate(), Signer.generate()
    env = Envelope.sign(RECORD, [signer])
    with pytest.raises(SignatureError):
        env.verify(signer.keyid, other.public_raw)
    with pytest.raises(SignatureError, match="no signature by key"):
        env.verify(other.keyid, other.public_raw)


def test_stored_bytes_round_trip_and_are_canonical():
    env = Envelope.sign(RECORD, [Signer.generate(), Signer.generate()])
    data = env.to_bytes()
    assert Envelope.from_bytes(data) == env
    assert canonical_bytes(Envelope.from_bytes(data).to_json()) == data


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[]",
        b'{"payloadType":"t","payload":"eA==","signatures":[]}',
        b'{"payloadType":"t","payload":"***","signatures":[{"keyid":"a","sig":"eA=="}]}',
        b'{"payloadType":"t","payload":"eA==","signatures":[{"keyid":"a","sig":"eA=="}],"x":1}',
        b'{"payloadType":"t","payload":"eA==","signatures":[{"keyid":"a"}]}',
    ],
)
def test_malformed_envelopes_are_rejected(bad):
    with pytest.raises(EnvelopeError):
        Envelope.from_bytes(bad)


def test_pem_round_trip_with_and_without_passphrase():
    signer = Signer.generate()
    assert Signer.from_pem(signer.to_pem()).keyid == signer.keyid
    pem = signer.to_pem(b"s3cret")
    assert b"ENCRYPTED" in pem
    assert Signer.from_pem(pem, b"s3cret").keyid == signer.keyid
    with pytest.raises(KeyLoadError, match="wrong"):
        Signer.from_pem(pem, b"guess")
    with pytest.raises(KeyLoadError, match="encrypted"):
        Signer.from_pem(pem)
    assert "s3cret" not in repr(signer) and len(repr(signer)) < 40
