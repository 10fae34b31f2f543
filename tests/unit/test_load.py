"""The on-call load on plain values (app/domain/load.py held_hours) and the period check of the report
(app/services/load_report.py check_period).

Every expected number below is worked out by hand from the zone rules, never with the code under test:
  Europe/Berlin        2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z)
  Australia/Lord_Howe  2026-04-05 02:00 +11 -> 01:30 +10:30 (Apr 4 15:00Z); 2026-10-04 02:00 +10:30 -> 02:30 +11
                       (Oct 3 15:30Z)
  America/Los_Angeles  2026-11-01 02:00 PDT -> 01:00 PST; PST is -08:00 afterwards
Nights are 22:00 -> 07:00 and weekends Saturday 00:00 -> Monday 00:00 on the zone's wall clock; hours are
elapsed time between the instants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.load import held_hours
from app.services.errors import FieldError
from app.services.load_report import check_period

BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))  # a period clipping nothing


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------- plain weeks (no DST change)


def test_a_weekday_24_hours_in_berlin_has_one_9_hour_night_and_no_weekend() -> None:
    # Mon 2 Nov 2026 09:00 CET (08:00Z) -> Tue 3 Nov 09:00 CET; the night Mon 22:00 -> Tue 07:00 is 9 h.
    assert held_hours([(utc(2026, 11, 2, 8), utc(2026, 11, 3, 8))], EVER, BERLIN) == (24.0, 9.0, 0.0)


def test_friday_evening_to_monday_morning_in_berlin() -> None:
    # Fri 6 Nov 2026 18:00 CET (17:00Z) -> Mon 9 Nov 09:00 CET (08:00Z): 6 + 48 + 9 = 63 h; the weekend
    # Sat 00:00 -> Mon 00:00 is 48 h; the nights of Fri, Sat and Sun are 9 h each: 27 h.
    assert held_hours([(utc(2026, 11, 6, 17), utc(2026, 11, 9, 8))], EVER, BERLIN) == (63.0, 27.0, 48.0)


def test_an_empty_list_holds_nothing() -> None:
    assert held_hours([], EVER, BERLIN) == (0.0, 0.0, 0.0)


def test_night_and_weekend_edges_are_half_open() -> None:
    # Mon 2 Nov 2026 12:00 -> 22:00 CET touches the night only at its end: no night hours.
    assert held_hours([(utc(2026, 11, 2, 11), utc(2026, 11, 2, 21))], EVER, BERLIN) == (10.0, 0.0, 0.0)
    # Mon 07:00 -> 12:00 CET starts as the night ends.
    assert held_hours([(utc(2026, 11, 2, 6), utc(2026, 11, 2, 11))], EVER, BERLIN) == (5.0, 0.0, 0.0)
    # Fri 6 Nov 12:00 -> Sat 7 Nov 00:00 CET ends as the weekend starts; its night Fri 22:00 -> 24:00 is 2 h.
    assert held_hours([(utc(2026, 11, 6, 11), utc(2026, 11, 6, 23))], EVER, BERLIN) == (12.0, 2.0, 0.0)
    # Mon 9 Nov 00:00 -> 06:00 CET starts as the weekend ends; all of it is night.
    assert held_hours([(utc(2026, 11, 8, 23), utc(2026, 11, 9, 5))], EVER, BERLIN) == (6.0, 6.0, 0.0)


def test_nights_and_weekends_are_the_schedules_wall_clock_not_utc() -> None:
    # Sun 8 Nov 2026 20:00 PST (Mon 04:00Z) -> Mon 9 Nov 02:00 PST (10:00Z): in Los Angeles 4 h of it are
    # weekend (to Mon 00:00) and 4 h night (22:00 -> 02:00); read in UTC it is Monday 04:00 -> 10:00, with
    # 3 h of night (04:00 -> 07:00) and no weekend.
    span = [(utc(2026, 11, 9, 4), utc(2026, 11, 9, 10))]
    assert held_hours(span, EVER, LOS_ANGELES) == (6.0, 4.0, 4.0)
    assert held_hours(span, EVER, ZoneInfo("UTC")) == (6.0, 3.0, 0.0)


def test_hours_are_rounded_to_two_places() -> None:
    # 20 minutes = 0.333.. h; 40 minutes = 0.666.. h; 10 minutes = 0.1666.. h.
    assert held_hours([(utc(2026, 11, 2, 12), utc(2026, 11, 2, 12, 20))], EVER, BERLIN) == (0.33, 0.0, 0.0)
    assert held_hours([(utc(2026, 11, 2, 12), utc(2026, 11, 2, 12, 40))], EVER, BERLIN) == (0.67, 0.0, 0.0)
    # Sat 7 Nov 22:50 -> 23:00 CET: night and weekend alike.
    assert held_hours([(utc(2026, 11, 7, 21, 50), utc(2026, 11, 7, 22))], EVER, BERLIN) == (0.17, 0.17, 0.17)


# ---------------------------------------------------------------- DST changes


def test_the_autumn_day_in_berlin_is_25_hours() -> None:
    # Sat 24 Oct 2026 09:00 CEST (07:00Z) -> Sun 25 Oct 09:00 CET (08:00Z) = 25 h; its night, Sat 22:00 CEST
    # (20:00Z) -> Sun 07:00 CET (06:00Z), is 10 h; all of it is weekend.
    assert held_hours([(utc(2026, 10, 24, 7), utc(2026, 10, 25, 8))], EVER, BERLIN) == (25.0, 10.0, 25.0)


def test_the_autumn_night_alone_is_10_hours() -> None:
    assert held_hours([(utc(2026, 10, 24, 20), utc(2026, 10, 25, 6))], EVER, BERLIN) == (10.0, 10.0, 10.0)


def test_the_spring_day_in_berlin_is_23_hours() -> None:
    # Sat 28 Mar 2026 09:00 CET (08:00Z) -> Sun 29 Mar 09:00 CEST (07:00Z) = 23 h; its night, Sat 22:00 CET
    # (21:00Z) -> Sun 07:00 CEST (05:00Z), is 8 h.
    assert held_hours([(utc(2026, 3, 28, 8), utc(2026, 3, 29, 7))], EVER, BERLIN) == (23.0, 8.0, 23.0)


def test_a_whole_week_around_each_change_in_berlin() -> None:
    # Mon 19 Oct 00:00 CEST (18 Oct 22:00Z) -> Mon 26 Oct 00:00 CET (25 Oct 23:00Z): 7 x 24 + 1 = 169 h.
    # Weekend Sat 24 00:00 CEST -> Mon 26 00:00 CET = 49 h. Nights: Mon 00:00 -> 07:00 = 7, five 9-hour
    # nights (Mon..Fri), Sat's 10, Sun 22:00 -> 24:00 = 2: 64 h.
    assert held_hours([(utc(2026, 10, 18, 22), utc(2026, 10, 25, 23))], EVER, BERLIN) == (169.0, 64.0, 49.0)
    # Mon 23 Mar 00:00 CET (22 Mar 23:00Z) -> Mon 30 Mar 00:00 CEST (29 Mar 22:00Z): 167 h, weekend 47 h,
    # nights 7 + 45 + 8 + 2 = 62 h.
    assert held_hours([(utc(2026, 3, 22, 23), utc(2026, 3, 29, 22))], EVER, BERLIN) == (167.0, 62.0, 47.0)


def test_lord_howe_half_hour_changes() -> None:
    # Spring: Sat 3 Oct 2026 12:00 +10:30 (01:30Z) -> Sun 4 Oct 12:00 +11 (Oct 4 01:00Z) = 23.5 h; the night
    # Sat 22:00 +10:30 (11:30Z) -> Sun 07:00 +11 (20:00Z) = 8.5 h; all weekend.
    assert held_hours([(utc(2026, 10, 3, 1, 30), utc(2026, 10, 4, 1))], EVER, LORD_HOWE) == (23.5, 8.5, 23.5)
    # Autumn: Sat 4 Apr 2026 12:00 +11 (01:00Z) -> Sun 5 Apr 12:00 +10:30 (01:30Z) = 24.5 h; the night
    # Sat 22:00 +11 (11:00Z) -> Sun 07:00 +10:30 (20:30Z) = 9.5 h.
    assert held_hours([(utc(2026, 4, 4, 1), utc(2026, 4, 5, 1, 30))], EVER, LORD_HOWE) == (24.5, 9.5, 24.5)


# ---------------------------------------------------------------- clipping to the period


def test_spans_are_clipped_to_the_period() -> None:
    day = (utc(2026, 11, 2, 8), utc(2026, 11, 3, 8))  # Mon 2 Nov 09:00 -> Tue 09:00 CET
    # Period Mon 12:00 CET (11:00Z) -> Tue 03:00 CET (02:00Z): 15 h, of which 22:00 -> 03:00 = 5 h night.
    assert held_hours([day], (utc(2026, 11, 2, 11), utc(2026, 11, 3, 2)), BERLIN) == (15.0, 5.0, 0.0)
    # Spans wholly outside the period count nothing; touching its edges counts nothing either.
    period = (utc(2026, 11, 3, 8), utc(2026, 11, 4, 8))
    assert held_hours([day], period, BERLIN) == (0.0, 0.0, 0.0)
    assert held_hours([(utc(2026, 11, 4, 8), utc(2026, 11, 5, 8))], period, BERLIN) == (0.0, 0.0, 0.0)
    # Several spans: only their parts inside count. Period Tue 3 Nov 09:00 -> Thu 5 Nov 09:00 CET with
    # Mon-Tue (outside), Tue 09:00 -> Wed 09:00 (24 h, night 9), Wed 21:00 -> Thu 12:00 (clipped to
    # Wed 21:00 -> Thu 09:00: 12 h, night 22:00 -> 07:00 = 9).
    wide = (utc(2026, 11, 3, 8), utc(2026, 11, 5, 8))
    spans = [day, (utc(2026, 11, 3, 8), utc(2026, 11, 4, 8)), (utc(2026, 11, 4, 20), utc(2026, 11, 5, 11))]
    assert held_hours(spans, wide, BERLIN) == (36.0, 18.0, 0.0)


def test_clipping_inside_the_autumn_change() -> None:
    # The 25-hour Saturday shift (07:00Z -> Sun 08:00Z) from a period starting Sun 25 Oct 00:00 CEST (Sat
    # 22:00Z): 10 h left, of which night Sat 22:00 CEST (20:00Z) -> Sun 07:00 CET (06:00Z) clipped: 22:00Z ->
    # 06:00Z = 8 h; all weekend.
    shift = (utc(2026, 10, 24, 7), utc(2026, 10, 25, 8))
    assert held_hours([shift], (utc(2026, 10, 24, 22), utc(2026, 10, 26)), BERLIN) == (10.0, 8.0, 10.0)
    # ... and to a period ending Sun 02:30 CET (01:30Z): 07:00Z -> 01:30Z = 18.5 h, night 20:00Z -> 01:30Z =
    # 5.5 h.
    assert held_hours([shift], (utc(2026, 10, 24), utc(2026, 10, 25, 1, 30)), BERLIN) == (18.5, 5.5, 18.5)


# ---------------------------------------------------------------- a property: spans add up

MINUTES_2026 = 365 * 24 * 60


@given(
    start=st.integers(0, MINUTES_2026),
    first=st.integers(1, 4000),
    second=st.integers(1, 4000),
)
def test_a_span_split_in_two_counts_the_same(start: int, first: int, second: int) -> None:
    base = utc(2026, 1, 1)
    a = base + timedelta(minutes=start)
    b = a + timedelta(minutes=first)
    c = b + timedelta(minutes=second)
    whole = held_hours([(a, c)], EVER, BERLIN)
    split = held_hours([(a, b), (b, c)], EVER, BERLIN)
    assert whole == split
    assert whole[0] == round((first + second) / 60, 2)  # elapsed minutes, whatever the wall clock did
    assert 0 <= whole[1] <= whole[0] and 0 <= whole[2] <= whole[0]


# ---------------------------------------------------------------- the period asked for


def test_check_period_accepts_up_to_366_days() -> None:
    start, end = check_period("2026-01-01T00:00:00+01:00", "2027-01-02T00:00:00+01:00")  # 366 days
    assert (start, end) == (utc(2025, 12, 31, 23), utc(2027, 1, 1, 23))
    assert start.tzinfo is not None


@pytest.mark.parametrize(
    ("start", "end", "fields"),
    [
        (None, "2026-10-27T00:00:00Z", {"start"}),
        ("", "2026-10-27T00:00:00Z", {"start"}),
        ("2026-10-20T00:00:00Z", None, {"end"}),
        (None, None, {"start", "end"}),
        ("2026-10-27T00:00:00Z", "2026-10-20T00:00:00Z", {"end"}),  # before the start
        ("2026-10-20T00:00:00Z", "2026-10-20T00:00:00Z", {"end"}),  # no time at all
        ("2026-01-01T00:00:00Z", "2027-01-03T00:00:00Z", {"end"}),  # 367 days
        ("2026-01-01T00:00:00Z", "2027-01-02T00:00:01Z", {"end"}),  # 366 days and a second
        ("2026-10-20T00:00:00", "2026-10-27T00:00:00Z", {"start"}),  # no offset
        ("yesterday", "2026-10-27T00:00:00Z", {"start"}),
        ("2026-10-20T00:00:00Z", "soon", {"end"}),
    ],
)
def test_check_period_names_the_field(start: str | None, end: str | None, fields: set[str]) -> None:
    with pytest.raises(FieldError) as raised:
        check_period(start, end)
    assert set(raised.value.errors) == fields
    assert all(raised.value.errors.values())
