"""Shifts and the timeline on plain values: slots joined into shifts (app/domain/shifts.py join_shifts,
Shift.uid/sequence), bars and gaps over a window (lay_out, Bar.geometry), and the window itself and its
day ticks across a DST change (app/services/shifts.py timeline_window, ticks)."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.shifts import Bar, Lane, Shift, SlotPiece, join_shifts, lay_out
from app.services.shifts import TIMELINE_WEEKS, clamp_weeks, ticks, timeline_window

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
SCHEDULE = uuid.UUID(int=1)
OTHER_SCHEDULE = uuid.UUID(int=2)
ANN = uuid.UUID(int=10)
BEN = uuid.UUID(int=11)
TIMELINE_CSS = Path(__file__).resolve().parents[2] / "static" / "timeline.css"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def piece(
    user: uuid.UUID,
    start: float,
    end: float,
    *,
    override: bool = False,
    changed: float = 0,
    schedule: uuid.UUID = SCHEDULE,
) -> SlotPiece:
    return SlotPiece(uuid.uuid4(), schedule, user, at(start), at(end), override, at(changed))


def shift(
    user: uuid.UUID,
    start: float,
    end: float,
    *,
    override: bool = False,
    changed: float = 0,
    schedule: uuid.UUID = SCHEDULE,
) -> Shift:
    return Shift(schedule, user, at(start), at(end), override, uuid.uuid4(), at(changed))


def spans(shifts: list[Shift]) -> list[tuple[uuid.UUID, datetime, datetime]]:
    return [(s.user_id, s.start, s.end) for s in shifts]


# ---------------------------------------------------------------- join_shifts


def test_adjacent_slots_of_one_person_join_into_one_shift() -> None:
    first, second, third = piece(ANN, 0, 24), piece(ANN, 24, 48), piece(ANN, 48, 72)
    # Given in any order: they are joined by start.
    assert spans(join_shifts([third, first, second])) == [(ANN, at(0), at(72))]


def test_another_person_breaks_a_shift() -> None:
    joined = join_shifts([piece(ANN, 0, 24), piece(BEN, 24, 48), piece(ANN, 48, 72)])
    assert spans(joined) == [(ANN, at(0), at(24)), (BEN, at(24), at(48)), (ANN, at(48), at(72))]


def test_a_gap_breaks_a_shift_of_the_same_person() -> None:
    joined = join_shifts([piece(ANN, 0, 24), piece(ANN, 25, 48)])
    assert spans(joined) == [(ANN, at(0), at(24)), (ANN, at(25), at(48))]


def test_slots_of_different_schedules_never_join() -> None:
    joined = join_shifts([piece(ANN, 0, 24), piece(ANN, 24, 48, schedule=OTHER_SCHEDULE)])
    assert [(s.schedule_id, s.start, s.end) for s in joined] == [
        (SCHEDULE, at(0), at(24)),
        (OTHER_SCHEDULE, at(24), at(48)),
    ]


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_shift_is_an_override_when_any_part_of_it_is(which: int) -> None:
    pieces = [piece(ANN, 24 * i, 24 * (i + 1), override=i == which) for i in range(3)]
    (joined,) = join_shifts(pieces)
    assert joined.is_override


def test_a_shift_of_rotation_slots_only_is_no_override() -> None:
    (joined,) = join_shifts([piece(ANN, 0, 24), piece(ANN, 24, 48)])
    assert not joined.is_override


def test_last_modified_is_the_newest_change_of_any_part_and_first_slot_is_the_earliest() -> None:
    first, middle, last = piece(ANN, 0, 24, changed=5), piece(ANN, 24, 48, changed=30), piece(ANN, 48, 72, changed=7)
    (joined,) = join_shifts([last, middle, first])
    assert joined.last_modified == at(30)
    assert joined.first_slot_id == first.id


def test_the_uid_stays_when_only_the_end_moves() -> None:
    whole = shift(ANN, 0, 72, changed=0)
    cut = shift(ANN, 0, 30, changed=10)  # an override took the rest
    assert whole.uid == cut.uid
    assert cut.uid.endswith("@vigilo")


def test_the_uid_changes_with_the_start_the_person_or_the_schedule() -> None:
    base = shift(ANN, 0, 72)
    assert shift(ANN, 1, 72).uid != base.uid
    assert shift(BEN, 0, 72).uid != base.uid
    assert shift(ANN, 0, 72, schedule=OTHER_SCHEDULE).uid != base.uid


def test_the_uid_names_the_instant_not_the_zone_it_is_written_in() -> None:
    utc = shift(ANN, 0, 24)
    local = Shift(
        utc.schedule_id, utc.user_id, utc.start.astimezone(BERLIN), utc.end, False, uuid.uuid4(), utc.last_modified
    )
    assert local.uid == utc.uid


def test_an_override_splitting_a_shift_keeps_the_first_uid_and_adds_a_new_one() -> None:
    before = join_shifts([piece(ANN, 0, 24), piece(ANN, 24, 48)])
    after = join_shifts(
        [piece(ANN, 0, 10, changed=5), piece(BEN, 10, 14, override=True), piece(ANN, 14, 48, changed=5)]
    )
    assert after[0].uid == before[0].uid
    assert after[0].sequence > before[0].sequence
    assert after[2].uid not in {s.uid for s in before}


def test_the_sequence_grows_with_last_modified() -> None:
    sequences = [shift(ANN, 0, 24, changed=hours).sequence for hours in (0, 0.001, 1, 24, 24 * 400)]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(sequences)
    assert min(sequences) >= 0


# ---------------------------------------------------------------- lay_out


def test_bars_are_clipped_to_the_window_with_gaps_before_between_and_after() -> None:
    start, end = at(0), at(100)
    shifts = [
        shift(BEN, 60, 90, override=True),  # given out of order
        shift(ANN, 10, 30),
        shift(BEN, 30, 50),
        shift(ANN, -500, -1),  # outside: not shown
        shift(ANN, 100, 120),  # starts at the window's end: not shown
    ]
    lane = lay_out(shifts, start, end, at(-5))
    got = [(b.user_id, b.left, b.width, b.is_override) for b in lane.bars]
    assert got == [
        (None, 0.0, 10.0, False),
        (ANN, 10.0, 20.0, False),
        (BEN, 30.0, 20.0, False),  # adjacent to the last: no gap between
        (None, 50.0, 10.0, False),
        (BEN, 60.0, 30.0, True),
        (None, 90.0, 10.0, False),
    ]
    gaps = [b for b in lane.bars if b.is_gap]
    assert [(g.start, g.end) for g in gaps] == [(at(0), at(10)), (at(50), at(60)), (at(90), at(100))]
    assert lane.now_at is None


def test_a_bar_keeps_the_times_held_while_its_visible_part_is_clipped() -> None:
    lane = lay_out([shift(ANN, -30, 20), shift(BEN, 20, 130)], at(0), at(100), at(50))
    first, second = lane.bars
    assert (first.start, first.end, first.left, first.width) == (at(-30), at(20), 0.0, 20.0)
    assert (second.start, second.end, second.left, second.width) == (at(20), at(130), 20.0, 80.0)
    assert not any(b.is_gap for b in lane.bars)
    assert lane.now_at == 50.0


def test_no_gaps_when_asked_for_none() -> None:
    lane = lay_out([shift(ANN, 10, 30), shift(BEN, 60, 90)], at(0), at(100), at(0), with_gaps=False)
    assert [(b.user_id, b.left, b.width) for b in lane.bars] == [(ANN, 10.0, 20.0), (BEN, 60.0, 30.0)]


def test_an_empty_lane_is_one_gap() -> None:
    lane = lay_out([], at(0), at(100), at(25))
    assert [(b.is_gap, b.left, b.width) for b in lane.bars] == [(True, 0.0, 100.0)]
    assert lane.now_at == 25.0
    assert lay_out([], at(0), at(100), at(25), with_gaps=False).bars == ()


@pytest.mark.parametrize(("now", "expected"), [(-0.001, None), (0, 0.0), (99.999, 99.999), (100, None), (500, None)])
def test_the_now_line_is_only_inside_the_window(now: float, expected: float | None) -> None:
    lane = lay_out([shift(ANN, 0, 100)], at(0), at(100), at(now))
    assert lane.now_at == expected


def test_the_now_line_geometry() -> None:
    assert Lane((), 12.34).now_geometry == "tl-l123"
    assert Lane((), 99.99).now_geometry == "tl-l1000"
    assert Lane((), 0.0).now_geometry == "tl-l0"


# ---------------------------------------------------------------- Bar.geometry


def _geometry(bar: Bar) -> tuple[int, int]:
    found = re.fullmatch(r"tl-l(\d+) tl-w(\d+)", bar.geometry)
    assert found, bar.geometry
    return int(found.group(1)), int(found.group(2))


def _bar(left: float, width: float) -> Bar:
    return Bar(at(0), at(1), left, width, ANN)


@pytest.mark.parametrize(
    ("left", "width", "expected"),
    [
        (0.0, 100.0, (0, 1000)),
        (12.34, 20.0, (123, 200)),
        (50.0, 0.0001, (500, 1)),  # a sliver is still one step wide
        (99.99, 0.01, (999, 1)),  # at the right edge: still inside
        (100.0, 0.0, (999, 1)),
        (0.0, 0.0, (0, 1)),
    ],
)
def test_geometry_examples(left: float, width: float, expected: tuple[int, int]) -> None:
    assert _geometry(_bar(left, width)) == expected


@given(
    left=st.floats(min_value=0, max_value=100, allow_nan=False),
    width=st.floats(min_value=0, max_value=100, allow_nan=False),
)
def test_geometry_stays_within_the_lane_and_is_at_least_one_step(left: float, width: float) -> None:
    width = min(width, 100 - left)
    step_left, step_width = _geometry(_bar(left, width))
    assert 0 <= step_left <= 999
    assert step_width >= 1
    assert step_left + step_width <= 1000


@given(cuts=st.lists(st.floats(min_value=0.5, max_value=99.5, allow_nan=False), min_size=1, max_size=12, unique=True))
def test_adjacent_bars_meet_where_one_ends_and_the_next_begins(cuts: list[float]) -> None:
    """The right edge of each bar is the left edge of the next (no slivers or overlaps from rounding),
    wherever the bars are at least a step wide."""
    hours = [0.0, *sorted(cuts), 100.0]
    people = [ANN, BEN]
    shifts = [shift(people[i % 2], lo, hi) for i, (lo, hi) in enumerate(itertools.pairwise(hours))]
    lane = lay_out(shifts, at(0), at(100), at(0))
    assert not any(b.is_gap for b in lane.bars)
    edges = [_geometry(b) for b in lane.bars]
    assert edges[0][0] == 0
    for bar, (left, width), (next_left, _) in zip(lane.bars, edges, edges[1:], strict=False):
        if bar.width >= 0.1:  # a sliver is widened to one step and may cover the next bar's first step
            assert left + width == next_left, (bar, edges)
    last_left, last_width = edges[-1]
    assert last_left + last_width == 1000


def test_every_class_the_geometry_can_name_is_in_the_stylesheet() -> None:
    rules = dict(re.findall(r"\.(tl-[lw]\d+)\{([^}]*)\}", TIMELINE_CSS.read_text()))
    for n in range(1001):
        assert rules.get(f"tl-l{n}", "").replace(" ", "") == f"left:{_percent(n)}%", n
    for n in range(1, 1001):
        assert rules.get(f"tl-w{n}", "").replace(" ", "") == f"width:{_percent(n)}%", n


def _percent(tenths: int) -> str:
    whole, rest = divmod(tenths, 10)
    return f"{whole}" if rest == 0 else f"{whole}.{rest}"


# ---------------------------------------------------------------- the window and its ticks


def test_a_week_from_the_day_summer_time_ends_in_berlin_is_169_hours() -> None:
    now = datetime(2026, 10, 25, 10, 0, tzinfo=UTC)
    start, end = timeline_window(now, BERLIN, 1)
    assert start == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # midnight, summer time (+02:00)
    assert end == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # midnight, winter time (+01:00)
    assert end - start == timedelta(hours=169)
    assert start.astimezone(BERLIN).hour == 0 and end.astimezone(BERLIN).hour == 0


def test_a_week_from_the_day_summer_time_begins_in_berlin_is_167_hours() -> None:
    start, end = timeline_window(datetime(2026, 3, 29, 12, 0, tzinfo=UTC), BERLIN, 1)
    assert (start, end - start) == (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), timedelta(hours=167))


@pytest.mark.parametrize(
    ("now", "first_day"),
    [
        (datetime(2026, 10, 24, 21, 59, tzinfo=UTC), 24),  # 23:59 on the 24th in Berlin
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), 25),  # 00:00 on the 25th
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), 25),  # 23:59 on the 25th (now +01:00)
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), 26),
    ],
)
def test_the_window_starts_at_the_start_of_today_in_the_zone_shown(now: datetime, first_day: int) -> None:
    start, _ = timeline_window(now, BERLIN, 1)
    local = start.astimezone(BERLIN)
    assert (local.day, local.hour, local.minute) == (first_day, 0, 0)
    assert start <= now < start + timedelta(hours=25)


def test_the_zone_decides_the_day() -> None:
    now = datetime(2026, 10, 25, 3, 0, tzinfo=UTC)  # the 25th in Berlin, still the 24th in New York
    assert timeline_window(now, ZoneInfo("America/New_York"), 1)[0] == datetime(2026, 10, 24, 4, 0, tzinfo=UTC)
    assert timeline_window(now, BERLIN, 1)[0] == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize("weeks", TIMELINE_WEEKS)
def test_one_tick_per_local_midnight_across_the_change(weeks: int) -> None:
    start, end = timeline_window(datetime(2026, 10, 25, 10, 0, tzinfo=UTC), BERLIN, weeks)
    found = ticks(start, end, BERLIN)
    assert len(found) == 7 * weeks
    span = (end - start).total_seconds()
    days = [start.astimezone(BERLIN).date() + timedelta(days=i) for i in range(7 * weeks)]
    # Every day over one week; every other day over two and every fourth over four (room for the text).
    assert [t.label for t in found] == [d.strftime("%a %d") if i % weeks == 0 else "" for i, d in enumerate(days)]
    assert found[0].label == "Sun 25" and found[0].left == 0.0
    for tick, day in zip(found, days, strict=True):
        instant = start + timedelta(seconds=span * tick.left / 100)
        midnight = datetime(day.year, day.month, day.day, tzinfo=BERLIN).astimezone(UTC)
        assert abs((instant - midnight).total_seconds()) <= span * 1e-6, (tick, day)  # left is rounded to 1e-4 %
    # The 25-hour day is wider than the others.
    assert found[1].left - found[0].left > found[2].left - found[1].left
    assert [t.left for t in found] == sorted(t.left for t in found)
    assert all(0 <= t.left < 100 for t in found)


@pytest.mark.parametrize(("raw", "weeks"), [(1, 1), (2, 2), (4, 4), (None, 1), (0, 1), (3, 1), (-2, 1), (52, 1)])
def test_the_span_is_one_two_or_four_weeks(raw: int | None, weeks: int) -> None:
    assert clamp_weeks(raw) == weeks
