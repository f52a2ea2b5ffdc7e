"""RFC 8785: byte-identical to the reference package, and strict about what has no JSON form."""

import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.canonical import canonical_bytes, canonical_float
from provenance.errors import CanonicalizationError

_SAFE_INT = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_TEXT = st.text(st.characters(exclude_categories=("Cs",)))  # no lone surrogates
_SCALARS = st.none() | st.booleans() | _SAFE_INT | _FLOATS | _TEXT
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_TEXT, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=1500)
@given(_JSON)
def test_matches_the_reference_package_for_any_json_value(value):
    assert canonical_bytes(value) == rfc8785.dumps(value)


@settings(max_examples=3000)
@given(_FLOATS)
def test_every_finite_float_serializes_like_ecmascript(f):
    assert canonical_float(f) == rfc8785.dumps(f).decode()
    assert float(canonical_float(f)) == f


@given(
    st.dictionaries(
        st.text(
            st.characters(min_codepoint=0xD7F0, max_codepoint=0x1F600, exclude_categories=("Cs",))
        ),
        st.integers(0, 9),
    )
)
def test_keys_sort_by_utf16_code_units_across_the_surrogate_range(d):
    assert canonical_bytes(d) == rfc8785.dumps(d)


def test_rfc8785_section_3_2_2_3_number_examples():
    # The sample numbers from RFC 8785 Appendix B, as IEEE 754 bit patterns.
    cases = {
        "0000000000000000": "0",
        "8000000000000000": "0",
        "0000000000000001": "5e-324",
        "8000000000000001": "-5e-324",
        "7fefffffffffffff": "1.7976931348623157e+308",
        "ffefffffffffffff": "-1.7976931348623157e+308",
        "4340000000000000": "9007199254740992",
        "c340000000000000": "-9007199254740992",
        "4430000000000000": "295147905179352830000",
        "44b52d02c7e14af5": "9.999999999999997e+22",
        "44b52d02c7e14af6": "1e+23",
        "44b52d02c7e14af7": "1.0000000000000001e+23",
        "444b1ae4d6e2ef4e": "999999999999999700000",
        "444b1ae4d6e2ef4f": "999999999999999900000",
        "444b1ae4d6e2ef50": "1e+21",
        "3eb0c6f7a0b5ed8c": "9.999999999999997e-7",
        "3eb0c6f7a0b5ed8d": "0.000001",
        "41b3de4355555553": "333333333.3333332",
        "41b3de4355555554": "333333333.33333325",
        "41b3de4355555555": "333333333.3333333",
        "41b3de4355555556": "333333333.3333334",
        "41b3de4355555557": "333333333.33333343",
        "becbf647612f3696": "-0.0000033333333333333333",
        "43143ff3c1cb0959": "1424953923781206.2",
    }
    import struct

    for bits, text in cases.items():
        f = struct.unpack(">d", bytes.fromhex(bits))[0]
        assert canonical_float(f) == text, bits


def test_rfc8785_sorting_example():
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = [k for k in value]
    expected_order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    text = canonical_bytes(value).decode()
    assert [text.index('"' + k.replace("\r", "\\r") + '"') for k in expected_order] == sorted(
        text.index('"' + k.replace("\r", "\\r") + '"') for k in order
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"a": [1, math.nan]}])
def test_nan_and_infinity_are_rejected(bad):
    with pytest.raises(CanonicalizationError, match="NaN and Infinity"):
        canonical_bytes(bad)


@pytest.mark.parametrize("bad", ["\ud800", {"k": "x\udfff"}, {"\udc00": 1}])
def test_lone_surrogates_are_rejected(bad):
    with pytest.raises(CanonicalizationError, match="lone surrogate"):
        canonical_bytes(bad)


@pytest.mark.parametrize("bad", [{1: "x"}, {None: 1}, {"a": {(1, 2): 3}}])
def test_non_string_keys_are_rejected(bad):
    with pytest.raises(CanonicalizationError, match="keys must be strings"):
        canonical_bytes(bad)


@pytest.mark.parametrize("bad", [2**53, -(2**53), {1.5, 2}, b"bytes", object()])
def test_values_without_an_exact_json_form_are_rejected(bad):
    with pytest.raises(CanonicalizationError):
        canonical_bytes(bad)


@settings(max_examples=800)
@given(_JSON)
def test_parse_canonical_accepts_exactly_the_canonical_bytes(value):
    import json

    from provenance.canonical import parse_canonical

    canonical = canonical_bytes(value)
    assert parse_canonical(canonical)[1] is True
    for other in (
        json.dumps(value).encode(),
        json.dumps(value, indent=1).encode(),
        json.dumps(value, sort_keys=True, separators=(",", ":")).encode(),
    ):
        assert parse_canonical(other)[1] is (other == canonical)


def test_deep_nesting_is_a_clear_error_not_a_recursion_error():
    from provenance.canonical import MAX_DEPTH

    def nested(levels: int) -> object:
        value: object = 1
        for _ in range(levels):
            value = [value]
        return value

    assert canonical_bytes(nested(MAX_DEPTH)) == b"[" * MAX_DEPTH + b"1" + b"]" * MAX_DEPTH
    for levels in (MAX_DEPTH + 1, 450, 5000):  # 450 used to raise RecursionError
        with pytest.raises(CanonicalizationError, match="nested more than"):
            canonical_bytes(nested(levels))
