"""Parsers of untrusted input fail only with their own error class, whatever they are given."""

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.canonical import parse_canonical
from provenance.dsse import Envelope
from provenance.errors import EnvelopeError, RecordError
from provenance.records import validate_record

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    ["type", "kind", "name", "created_at", "subject", "links", "attributes", "tags", "created_by"]
)


@settings(max_examples=500)
@given(st.binary(max_size=300) | _JSON.map(lambda v: json.dumps(v).encode()))
def test_envelope_parser_raises_only_envelope_errors(data):
    with contextlib.suppress(EnvelopeError):
        Envelope.from_bytes(data)


@settings(max_examples=1000)
@given(st.dictionaries(_FIELDS, _JSON, max_size=9) | _JSON)
def test_record_validation_raises_only_record_errors(value):
    with contextlib.suppress(RecordError):
        validate_record(value)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_canonical_check_of_arbitrary_bytes_is_a_value_error_or_an_answer(data):
    try:
        _, ok = parse_canonical(data)
        assert isinstance(ok, bool)
    except ValueError:
        pass
