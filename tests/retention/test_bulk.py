"""The bulk evaluator (``prov retention plan``) gives exactly what ``retention_of`` gives, for
any policies and records: month ends, leap days, logged_at bases, globs, tags and ties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.timefmt import format_time
from retention.bulk import Evaluator
from retention.policy import retention_of

_times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2300, 12, 31), timezones=st.just(UTC)
)
_durations = st.sampled_from(
    ["P7Y", "P6Y", "P1M", "P6M", "P10Y", "P30D", "PT12H", "P1Y2M3DT4H", "P2W", "P13M", "P1D"]
)
_policy = st.fixed_dictionaries(
    {
        "duration": _durations,
        "from": st.sampled_from(["created_at", "logged_at"]),
        "applies_to": st.fixed_dictionaries(
            {},
            optional={
                "kinds": st.lists(st.sampled_from(["dataset", "model", "run"]), max_size=2),
                "name_glob": st.sampled_from(["data/*", "*.csv", "m?del*", "[ab]*"]),
                "tags": st.dictionaries(
                    st.sampled_from(["pii", "team"]), st.just("yes"), max_size=1
                ),
            },
        ),
        "on_expiry": st.sampled_from(["purge", "review", "keep"]),
        "basis": st.just("b"),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    policies=st.lists(_policy, max_size=4),
    kind=st.sampled_from(["dataset", "model", "run"]),
    name=st.sampled_from(["data/x.csv", "model.bin", "a", "b.csv", "mxdel"]),
    tags=st.dictionaries(st.sampled_from(["pii", "team"]), st.sampled_from(["yes", "no"])),
    created=_times,
    lag=st.integers(0, 10**8),
)
def test_evaluator_agrees_with_retention_of(policies, kind, name, tags, created, lag):
    pairs = [(f"sha256:{i:064x}", {"attributes": p}) for i, p in enumerate(policies)]
    created_at = format_time(created)
    logged_at = format_time(created + timedelta(microseconds=lag * 1000))
    record = {"kind": kind, "name": name, "created_at": created_at, "tags": tags}
    want = retention_of(record, datetime.fromisoformat(logged_at), pairs)
    got = Evaluator(pairs).verdict(kind, name, tags, created_at, logged_at)
    if want.retain_until is None:
        assert got is None
    else:
        assert got is not None
        assert got.retain_until == format_time(want.retain_until)
        assert got.on_expiry == want.on_expiry
        assert got.deciding == want.deciding


def test_leap_day_plus_years_clamps_like_retention_of():
    pairs = [("p", {"attributes": {"duration": "P1Y", "on_expiry": "purge", "applies_to": {}}})]
    t = "2028-02-29T12:00:00.000000Z"
    got = Evaluator(pairs).verdict("dataset", "x", None, t, t)
    assert got is not None and got.retain_until == "2029-02-28T12:00:00.000000Z"
