"""Override layering and the regeneration diff."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.layering import (
    ExistingSlot,
    Interval,
    RegenerationPlan,
    plan_regeneration,
    subtract_overrides,
)
from app.domain.rotation import Cadence, Rotation, RotationKind, shifts_between

T0 = datetime(2026, 3, 2, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def iv(member: str, start: float, end: float) -> Interval[str]:
    return Interval(member, at(start), at(end))


def triples(intervals: Sequence[Interval[str]]) -> list[tuple[str, datetime, datetime]]:
    return [(i.member, i.start, i.end) for i in intervals]


# --- subtract_overrides ---------------------------------------------------------------------------


def test_no_overrides_leaves_the_pattern() -> None:
    pattern = [iv("a", 0, 24), iv("b", 24, 48)]
    assert subtract_overrides(pattern, []) == pattern


def test_override_in_the_middle_splits_a_shift() -> None:
    assert subtract_overrides([iv("a", 0, 24)], [iv("z", 8, 12)]) == [iv("a", 0, 8), iv("a", 12, 24)]


def test_overrides_at_the_edges_trim_a_shift() -> None:
    got = subtract_overrides([iv("a", 0, 24)], [iv("z", 0, 4), iv("y", 20, 24)])
    assert got == [iv("a", 4, 20)]


def test_override_covering_several_shifts() -> None:
    pattern = [iv("a", 0, 8), iv("b", 8, 16), iv("c", 16, 24)]
    assert subtract_overrides(pattern, [iv("z", 4, 20)]) == [iv("a", 0, 4), iv("c", 20, 24)]


def test_override_covering_the_whole_pattern() -> None:
    assert subtract_overrides([iv("a", 0, 8), iv("b", 8, 16)], [iv("z", -1, 17)]) == []


def test_adjacent_and_overlapping_overrides_leave_no_slivers() -> None:
    pattern = [iv("a", 0, 24)]
    assert subtract_overrides(pattern, [iv("y", 8, 12), iv("z", 4, 8)]) == [iv("a", 0, 4), iv("a", 12, 24)]
    assert subtract_overrides(pattern, [iv("y", 4, 10), iv("z", 6, 12)]) == [iv("a", 0, 4), iv("a", 12, 24)]


def test_rotation_shifts_are_accepted_as_the_pattern() -> None:
    rotation = Rotation(Cadence(RotationKind.DAILY, time(9)), BERLIN, T0, ("a", "b"))
    shifts = shifts_between(rotation, T0, T0 + timedelta(days=2))
    override = Interval("z", T0 + timedelta(hours=20), T0 + timedelta(hours=30))
    got = subtract_overrides(shifts, [override])
    assert triples(got) == [
        ("a", T0, T0 + timedelta(hours=8)),  # the anchor cell ends at 09:00 CET
        ("b", T0 + timedelta(hours=8), T0 + timedelta(hours=20)),
        ("b", T0 + timedelta(hours=30), T0 + timedelta(hours=32)),
        ("a", T0 + timedelta(hours=32), T0 + timedelta(hours=48)),
    ]


@st.composite
def patterns_and_overrides(draw: st.DrawFn) -> tuple[list[Interval[str]], list[Interval[str]]]:
    cuts = sorted(set(draw(st.lists(st.integers(0, 96), min_size=2, max_size=10))))
    pattern = [iv(draw(st.sampled_from("abc")), s, e) for s, e in itertools.pairwise(cuts)]
    overrides = [
        iv("z", s, s + length)
        for s, length in draw(st.lists(st.tuples(st.integers(-5, 100), st.integers(1, 30)), max_size=5))
    ]
    return pattern, overrides


@given(patterns_and_overrides())
def test_pattern_with_overrides_on_top_is_the_final_schedule(
    case: tuple[list[Interval[str]], list[Interval[str]]],
) -> None:
    pattern, overrides = case
    pieces = subtract_overrides(pattern, overrides)
    assert all(p.start < p.end for p in pieces)
    for earlier, later in itertools.pairwise(pieces):
        assert earlier.end <= later.start
    for hour in range(-5, 131):
        instant = at(hour + 0.5)
        under = [p.member for p in pattern if p.start <= instant < p.end]
        over = any(o.start <= instant < o.end for o in overrides)
        kept = [p.member for p in pieces if p.start <= instant < p.end]
        assert kept == ([] if over else under)


def test_interval_refuses_naive_and_empty() -> None:
    with pytest.raises(ValueError, match="start"):
        Interval("a", datetime(2026, 1, 1), at(1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="before end"):
        Interval("a", at(1), at(1))


# --- plan_regeneration ----------------------------------------------------------------------------


class Table:
    """Rows of rotation slots, standing in for the database."""

    def __init__(self, slots: Sequence[Interval[str]]) -> None:
        self.ids = itertools.count(1)
        self.rows: dict[int, tuple[str, datetime, datetime]] = {
            next(self.ids): (s.member, s.start, s.end) for s in slots
        }

    def existing(self) -> list[ExistingSlot[str, int]]:
        return [ExistingSlot(i, m, s, e) for i, (m, s, e) in self.rows.items()]

    def apply(self, plan: RegenerationPlan[str, int]) -> None:
        for slot_id in plan.delete:
            del self.rows[slot_id]
        for slot_id, start, end in plan.update:
            member, _, _ = self.rows[slot_id]
            self.rows[slot_id] = (member, start, end)
        for interval in plan.insert:
            self.rows[next(self.ids)] = (interval.member, interval.start, interval.end)

    def contents(self) -> list[tuple[str, datetime, datetime]]:
        return sorted(self.rows.values(), key=lambda row: row[1])


def test_unchanged_schedule_gives_an_empty_plan() -> None:
    table = Table([iv("a", 0, 24), iv("b", 24, 48), iv("c", 48, 72)])
    since = at(30)
    desired = [iv("b", 30, 48), iv("c", 48, 72)]  # what shifts_between(since, ...) returns
    plan = plan_regeneration(table.existing(), desired, since)
    assert plan == RegenerationPlan((), (), ())
    assert plan.is_empty


def test_member_change_from_since_cuts_the_current_slot() -> None:
    table = Table([iv("a", 0, 24), iv("b", 24, 48), iv("c", 48, 72)])
    since = at(30)
    desired = [iv("x", 30, 48), iv("c", 48, 72)]
    plan = plan_regeneration(table.existing(), desired, since)
    assert plan.delete == ()
    assert plan.update == ((2, at(24), at(30)),)
    assert plan.insert == (iv("x", 30, 48),)
    table.apply(plan)
    assert table.contents() == triples([iv("a", 0, 24), iv("b", 24, 30), iv("x", 30, 48), iv("c", 48, 72)])


def test_same_owner_across_since_keeps_one_slot_and_stretches_it() -> None:
    # A longer shift for the same person: the current slot is not cut, only its end moves.
    table = Table([iv("a", 0, 24), iv("b", 24, 48), iv("c", 48, 72)])
    plan = plan_regeneration(table.existing(), [iv("b", 30, 60), iv("c", 60, 96)], at(30))
    assert plan.update == ((2, at(24), at(60)),)
    assert plan.delete == (3,)
    assert plan.insert == (iv("c", 60, 96),)


def test_same_owner_and_end_across_since_changes_nothing_for_that_slot() -> None:
    table = Table([iv("a", 0, 24), iv("b", 24, 48), iv("c", 48, 72)])
    plan = plan_regeneration(table.existing(), [iv("b", 30, 48), iv("a", 48, 72)], at(30))
    assert plan.update == ()
    assert plan.delete == (3,)
    assert plan.insert == (iv("a", 48, 72),)


def test_history_before_since_is_never_touched() -> None:
    table = Table([iv("a", 0, 24), iv("b", 24, 48), iv("c", 48, 72)])
    # Desired intervals that reach back before `since` are only taken from `since` on.
    desired = [iv("x", 0, 48), iv("y", 48, 72)]
    plan = plan_regeneration(table.existing(), desired, at(48))
    assert 1 not in plan.delete
    assert 2 not in plan.delete
    assert all(slot_id not in (1, 2) for slot_id, _, _ in plan.update)
    assert plan.delete == (3,)
    assert plan.insert == (iv("y", 48, 72),)


def test_slot_ending_at_since_is_history_even_with_the_same_owner_next() -> None:
    table = Table([iv("a", 0, 24)])
    plan = plan_regeneration(table.existing(), [iv("a", 24, 48)], at(24))
    assert plan == RegenerationPlan((), (), (iv("a", 24, 48),))


def test_adjacent_desired_intervals_of_one_member_stay_separate() -> None:
    table = Table([])
    plan = plan_regeneration(table.existing(), [iv("a", 0, 24), iv("a", 24, 48)], at(0))
    assert plan.insert == (iv("a", 0, 24), iv("a", 24, 48))


def test_no_desired_interval_at_since_cuts_the_current_slot() -> None:
    # An override now starts at `since`, so the rotation has nothing there.
    table = Table([iv("a", 0, 24), iv("b", 24, 48)])
    plan = plan_regeneration(table.existing(), [iv("b", 30, 48)], at(6))
    assert plan.update == ((1, at(0), at(6)),)
    assert plan.delete == (2,)
    assert plan.insert == (iv("b", 30, 48),)


def test_plan_refuses_naive_since() -> None:
    with pytest.raises(ValueError, match="since"):
        plan_regeneration([], [], datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def rotation_slots(members: tuple[str, ...], start: datetime, end: datetime, anchor: datetime) -> list[Interval[str]]:
    rotation = Rotation(Cadence(RotationKind.CUSTOM, time(8), shift_hours=12), BERLIN, anchor, members)
    return [Interval(s.member, s.start, s.end) for s in shifts_between(rotation, start, end)]


@pytest.mark.parametrize("new_members", [("a", "b", "c"), ("b", "a", "c"), ("a", "b"), ("c",)])
@pytest.mark.parametrize("since_hours", [0, 5, 11, 12, 100, 130])
def test_regeneration_is_idempotent_and_matches_the_new_pattern(new_members: tuple[str, ...], since_hours: int) -> None:
    anchor, horizon = T0, T0 + timedelta(days=14)
    since = anchor + timedelta(hours=since_hours)
    override = Interval("z", since + timedelta(hours=30), since + timedelta(hours=40))
    table = Table(subtract_overrides(rotation_slots(("a", "b", "c"), anchor, horizon, anchor), [override]))

    def up_to_since(rows: list[tuple[str, datetime, datetime]]) -> list[tuple[str, datetime, datetime]]:
        return [(m, s, min(e, since)) for m, s, e in rows if s < since]

    history = up_to_since(table.contents())

    desired = subtract_overrides(rotation_slots(new_members, since, horizon, anchor), [override])
    plan = plan_regeneration(table.existing(), desired, since)
    table.apply(plan)

    assert plan_regeneration(table.existing(), desired, since).is_empty
    rows = table.contents()
    assert up_to_since(rows) == history  # who held what before `since` is unchanged
    # From `since` on the table holds exactly the desired slots (the slot covering `since`
    # may start earlier when its owner carries on).
    after = [(m, max(s, since), e) for m, s, e in rows if e > since]
    assert after == triples(desired)
    for earlier, later in itertools.pairwise(rows):
        assert earlier[2] <= later[1]


def test_unchanged_pattern_regenerated_mid_shift_changes_no_row() -> None:
    anchor, horizon = T0, T0 + timedelta(days=14)
    table = Table(rotation_slots(("a", "b", "c"), anchor, horizon, anchor))
    for hours in (0, 3, 12, 77, 200):
        since = anchor + timedelta(hours=hours)
        desired = rotation_slots(("a", "b", "c"), since, horizon, anchor)
        assert plan_regeneration(table.existing(), desired, since).is_empty


def test_plan_is_deterministic() -> None:
    table = Table([iv("a", 0, 24), iv("b", 24, 48), iv("b", 24, 48)])
    desired = [iv("b", 24, 48), iv("c", 48, 72), iv("c", 48, 72)]
    first = plan_regeneration(table.existing(), desired, at(12))
    assert first == plan_regeneration(table.existing(), desired, at(12))
    # One duplicate row matches one desired interval; the spare row goes.
    assert first.delete == (3,)
    assert first.insert == (iv("c", 48, 72), iv("c", 48, 72))
