from datetime import UTC, datetime

import pytest

from provenance.errors import RecordError
from provenance.timefmt import format_time, parse_duration, parse_time


def test_format_and_parse_round_trip():
    t = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
    assert format_time(t) == "2026-11-21T10:00:00.123456Z"
    assert parse_time(format_time(t)) == t


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("P7Y", datetime(2026, 3, 1, tzinfo=UTC), datetime(2033, 3, 1, tzinfo=UTC)),
        ("P1Y", datetime(2028, 2, 29, tzinfo=UTC), datetime(2029, 2, 28, tzinfo=UTC)),
        ("P6M", datetime(2026, 8, 31, tzinfo=UTC), datetime(2027, 2, 28, tzinfo=UTC)),
        ("P30D", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC)),
        ("P1W", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)),
        ("PT12H", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 12, tzinfo=UTC)),
    ],
)
def test_durations_add_calendar_time(text, start, end):
    assert parse_duration(text).after(start) == end


@pytest.mark.parametrize("bad", ["P", "7Y", "P0D", "PT", "P1.5Y", "", "P1Y2"])
def test_bad_durations_are_rejected(bad):
    with pytest.raises(RecordError):
        parse_duration(bad)
