"""Times as people read them: "in 3 h", and how long such a text stays true."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from app.routes.formatting import relative, relative_until


@given(st.integers(min_value=1, max_value=30 * 86400), st.integers(min_value=0, max_value=10**6))
def test_relative_reads_the_same_until_relative_until(seconds_ahead: int, micros: int) -> None:
    """Kept HTML saying "(in 3 h)" lasts until relative_until: the text is the same up to it, not after."""
    now = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    at = now + datetime.timedelta(seconds=seconds_ahead, microseconds=micros)
    until = relative_until(at, now)
    assert now <= until <= at  # now itself when the text changes the moment after
    shown = relative(at, now)
    for moment in (now + (until - now) / 2, until):
        assert relative(at, moment) == shown
    if until < at:
        assert relative(at, until + datetime.timedelta(microseconds=1)) != shown
