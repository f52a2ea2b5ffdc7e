"""Record validation (SPEC §2): every field checked, unknown fields rejected, ids and prefixes."""

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.canonical import canonical_bytes
from provenance.errors import RecordError, RefError
from provenance.records import encode_record, id_prefix, record_id, short_id, validate_record

SHA = "a" * 64
ID = "sha256:" + "b" * 64
DATASET = {
    "type": "prov.record/v1",
    "kind": "dataset",
    "name": "data/train.csv",
    "created_at": "2026-11-21T10:00:00.123456Z",
    "subject": {"digest": {"sha256": SHA, "md5": "c" * 32}, "size": 10, "media_type": "text/csv"},
    "links": [{"rel": "derived_from", "id": ID}],
    "tags": {"team": "risk"},
    "attributes": {"note": 1.5},
    "created_by": "ana@host",
}


def _with(**changes):
    r = copy.deepcopy(DATASET)
    for k, v in changes.items():
        if v is None:
            r.pop(k, None)
        else:
            r[k] = v
    return r


def test_a_complete_dataset_record_is_valid_and_its_id_hashes_its_canonical_bytes():
    rid, data = encode_record(DATASET)
    assert data == canonical_bytes(DATASET)
    assert rid == record_id(data) and rid.startswith("sha256:") and len(rid) == 71
    assert short_id(rid) == rid[7:19]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"typo_field": 1}, "unknown field 'typo_field'"),
        ({"type": "prov.record/v2"}, "type"),
        ({"kind": "datset"}, "unknown kind 'datset'"),
        ({"name": ""}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"name": "bad\nname"}, "control characters"),
        ({"created_at": "2026-11-21T10:00:00Z"}, "microseconds"),
        ({"created_at": "2026-11-21T10:00:00.123456+00:00"}, "created_at"),
        ({"created_at": "2026-02-30T10:00:00.123456Z"}, "real date"),
        ({"subject": None}, "subject: is required"),
        ({"subject": {"digest": {"sha256": SHA.upper()}, "size": 1}}, "lowercase hex"),
        ({"subject": {"digest": {"sha256": SHA[:-1]}, "size": 1}}, "64 lowercase hex"),
        ({"subject": {"digest": {}, "size": 1}}, "sha256 .* is required"),
        ({"subject": {"digest": {"md5": "c" * 31}, "size": 1}}, "32 lowercase hex"),
        ({"subject": {"digest": {"sha256": SHA, "sha1": "d" * 40}, "size": 1}}, "unknown field"),
        ({"subject": {"digest": {"sha256": SHA}, "size": -1}}, "non-negative"),
        ({"subject": {"digest": {"sha256": SHA}, "size": True}}, "non-negative"),
        ({"subject": {"digest": {"sha256": SHA}, "size": 1, "extra": 1}}, "unknown field"),
        ({"links": [{"rel": "inspired_by", "id": ID}]}, "unknown relation"),
        ({"links": [{"rel": "used", "id": "sha256:" + "b" * 63}]}, "record id"),
        ({"links": [{"rel": "used", "id": ID}, {"rel": "used", "id": ID}]}, "duplicate"),
        ({"links": [{"rel": "used", "id": ID, "x": 1}]}, "unknown field"),
        ({"tags": {"k": 1}}, "string"),
        ({"attributes": []}, "object"),
    ],
)
def test_invalid_fields_are_rejected_with_the_field_named(changes, message):
    with pytest.raises(RecordError, match=message):
        validate_record(_with(**changes))


def test_key_policy_attestation_and_tombstone_rules():
    base = {"type": "prov.record/v1", "created_at": "2026-11-21T10:00:00.000000Z", "name": "k"}
    key = base | {
        "kind": "key",
        "attributes": {
            "algorithm": "ed25519",
            "public_key": "A" * 43 + "=",
            "owner": "o",
            "role": "signer",
        },
    }
    validate_record(key)
    with pytest.raises(RecordError, match="public_key"):
        validate_record(key | {"attributes": key["attributes"] | {"public_key": "AAAA"}})
    with pytest.raises(RecordError, match="role"):
        validate_record(key | {"attributes": key["attributes"] | {"role": "admin"}})
    policy = base | {
        "kind": "policy",
        "attributes": {
            "duration": "P7Y",
            "from": "created_at",
            "applies_to": {"kinds": ["dataset"]},
            "on_expiry": "review",
            "basis": "law",
        },
    }
    validate_record(policy)
    with pytest.raises(RecordError, match="duration"):
        validate_record(policy | {"attributes": policy["attributes"] | {"duration": "7 years"}})
    att = base | {
        "kind": "attestation",
        "links": [{"rel": "about", "id": ID}],
        "attributes": {"predicate": "approval"},
    }
    validate_record(att)
    validate_record(att | {"attributes": {"predicate": "https://example.com/eval/v1"}})
    with pytest.raises(RecordError, match="about"):
        validate_record(att | {"links": []})
    with pytest.raises(RecordError, match="predicate"):
        validate_record(att | {"attributes": {"predicate": "looks good"}})
    with pytest.raises(RecordError, match="reason"):
        validate_record(base | {"kind": "tombstone", "links": [{"rel": "about", "id": ID}]})


def test_nan_in_attributes_is_a_clear_error():
    from provenance.errors import CanonicalizationError

    with pytest.raises(CanonicalizationError, match="NaN"):
        encode_record(_with(attributes={"auc": float("nan")}))


@given(st.text(alphabet="0123456789abcdef", min_size=6, max_size=64))
def test_prefixes_normalize_with_or_without_the_algorithm(prefix):
    assert id_prefix(prefix) == prefix
    assert id_prefix("sha256:" + prefix.upper()) == prefix


@pytest.mark.parametrize("bad", ["abc12", "sha256:", "xyz123", "a" * 65, "../../etc"])
def test_bad_prefixes_are_rejected(bad):
    with pytest.raises(RefError):
        id_prefix(bad)


@given(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    st.integers(0, 2**53 - 1),
)
def test_leaf_input_fast_path_equals_the_canonical_encoding(name, hexid, seq):
    from provenance.logentry import envelope_digest, leaf_input

    env = name.encode()
    for rid, logged_at in ((f"sha256:{hexid}", "2026-11-21T10:00:00.123456Z"), (name, name)):
        assert leaf_input(env, rid, logged_at, seq) == canonical_bytes(
            {"envelope": envelope_digest(env), "id": rid, "logged_at": logged_at, "seq": seq}
        )
