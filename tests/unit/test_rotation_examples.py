"""Worked rotation examples, hand-checked against the zone rules, around real DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.domain.rotation import (
    Cadence,
    Rotation,
    RotationKind,
    Shift,
    boundaries_between,
    next_boundary,
    shift_at,
    shifts_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")
APIA = ZoneInfo("Pacific/Apia")
MEMBERS = ("ana", "ben", "cleo")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def daily(at: time) -> Cadence:
    return Cadence(RotationKind.DAILY, at)


def rotation(cadence: Cadence, zone: ZoneInfo, anchor: datetime) -> Rotation[str]:
    return Rotation(cadence=cadence, zone=zone, anchor=anchor, members=MEMBERS)


def spans(shifts: list[Shift[str]]) -> list[tuple[datetime, datetime]]:
    return [(s.start, s.end) for s in shifts]


def lengths(shifts: list[Shift[str]]) -> list[timedelta]:
    return [s.end - s.start for s in shifts]


# --- the fold=0 reading of skipped and repeated local times -------------------------------------


def test_zoneinfo_fold0_reads_skipped_time_with_the_offset_before_the_gap() -> None:
    # The rotation relies on this; if zoneinfo ever changed it, every DST example would drift.
    skipped = datetime(2026, 3, 29, 2, 30, tzinfo=BERLIN)
    assert skipped.astimezone(UTC) == utc(2026, 3, 29, 1, 30)
    assert skipped.astimezone(UTC).astimezone(BERLIN).hour == 3  # 03:30 CEST


def test_zoneinfo_fold0_reads_repeated_time_as_first_occurrence() -> None:
    repeated = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    assert repeated.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert repeated.utcoffset() == 2 * HOUR


# --- daily ----------------------------------------------------------------------------------------


def test_daily_berlin_spring_forward_shift_is_23_hours() -> None:
    rot = rotation(daily(time(9)), BERLIN, utc(2026, 3, 1, 8))
    shifts = shifts_between(rot, utc(2026, 3, 28, 8), utc(2026, 3, 30, 7))
    assert spans(shifts) == [
        (utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),  # 09:00 CET -> 09:00 CEST
        (utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)),
    ]
    assert lengths(shifts) == [23 * HOUR, 24 * HOUR]
    assert [s.index for s in shifts] == [27, 28]
    assert [s.member for s in shifts] == [MEMBERS[0], MEMBERS[1]]


def test_daily_berlin_fall_back_shift_is_25_hours() -> None:
    rot = rotation(daily(time(9)), BERLIN, utc(2026, 10, 1, 7))
    shifts = shifts_between(rot, utc(2026, 10, 24, 7), utc(2026, 10, 26, 8))
    assert spans(shifts) == [
        (utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),  # 09:00 CEST -> 09:00 CET
        (utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)),
    ]
    assert lengths(shifts) == [25 * HOUR, 24 * HOUR]


def test_daily_handoff_at_skipped_local_time_reads_pre_gap_offset() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: fold=0 reads it at +01:00, i.e. 03:30 CEST.
    rot = rotation(daily(time(2, 30)), BERLIN, utc(2026, 3, 1, 1, 30))
    shifts = shifts_between(rot, utc(2026, 3, 28, 1, 30), utc(2026, 3, 31, 0, 30))
    assert spans(shifts) == [
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30)),
        (utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)),
        (utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)),
    ]
    assert lengths(shifts) == [24 * HOUR, 23 * HOUR, 24 * HOUR]
    assert shifts[1].start.astimezone(BERLIN).time() == time(3, 30)


def test_daily_handoff_at_repeated_local_time_uses_first_occurrence() -> None:
    rot = rotation(daily(time(2, 30)), BERLIN, utc(2026, 10, 1, 0, 30))
    shifts = shifts_between(rot, utc(2026, 10, 24, 0, 30), utc(2026, 10, 26, 1, 30))
    assert spans(shifts) == [
        (utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30)),  # first 02:30, still CEST
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)),
    ]
    assert lengths(shifts) == [24 * HOUR, 25 * HOUR]


def test_daily_new_york_23_and_25_hour_days() -> None:
    rot = rotation(daily(time(9)), NEW_YORK, utc(2026, 1, 1, 14))
    spring = shifts_between(rot, utc(2026, 3, 7, 14), utc(2026, 3, 8, 13))
    assert spans(spring) == [(utc(2026, 3, 7, 14), utc(2026, 3, 8, 13))]
    fall = shifts_between(rot, utc(2026, 10, 31, 13), utc(2026, 11, 1, 14))
    assert spans(fall) == [(utc(2026, 10, 31, 13), utc(2026, 11, 1, 14))]


def test_new_york_skipped_handoff_lands_at_0330_edt() -> None:
    rot = rotation(daily(time(2, 30)), NEW_YORK, utc(2026, 3, 1, 7, 30))
    shift = shift_at(rot, utc(2026, 3, 8, 12))
    assert shift is not None
    assert shift.start == utc(2026, 3, 8, 7, 30)  # 02:30 read at -05:00 == 03:30 EDT
    assert shift.end == utc(2026, 3, 9, 6, 30)


def test_daily_lord_howe_half_hour_dst() -> None:
    rot = rotation(daily(time(9)), LORD_HOWE, utc(2026, 1, 1))
    april = shifts_between(rot, utc(2026, 4, 3, 22), utc(2026, 4, 5, 22, 30))
    assert spans(april) == [
        (utc(2026, 4, 3, 22), utc(2026, 4, 4, 22, 30)),  # +11:00 -> +10:30
        (utc(2026, 4, 4, 22, 30), utc(2026, 4, 5, 22, 30)),
    ]
    assert lengths(april) == [timedelta(hours=24, minutes=30), 24 * HOUR]
    october = shifts_between(rot, utc(2026, 10, 2, 22, 30), utc(2026, 10, 3, 22))
    assert lengths(october) == [timedelta(hours=23, minutes=30)]


def test_lord_howe_skipped_handoff_half_hour_gap() -> None:
    # 02:00-02:30 is skipped on 2026-10-04; 02:15 is read at +10:30, which is 02:45 new time.
    rot = rotation(daily(time(2, 15)), LORD_HOWE, utc(2026, 9, 1))
    shifts = shifts_between(rot, utc(2026, 10, 2, 15, 45), utc(2026, 10, 4, 15, 15))
    assert spans(shifts) == [
        (utc(2026, 10, 2, 15, 45), utc(2026, 10, 3, 15, 45)),
        (utc(2026, 10, 3, 15, 45), utc(2026, 10, 4, 15, 15)),
    ]
    assert shifts[1].start.astimezone(LORD_HOWE).time() == time(2, 45)


def test_daily_kolkata_has_no_dst() -> None:
    rot = rotation(daily(time(9)), KOLKATA, utc(2026, 1, 1, 3, 30))
    shifts = shifts_between(rot, utc(2026, 1, 1), utc(2027, 1, 1))
    assert len(shifts) == 365  # from the anchor; the last one is clipped at the window end
    assert all(s.start.time() == time(3, 30) for s in shifts)
    assert set(lengths(shifts[:-1])) == {DAY}


def test_a_year_of_daily_shifts_far_from_the_anchor_is_cheap_and_exact() -> None:
    rot = rotation(daily(time(9)), BERLIN, utc(2000, 1, 1))
    shifts = shifts_between(rot, utc(2040, 1, 1), utc(2041, 1, 1))
    first = shifts[0]
    # The anchor (01:00 CET) is before that day's 09:00 handoff, so shift 0 is the cell that
    # began on 1999-12-31; the window opens inside the cell that began on 2039-12-31.
    days = (date(2039, 12, 31) - date(1999, 12, 31)).days
    assert first.index == days
    assert first.member == MEMBERS[days % 3]
    assert len(shifts) == 367


# --- weekly ---------------------------------------------------------------------------------------


def test_weekly_hands_off_on_the_weekday_and_anchor_cell_is_short() -> None:
    monday = 0
    cadence = Cadence(RotationKind.WEEKLY, time(9), handoff_weekday=monday)
    anchor = utc(2026, 3, 25, 11)  # Wednesday 12:00 CET
    rot = rotation(cadence, BERLIN, anchor)
    shifts = shifts_between(rot, utc(2026, 3, 1), utc(2026, 4, 13, 7))
    assert spans(shifts) == [
        (anchor, utc(2026, 3, 30, 7)),  # Monday 09:00 CEST, after spring forward
        (utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)),
        (utc(2026, 4, 6, 7), utc(2026, 4, 13, 7)),
    ]
    assert [(s.index, s.member) for s in shifts] == [(0, "ana"), (1, "ben"), (2, "cleo")]
    assert lengths(shifts)[0] == timedelta(days=4, hours=20)
    assert all(s.start.astimezone(BERLIN).weekday() == monday for s in shifts[1:])


def test_weekly_across_fall_back_is_a_week_and_an_hour() -> None:
    cadence = Cadence(RotationKind.WEEKLY, time(9), handoff_weekday=0)
    rot = rotation(cadence, BERLIN, utc(2026, 10, 5, 7))
    shift = shift_at(rot, utc(2026, 10, 22))
    assert shift is not None
    assert (shift.start, shift.end) == (utc(2026, 10, 19, 7), utc(2026, 10, 26, 8))
    assert shift.index == 2


# --- custom ---------------------------------------------------------------------------------------


def test_custom_12_hours_across_both_berlin_changes() -> None:
    cadence = Cadence(RotationKind.CUSTOM, time(8), shift_hours=12)
    rot = rotation(cadence, BERLIN, utc(2026, 3, 1, 7))
    spring = shifts_between(rot, utc(2026, 3, 28, 19), utc(2026, 3, 29, 18))
    assert spans(spring) == [
        (utc(2026, 3, 28, 19), utc(2026, 3, 29, 6)),  # 20:00 CET -> 08:00 CEST
        (utc(2026, 3, 29, 6), utc(2026, 3, 29, 18)),
    ]
    assert lengths(spring) == [11 * HOUR, 12 * HOUR]
    fall = shifts_between(rot, utc(2026, 10, 24, 18), utc(2026, 10, 25, 7))
    assert lengths(fall) == [13 * HOUR]
    assert fall[0].start.astimezone(BERLIN).time() == time(20)


def test_custom_3_days_phase_follows_the_anchor() -> None:
    cadence = Cadence(RotationKind.CUSTOM, time(9), shift_days=3)
    anchor = utc(2026, 3, 27, 9)  # Friday 10:00 CET, after that day's handoff
    rot = rotation(cadence, BERLIN, anchor)
    shifts = shifts_between(rot, anchor, utc(2026, 4, 5, 7))
    assert spans(shifts) == [
        (anchor, utc(2026, 3, 30, 7)),  # base 27th 09:00 + 3 days, now CEST
        (utc(2026, 3, 30, 7), utc(2026, 4, 2, 7)),
        (utc(2026, 4, 2, 7), utc(2026, 4, 5, 7)),
    ]
    assert [s.member for s in shifts] == list(MEMBERS)


def test_custom_3_days_anchor_before_the_handoff_counts_from_the_day_before() -> None:
    cadence = Cadence(RotationKind.CUSTOM, time(9), shift_days=3)
    anchor = utc(2026, 3, 27, 5)  # 06:00 CET, before the 09:00 handoff
    rot = rotation(cadence, BERLIN, anchor)
    assert next_boundary(rot, anchor) == utc(2026, 3, 29, 7)  # 26th 09:00 + 3 days, CEST


def test_custom_hourly_drops_the_cell_of_a_skipped_hour() -> None:
    # Local 02:00 on 2026-03-29 does not exist; fold=0 puts it at 01:00 UTC, the same instant
    # as local 03:00. That cell would be empty, so it is dropped and its member skipped.
    cadence = Cadence(RotationKind.CUSTOM, time(0), shift_hours=1)
    anchor = utc(2026, 3, 28, 23)  # local midnight
    rot = rotation(cadence, BERLIN, anchor)
    shifts = shifts_between(rot, anchor, utc(2026, 3, 29, 3))
    assert [(s.index, s.member, s.start, s.end) for s in shifts] == [
        (0, "ana", utc(2026, 3, 28, 23), utc(2026, 3, 29, 0)),
        (1, "ben", utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        (3, "ana", utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),  # index 2 (cleo, 02:00) is dropped
        (4, "ben", utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)),
    ]
    assert boundaries_between(rot, anchor, utc(2026, 3, 29, 3)) == [
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
        utc(2026, 3, 29, 3),
    ]


def test_custom_hourly_repeated_hour_is_one_two_hour_cell() -> None:
    # On 2026-10-25 Berlin lives 02:00-03:00 twice. fold=0 puts local 02:00 at its first
    # occurrence and local 03:00 after both, so the 02:00 cell lasts two real hours.
    cadence = Cadence(RotationKind.CUSTOM, time(0), shift_hours=1)
    rot = rotation(cadence, BERLIN, utc(2026, 10, 24, 22))
    shift = shift_at(rot, utc(2026, 10, 25, 1, 30))
    assert shift is not None
    assert (shift.start, shift.end) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 2))
    assert shift.index == 2


def test_a_skipped_day_drops_one_daily_cell() -> None:
    # Samoa skipped 2011-12-30 entirely; the grid point for that day maps to the same
    # instant as the next day's, so its cell is empty and is dropped.
    rot = rotation(daily(time(9)), APIA, utc(2011, 12, 20))
    shifts = shifts_between(rot, utc(2011, 12, 29, 19), utc(2011, 12, 31, 19))
    assert [(s.index, s.start, s.end) for s in shifts] == [
        (10, utc(2011, 12, 29, 19), utc(2011, 12, 30, 19)),
        (12, utc(2011, 12, 30, 19), utc(2011, 12, 31, 19)),
    ]


def test_skipped_day_hourly_grid_never_runs_backwards() -> None:
    # Every hour of the skipped day maps after local midnight of the next day, so all of them
    # are dropped rather than letting a boundary run backwards in time.
    cadence = Cadence(RotationKind.CUSTOM, time(0), shift_hours=1)
    rot = rotation(cadence, APIA, utc(2011, 12, 20))
    shifts = shifts_between(rot, utc(2011, 12, 30, 8), utc(2011, 12, 30, 12))
    assert [s.start for s in shifts] == [utc(2011, 12, 30, h) for h in (8, 9, 10, 11)]
    assert [s.index - shifts[0].index for s in shifts] == [0, 1, 26, 27]


# --- the anchor -----------------------------------------------------------------------------------


def test_anchor_mid_cell_first_shift_is_shorter_and_nothing_exists_before() -> None:
    anchor = utc(2026, 5, 4, 13, 17)  # 15:17 CEST
    rot = rotation(daily(time(9)), BERLIN, anchor)
    shifts = shifts_between(rot, utc(2026, 5, 1), utc(2026, 5, 6, 7))
    assert spans(shifts) == [
        (anchor, utc(2026, 5, 5, 7)),
        (utc(2026, 5, 5, 7), utc(2026, 5, 6, 7)),
    ]
    assert [s.index for s in shifts] == [0, 1]
    assert shifts_between(rot, utc(2026, 5, 1), anchor) == []
    assert shift_at(rot, anchor - timedelta(microseconds=1)) is None
    assert shift_at(rot, anchor) == shifts[0]
    assert next_boundary(rot, utc(2026, 5, 1)) == anchor
    assert next_boundary(rot, anchor) == utc(2026, 5, 5, 7)
    assert boundaries_between(rot, utc(2026, 5, 1), utc(2026, 5, 5, 7)) == [anchor, utc(2026, 5, 5, 7)]
    assert boundaries_between(rot, anchor, utc(2026, 5, 5, 7)) == [utc(2026, 5, 5, 7)]


def test_anchor_exactly_on_a_handoff() -> None:
    anchor = utc(2026, 5, 4, 7)
    rot = rotation(daily(time(9)), BERLIN, anchor)
    assert shift_at(rot, anchor) == Shift(0, "ana", anchor, utc(2026, 5, 5, 7))


def test_anchor_is_normalised_to_utc() -> None:
    local_anchor = datetime(2026, 5, 4, 15, 0, tzinfo=BERLIN)
    rot = rotation(daily(time(9)), BERLIN, local_anchor)
    assert rot.anchor == utc(2026, 5, 4, 13)
    assert rot.anchor.tzinfo is UTC


# --- GoAlert-style walk ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "zone", "day"),
    [
        (daily(time(2, 30)), BERLIN, utc(2026, 3, 29)),
        (daily(time(2, 30)), BERLIN, utc(2026, 10, 25)),
        (Cadence(RotationKind.CUSTOM, time(0, 30), shift_hours=1), BERLIN, utc(2026, 3, 29)),
        (Cadence(RotationKind.CUSTOM, time(0), shift_hours=1), NEW_YORK, utc(2026, 11, 1, 4)),
        (Cadence(RotationKind.CUSTOM, time(1, 45), shift_hours=3), LORD_HOWE, utc(2026, 4, 4, 12)),
    ],
    ids=["berlin-spring-daily", "berlin-fall-daily", "berlin-spring-hourly", "ny-fall-hourly", "lhi-3h"],
)
def test_walk_every_30_seconds_across_a_dst_day(cadence: Cadence, zone: ZoneInfo, day: datetime) -> None:
    rot = rotation(cadence, zone, day - timedelta(days=10, minutes=7))
    reference = shifts_between(rot, day - 2 * DAY, day + 3 * DAY)
    step = timedelta(seconds=30)
    previous: Shift[str] | None = None
    t = day
    while t < day + DAY:
        current = shift_at(rot, t)
        assert current is not None
        assert current.start <= t < current.end
        assert current in reference  # same index, member and bounds as the window computation
        if previous is not None and current != previous:
            assert current.index > previous.index
            assert previous.end == current.start
            assert boundaries_between(rot, t - step, t) == [current.start]
            assert next_boundary(rot, t - step) == current.start
        elif previous is not None:
            assert boundaries_between(rot, t - step, t) == []
        previous = current
        t += step


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": RotationKind.WEEKLY, "handoff_time": time(9)}, "handoff_weekday"),
        ({"kind": RotationKind.WEEKLY, "handoff_time": time(9), "handoff_weekday": 7}, "handoff_weekday"),
        ({"kind": RotationKind.DAILY, "handoff_time": time(9), "handoff_weekday": 1}, "handoff_weekday"),
        ({"kind": RotationKind.DAILY, "handoff_time": time(9), "shift_hours": 4}, "shift_hours"),
        ({"kind": RotationKind.CUSTOM, "handoff_time": time(9)}, "shift_hours"),
        (
            {"kind": RotationKind.CUSTOM, "handoff_time": time(9), "shift_hours": 2, "shift_days": 1},
            "shift_days",
        ),
        ({"kind": RotationKind.CUSTOM, "handoff_time": time(9), "shift_hours": 0}, "shift_hours"),
        ({"kind": RotationKind.CUSTOM, "handoff_time": time(9), "shift_days": -1}, "shift_days"),
        ({"kind": RotationKind.DAILY, "handoff_time": time(9, 0, 30)}, "handoff_time"),
        ({"kind": RotationKind.DAILY, "handoff_time": time(9, tzinfo=UTC)}, "handoff_time"),
        ({"kind": "hourly", "handoff_time": time(9)}, "kind"),
    ],
)
def test_cadence_rejects_bad_fields(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Cadence(**kwargs)  # type: ignore[arg-type]


def test_cadence_accepts_kind_as_text() -> None:
    assert Cadence("weekly", time(9), handoff_weekday=6).kind is RotationKind.WEEKLY  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="anchor"):
        rotation(daily(time(9)), BERLIN, naive)
    rot = rotation(daily(time(9)), BERLIN, utc(2026, 1, 1))
    with pytest.raises(ValueError, match="start"):
        shifts_between(rot, naive, utc(2026, 2, 1))
    with pytest.raises(ValueError, match="instant"):
        shift_at(rot, naive)
    with pytest.raises(ValueError, match="after"):
        next_boundary(rot, naive)
    with pytest.raises(ValueError, match="end"):
        boundaries_between(rot, utc(2026, 1, 1), naive)


def test_rotation_needs_members_and_an_ordered_window() -> None:
    with pytest.raises(ValueError, match="members"):
        Rotation(daily(time(9)), BERLIN, utc(2026, 1, 1), ())
    rot = rotation(daily(time(9)), BERLIN, utc(2026, 1, 1))
    with pytest.raises(ValueError, match="before start"):
        shifts_between(rot, utc(2026, 2, 1), utc(2026, 1, 1))
    assert shifts_between(rot, utc(2026, 2, 1), utc(2026, 2, 1)) == []
