"""Properties every rotation must keep, in zones with odd offsets and DST rules, DST days included."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

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

ZONE_NAMES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "UTC",
    "Europe/London",
)
FIRST_DAY = date(2015, 1, 1)  # Sao Paulo still had DST then
LAST_DAY = date(2030, 12, 31)
MINUTE = timedelta(minutes=1)


@cache
def transition_days(zone_name: str) -> tuple[datetime, ...]:
    """UTC midnights of days on which the zone's offset changes, to aim examples at DST."""
    zone = ZoneInfo(zone_name)
    days: list[datetime] = []
    midnight = datetime.combine(FIRST_DAY, time(), tzinfo=UTC)
    previous = midnight.astimezone(zone).utcoffset()
    while midnight.date() <= LAST_DAY:
        midnight += timedelta(days=1)
        offset = midnight.astimezone(zone).utcoffset()
        if offset != previous:
            days.append(midnight - timedelta(days=1))
        previous = offset
    return tuple(days) or (datetime.combine(FIRST_DAY, time(), tzinfo=UTC),)


handoff_times = st.one_of(
    st.sampled_from([time(0), time(1), time(2), time(2, 30), time(2, 45), time(3), time(9)]),
    st.builds(time, st.integers(0, 23), st.integers(0, 59)),
)
# One-hour shifts are the ones a skipped hour can empty, so they come up often.
hourly_lengths = st.one_of(st.just(1), st.integers(1, 72))
cadences = st.one_of(
    st.builds(Cadence, st.just(RotationKind.DAILY), handoff_times),
    st.builds(Cadence, st.just(RotationKind.WEEKLY), handoff_times, handoff_weekday=st.integers(0, 6)),
    st.builds(Cadence, st.just(RotationKind.CUSTOM), handoff_times, shift_hours=hourly_lengths),
    st.builds(Cadence, st.just(RotationKind.CUSTOM), handoff_times, shift_days=st.integers(1, 10)),
)
member_lists = st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=5).map(tuple)


def spans(min_days: int, max_days: int) -> st.SearchStrategy[timedelta]:
    return st.builds(
        lambda days, minutes: timedelta(days=days, minutes=minutes),
        st.integers(min_days, max_days),
        st.integers(0, 24 * 60 - 1),
    )


@st.composite
def instants_near(draw: st.DrawFn, zone_name: str) -> datetime:
    """An instant either anywhere in the years covered, or within a few days of a DST change."""
    if draw(st.booleans()):
        day = draw(st.sampled_from(transition_days(zone_name)))
        return day - draw(spans(-1, 3))
    start = datetime.combine(FIRST_DAY, time(), tzinfo=UTC)
    span = (LAST_DAY - FIRST_DAY).days * 24 * 60
    return start + draw(st.integers(0, span)) * MINUTE


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Rotation[str], datetime, datetime]:
    """A rotation and a window [start, end) near it, short enough to keep hourly rotations quick."""
    zone_name = draw(st.sampled_from(ZONE_NAMES))
    start = draw(instants_near(zone_name))
    # Mostly before the window, sometimes inside it, so the clipped first shift gets tested too.
    # Days and minutes are drawn apart because Hypothesis favours small integers.
    anchor = start - draw(spans(-2, 60))
    if draw(st.booleans()):
        anchor = anchor.replace(second=draw(st.integers(0, 59)))
    end = start + draw(st.one_of(st.sampled_from([timedelta(days=1), timedelta(days=8)]), spans(0, 12)))
    rotation = Rotation(draw(cadences), ZoneInfo(zone_name), anchor, draw(member_lists))
    return rotation, start, end


