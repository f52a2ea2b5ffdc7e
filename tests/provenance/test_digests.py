"""One-pass SHA-256 + MD5: same digests as hashlib, same bytes to the sink, any chunking."""

import hashlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.digests import Digest, digest_stream
from provenance.errors import RefError


@settings(max_examples=200)
@given(st.binary(max_size=5000), st.sampled_from([1, 7, 64, 1024, 1 << 20]))
def test_digests_and_sink_match_hashlib_for_any_chunking(data, chunk):
    sink = io.BytesIO()
    seen = []
    d = digest_stream(io.BytesIO(data), sink, progress=seen.append, chunk_size=chunk)
    assert (d.sha256, d.md5, d.size) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
        len(data),
    )
    assert sink.getvalue() == data
    assert sum(seen) == len(data)


def test_large_stream_uses_the_two_thread_path_and_stays_correct():
    data = bytes(range(256)) * 40_000 + b"tail"  # ~10 MiB: several 1 MiB chunks
    sink = io.BytesIO()
    d = digest_stream(io.BytesIO(data), sink, chunk_size=1 << 20)
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.md5 == hashlib.md5(data).hexdigest()
    assert sink.getvalue() == data


def test_a_read_error_propagates_and_stops_the_worker():
    class Broken(io.RawIOBase):
        calls = 0

        def readinto(self, b):
            self.calls += 1
            if self.calls > 3:
                raise OSError(5, "Input/output error")
            b[:] = b"x" * len(b)
            return len(b)

    with pytest.raises(OSError):
        digest_stream(Broken(), chunk_size=1024)


def test_digest_value_type():
    d = Digest.parse("sha256:" + "ab" * 32)
    assert str(d) == "sha256:" + "ab" * 32
    assert Digest.parse("md5:" + "0" * 32).algorithm == "md5"
    for bad in ("sha256:xyz", "sha1:" + "a" * 40, "abc", "sha256:" + "AB" * 32):
        with pytest.raises(RefError):
            Digest.parse(bad)
