"""RFC 8785 (JSON Canonicalization Scheme) serialization.

The canonical bytes of a record decide its id and what is signed, so this encoder is the
product's own. It is byte-identical to the reference ``rfc8785`` package (a hypothesis test
holds it to that) and several times faster: one Python pass sorts keys by UTF-16 code units,
validates types and rewrites the few floats whose ECMAScript form differs from Python's
``repr``; the C ``json`` encoder then writes the bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from provenance.errors import CanonicalizationError

__all__ = ["MAX_DEPTH", "canonical_bytes", "canonical_float", "parse_canonical"]

_INT_MAX = 2**53 - 1
#: Nesting allowed in a canonical value. Each level costs two Python frames here and more in
#: the callers' stacks (a server thread's, say): a cap well inside the interpreter's recursion
#: limit turns a hostile document into a clear error instead of a RecursionError.
MAX_DEPTH = 100
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False
)


class _NeedsSlowPath(Exception):
    """A float whose ECMAScript form is not Python's repr (exponent ranges)."""


def canonical_bytes(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    Args:
        value: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``/``tuple`` or ``dict``
            with ``str`` keys, nested.

    Raises:
        CanonicalizationError: NaN or infinite floats, integers outside ±(2**53-1), lone
            surrogates, non-string keys, or values of other types.
    """
    try:
        prepared = _prepare(value, 0)
        text = _ENCODER.encode(prepared)
    except _NeedsSlowPath:
        text = _encode_slow(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CanonicalizationError(
            f"string contains a lone surrogate (U+{ord(e.object[e.start]):04X}); "
            "JSON text must be valid Unicode"
        ) from None


def parse_canonical(data: bytes) -> tuple[Any, bool]:
    """Parse JSON bytes and tell whether they are exactly their RFC 8785 form.

    For ASCII text without floats, the C encoder with sorted keys already writes the canonical
    form (code-point and UTF-16 order agree on ASCII), so the check costs one C round trip;
    anything else is re-encoded in full.

    Raises:
        ValueError: not JSON.
    """
    saw_float = False

    def _float(text: str) -> float:
        nonlocal saw_float
        saw_float = True
        return float(text)

    def _int(text: str) -> int | float:
        n = int(text)
        return n if -_INT_MAX <= n <= _INT_MAX else _float(text)  # JSON numbers are doubles

    value = json.loads(data, parse_float=_float, parse_int=_int)
    if data.isascii() and not saw_float:
        quick = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return value, quick.encode() == data
    try:
        return value, canonical_bytes(value) == data
    except CanonicalizationError:
        return value, False


def _sort_keys(d: dict[Any, Any]) -> list[str]:
    keys = list(d)
    for k in keys:
        if type(k) is not str:
            raise CanonicalizationError(
                f"object keys must be strings, got {type(k).__name__} {k!r}"
            )
    # UTF-16 code-unit order equals code-point order unless a key holds a character at or above
    # U+D800 (where surrogate pairs sort before U+E000..U+FFFF): only then pay for encoding.
    if all(k.isascii() for k in keys):
        keys.sort()
    else:
        keys.sort(key=_utf16_key)
    return keys


def _utf16_key(k: str) -> bytes:
    try:
        return k.encode("utf-16-be")
    except UnicodeEncodeError:
        raise CanonicalizationError(
            "object key contains a lone surrogate; JSON text must be valid Unicode"
        ) from None


def _check_float(f: float) -> None:
    if math.isnan(f) or math.isinf(f):
        raise CanonicalizationError(
            f"{f!r} has no JSON form: NaN and Infinity are not allowed in records"
        )


def _prepare(v: Any, depth: int) -> Any:
    t = type(v)
    if t is str or v is None or t is bool:
        return v
    if t is int:
        if -_INT_MAX <= v <= _INT_MAX:
            return v
        raise CanonicalizationError(
            f"integer {v} is outside the range JSON numbers hold exactly (±(2**53-1))"
        )
    if t is float:
        _check_float(v)
        a = abs(v)
        if a == 0.0:
            return 0
        if v.is_integer():
            if a <= _INT_MAX:
                return int(v)  # exact: ECMAScript prints integral doubles without ".0"
            raise _NeedsSlowPath
        if 1e-4 <= a < 1e16:
            return v  # Python's shortest repr is already the ECMAScript form here
        raise _NeedsSlowPath
    if depth >= MAX_DEPTH:
        raise CanonicalizationError(f"value is nested more than {MAX_DEPTH} levels deep")
    if t is dict:
        return {k: _prepare(v[k], depth + 1) for k in _sort_keys(v)}
    if t is list or t is tuple:
        return [_prepare(x, depth + 1) for x in v]
    raise CanonicalizationError(f"{t.__name__} is not a JSON type")


def canonical_float(f: float) -> str:
    """Serialize a finite float as ECMAScript ``Number.prototype.toString`` (RFC 8785 §3.2.2.3)."""
    _check_float(f)
    if f == 0:
        return "0"
    if f < 0:
        return "-" + canonical_float(-f)
    digits, _, exp_text = repr(f).partition("e")
    exponent = int(exp_text) if exp_text else 0
    intpart, _, frac = digits.partition(".")
    if frac == "0":
        frac = ""
    # Normalize to digits d1..dk and a decimal exponent n: the value is 0.d1..dk × 10^n.
    mantissa = (intpart + frac).lstrip("0")
    n = (
        len(intpart) + exponent
        if intpart != "0"
        else exponent - (len(frac) - len(frac.lstrip("0")))
    )
    k = len(mantissa.rstrip("0")) or 1
    mantissa = mantissa[:k]
    if k <= n <= 21:
        return mantissa + "0" * (n - k)
    if 0 < n <= 21:
        return mantissa[:n] + "." + mantissa[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + mantissa
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = mantissa[0] + ("." + mantissa[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(e)}"


def _encode_slow(v: Any) -> str:
    t = type(v)
    if t is float:
        return canonical_float(v)
    if t is dict:
        return (
            "{"
            + ",".join(_ENCODER.encode(k) + ":" + _encode_slow(v[k]) for k in _sort_keys(v))
            + "}"
        )
    if t is list or t is tuple:
        return "[" + ",".join(_encode_slow(x) for x in v) + "]"
    return _ENCODER.encode(_prepare(v, 0))