def fold0(naive: datetime, zone: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def grid_reference(rotation: Rotation[str]) -> datetime:
    """A naive local grid point, from the design doc's rules rather than the implementation."""
    cadence, zone = rotation.cadence, rotation.zone
    anchor_day = rotation.anchor.astimezone(zone).date()
    reference = datetime.combine(anchor_day, cadence.handoff_time)
    if cadence.kind is RotationKind.WEEKLY:
        assert cadence.handoff_weekday is not None
        reference -= timedelta(days=(anchor_day.weekday() - cadence.handoff_weekday) % 7)
    if cadence.shift_days is not None and fold0(reference, zone) > rotation.anchor:
        reference -= timedelta(days=1)
    return reference


def grid_cells_for(rotation: Rotation[str], boundary: datetime) -> set[int]:
    """Grid cell numbers m (relative to grid_reference) whose fold=0 instant is ``boundary``."""
    zone, step = rotation.zone, rotation.cadence.step
    reference = grid_reference(rotation)
    # A boundary is a grid point read with its own offset, or (if skipped) with the offset
    # in force just before the gap; all our zones' gaps are at most an hour long.
    lags = (timedelta(0), timedelta(hours=1), timedelta(hours=2))
    offsets = {(boundary - lag).astimezone(zone).utcoffset() for lag in lags}
    cells: set[int] = set()
    for offset in offsets:
        assert offset is not None
        naive = (boundary + offset).replace(tzinfo=None)
        if (naive - reference) % step == timedelta(0) and fold0(naive, zone) == boundary:
            cells.add((naive - reference) // step)
    return cells


def merge_at(left: list[Shift[str]], right: list[Shift[str]]) -> list[Shift[str]]:
    if left and right and left[-1].index == right[0].index:
        joined = Shift(left[-1].index, left[-1].member, left[-1].start, right[0].end)
        return [*left[:-1], joined, *right[1:]]
    return [*left, *right]


@given(scenarios())
def test_shifts_tile_the_window_exactly(scenario: tuple[Rotation[str], datetime, datetime]) -> None:
    rotation, start, end = scenario
    shifts = shifts_between(rotation, start, end)
    begin = max(start, rotation.anchor)
    if begin >= end:
        assert shifts == []
        return
    assert shifts[0].start == begin
    assert shifts[-1].end == end
    for shift in shifts:
        assert shift.start < shift.end
        assert shift.start.tzinfo is UTC
        assert shift.end.tzinfo is UTC
    for earlier, later in itertools.pairwise(shifts):
        assert earlier.end == later.start


@given(scenarios())
def test_boundaries_fall_on_the_local_grid(scenario: tuple[Rotation[str], datetime, datetime]) -> None:
    rotation, start, end = scenario
    shifts = shifts_between(rotation, start, end)
    # The cell numbers a boundary could be, minus its shift index, must agree across all
    # boundaries: that pins both the grid's local time and its phase relative to the anchor.
    common: set[int] | None = None
    for shift in shifts[1:]:
        cells = grid_cells_for(rotation, shift.start)
        assert cells, f"{shift.start} is not a fold=0 grid time in {rotation.zone}"
        offsets = {cell - shift.index for cell in cells}
        common = offsets if common is None else common & offsets
        assert common, f"boundary {shift.start} is off the grid phase"
    if common is None:
        return
    first_cell = min(common)
    reference, step = grid_reference(rotation), rotation.cadence.step
    # Cells skipped between consecutive shifts must have been empty: their grid point maps
    # no earlier than the start of the shift that follows them.
    for earlier, later in itertools.pairwise(shifts):
        for k in range(earlier.index + 1, later.index):
            assert fold0(reference + (first_cell + k) * step, rotation.zone) >= later.start


@given(scenarios())
def test_members_cycle_in_order(scenario: tuple[Rotation[str], datetime, datetime]) -> None:
    rotation, start, end = scenario
    shifts = shifts_between(rotation, start, end)
    members = rotation.members
    for shift in shifts:
        assert shift.index >= 0
        assert shift.member == members[shift.index % len(members)]
    if shifts and start <= rotation.anchor:
        assert shifts[0].index == 0
    for earlier, later in itertools.pairwise(shifts):
        assert later.index > earlier.index
        # Only an N-hours grid can put two grid points on one instant (a skipped hour);
        # day-based grids in these zones never skip a whole day.
        if rotation.cadence.shift_hours is None:
            assert later.index == earlier.index + 1


@given(scenarios(), st.floats(0, 1))
def test_splitting_a_window_changes_nothing(
    scenario: tuple[Rotation[str], datetime, datetime], fraction: float
) -> None:
    rotation, start, end = scenario
    middle = start + (end - start) * fraction
    middle = middle.replace(microsecond=0)
    middle = min(max(middle, start), end)
    whole = shifts_between(rotation, start, end)
    assert whole == merge_at(shifts_between(rotation, start, middle), shifts_between(rotation, middle, end))


@given(scenarios(), st.floats(0, 1))
def test_point_queries_agree_with_the_window(
    scenario: tuple[Rotation[str], datetime, datetime], fraction: float
) -> None:
    rotation, start, end = scenario
    instant = start + (end - start) * fraction
    found = shift_at(rotation, instant)
    if instant < rotation.anchor:
        assert found is None
        assert next_boundary(rotation, instant) == rotation.anchor
        return
    assert found is not None
    assert found.start <= instant < found.end
    assert found.member == rotation.members[found.index % len(rotation.members)]
    assert shifts_between(rotation, found.start, found.end) == [found]
    assert next_boundary(rotation, instant) == found.end
    after = shift_at(rotation, found.end)
    assert after is not None
    assert after.start == found.end
    assert after.index > found.index


@given(scenarios())
def test_boundaries_between_are_the_shift_starts(scenario: tuple[Rotation[str], datetime, datetime]) -> None:
    rotation, start, end = scenario
    expected = [s.start for s in shifts_between(rotation, start, end) if s.start > start]
    at_end = shift_at(rotation, end)
    if end > start and at_end is not None and at_end.start == end:
        expected.append(end)
    assert boundaries_between(rotation, start, end) == expected
