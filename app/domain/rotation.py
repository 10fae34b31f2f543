"""Rotation math: which member holds which shift of an on-call schedule.

A rotation lays a grid of naive local wall-clock points (``base + m * step``) over the
schedule's zone and converts each point to UTC with ``fold=0``, as RFC 5545 asks: a local
time that a DST change skips is read with the offset in force before the gap, and a local
time that is repeated means its first occurrence.

Around a spring-forward gap that conversion is not monotonic: a grid point inside the gap
maps to the same instant as, or a later instant than, a grid point after the gap. Shifts
must never be empty or run backwards, so a cell's effective start is the earliest instant
any grid point at or after it maps to (``B(m) = min(u(j) for j >= m)``). Cells whose
effective start equals the next one's are empty and are dropped, but the shift index ``k``
still counts grid cells, so the member of a dropped cell is skipped for that turn. Taking
the minimum over later points (rather than the maximum over earlier ones) means a handoff
at a local time that really exists is never pushed later by a skipped one before it.
With ordinary one-hour gaps the only effect is that an N-hours rotation whose handoff
falls inside the gap loses that one cell.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Generic, TypeGuard, TypeVar
from zoneinfo import ZoneInfo

M = TypeVar("M")

# utcoffset() is strictly within +-24h, so two local readings of nearby grid points can
# disagree by less than this; it bounds how far from an estimate the true cell can be.
_MAX_OFFSET_SPREAD = timedelta(hours=48)


class RotationKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass, but True is not a shift length or a weekday.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Cadence:
    """How often the rotation hands off, and at which local time (and weekday)."""

    kind: RotationKind
    handoff_time: time
    handoff_weekday: int | None = None
    shift_hours: int | None = None
    shift_days: int | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", RotationKind(self.kind))
        except ValueError:
            raise ValueError(f"kind must be one of daily, weekly, custom; got {self.kind!r}") from None
        self._check_handoff_time()
        self._check_weekday()
        self._check_shift_length()

    def _check_handoff_time(self) -> None:
        handoff = self.handoff_time
        if not isinstance(handoff, time):
            raise TypeError(f"handoff_time must be a datetime.time, got {handoff!r}")
        if handoff.tzinfo is not None:
            raise ValueError("handoff_time must be a local wall-clock time without tzinfo")
        if handoff.second or handoff.microsecond:
            raise ValueError("handoff_time must be whole minutes (HH:MM)")
        # A repeated local time always means its first occurrence, so fold is not ours to keep.
        object.__setattr__(self, "handoff_time", handoff.replace(fold=0))

    def _check_weekday(self) -> None:
        weekday = self.handoff_weekday
        if self.kind is RotationKind.WEEKLY:
            if not _is_int(weekday) or not 0 <= weekday <= 6:
                raise ValueError(
                    f"handoff_weekday must be 0 (Monday) to 6 (Sunday) for a weekly rotation, got {weekday!r}"
                )
        elif weekday is not None:
            raise ValueError(f"handoff_weekday is only for weekly rotations, not {self.kind}")

    def _check_shift_length(self) -> None:
        hours, days = self.shift_hours, self.shift_days
        if self.kind is not RotationKind.CUSTOM:
            if hours is not None:
                raise ValueError(f"shift_hours is only for custom rotations, not {self.kind}")
            if days is not None:
                raise ValueError(f"shift_days is only for custom rotations, not {self.kind}")
            return
        if (hours is None) == (days is None):
            raise ValueError("a custom rotation needs exactly one of shift_hours or shift_days")
        for name, value in (("shift_hours", hours), ("shift_days", days)):
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"{name} must be a positive whole number, got {value!r}")

    @property
    def step(self) -> timedelta:
        """Length of one grid cell in local wall-clock time."""
        if self.kind is RotationKind.DAILY:
            return timedelta(days=1)
        if self.kind is RotationKind.WEEKLY:
            return timedelta(days=7)
        if self.shift_hours is not None:
            return timedelta(hours=self.shift_hours)
        assert self.shift_days is not None
        return timedelta(days=self.shift_days)


def _require_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Rotation(Generic[M]):
    """A schedule's rotation: cadence, zone, the anchor (rotation start) and the ordered members."""

    cadence: Cadence
    zone: ZoneInfo
    anchor: datetime
    members: tuple[M, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.cadence, Cadence):
            raise TypeError(f"cadence must be a Cadence, got {self.cadence!r}")
        if not isinstance(self.zone, ZoneInfo):
            raise TypeError(f"zone must be a zoneinfo.ZoneInfo, got {self.zone!r}")
        object.__setattr__(self, "anchor", _require_utc(self.anchor, "anchor"))
        members = tuple(self.members)
        if not members:
            raise ValueError("members must name at least one rotation member")
        object.__setattr__(self, "members", members)


@dataclass(frozen=True)
class Shift(Generic[M]):
    """Grid cell ``index`` (k, counted from the anchor's cell) held by ``member``, covering [start, end)."""

    index: int
    member: M
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Grid:
    zone: ZoneInfo
    base: datetime  # naive local wall-clock time of grid point m = 0
    step: timedelta

    def point(self, m: int) -> datetime:
        return self.base + m * self.step

    def raw(self, m: int) -> datetime:
        return self.point(m).replace(tzinfo=self.zone, fold=0).astimezone(UTC)

    @property
    def reach(self) -> int:
        # Grid points this far apart in local time can no longer be out of order in UTC.
        return -(-_MAX_OFFSET_SPREAD // self.step)

    def effective(self, lo: int, hi: int) -> list[datetime]:
        """Effective starts B(m) for m in lo..hi inclusive."""
        starts = [self.raw(m) for m in range(lo, hi + self.reach + 1)]
        for i in range(len(starts) - 2, -1, -1):
            starts[i] = min(starts[i], starts[i + 1])
        return starts[: hi - lo + 1]

    def cell(self, instant: datetime) -> tuple[int, datetime, datetime]:
        """The cell m with B(m) <= instant < B(m + 1), and those two bounds."""
        local = instant.astimezone(self.zone).replace(tzinfo=None)
        estimate = (local - self.base) // self.step
        # The local reading almost always lands in or next to the right cell; only around
        # large offset jumps is the wider window, which the offset bound guarantees, needed.
        for margin in (1, self.reach + 1):
            lo = estimate - margin
            starts = self.effective(lo, estimate + margin + 1)
            i = bisect_right(starts, instant) - 1
            if 0 <= i < len(starts) - 1:
                return lo + i, starts[i], starts[i + 1]
        raise AssertionError("offset bound violated; cannot place instant on the grid")

    def locate(self, instant: datetime) -> int:
        """The cell m with B(m) <= instant < B(m + 1)."""
        return self.cell(instant)[0]


@dataclass(frozen=True)
class _Layout:
    grid: _Grid
    first: int  # grid cell holding the anchor, i.e. shift k = 0


def _combine(day: date, at: time) -> datetime:
    return datetime.combine(day, at)  # naive on purpose: local wall-clock arithmetic


def _layout(rotation: Rotation[M]) -> _Layout:
    return _layout_for(rotation.cadence, rotation.zone, rotation.anchor)


# Pure in its arguments (and members play no part), so callers asking about the same
# schedule again, e.g. once per instant while walking a day, skip re-placing the anchor.
@lru_cache(maxsize=256)
def _layout_for(cadence: Cadence, zone: ZoneInfo, anchor: datetime) -> _Layout:
    anchor_day = anchor.astimezone(zone).date()
    base = _combine(anchor_day, cadence.handoff_time)
    if cadence.kind is RotationKind.WEEKLY:
        assert cadence.handoff_weekday is not None
        base -= timedelta(days=(anchor_day.weekday() - cadence.handoff_weekday) % 7)
    elif cadence.shift_days is not None:
        # Every N days counts from the anchor's own daily handoff cell, so its phase is set
        # by the latest handoff at or before the anchor (the day before, if the anchor is
        # earlier in the day than the handoff).
        daily = _Grid(zone, base, timedelta(days=1))
        base = daily.point(daily.locate(anchor))
    grid = _Grid(zone, base, cadence.step)
    return _Layout(grid, grid.locate(anchor))


def _shift(rotation: Rotation[M], layout: _Layout, m: int, start: datetime, end: datetime) -> Shift[M]:
    k = m - layout.first
    return Shift(index=k, member=rotation.members[k % len(rotation.members)], start=start, end=end)


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _require_utc(start, "start"), _require_utc(end, "end")
    if end < start:
        raise ValueError(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    return start, end


def shifts_between(rotation: Rotation[M], start: datetime, end: datetime) -> list[Shift[M]]:
    """Shifts meeting [start, end), clipped to the window (and to the anchor), in order.

    The result tiles ``[max(start, anchor), end)`` exactly: no gaps, no overlaps, every shift
    non-empty. An empty window, or one that ends at or before the anchor, yields ``[]``.
    """
    start, end = _window(start, end)
    lo = max(start, rotation.anchor)
    if lo >= end:
        return []
    layout = _layout(rotation)
    first, last = layout.grid.locate(lo), layout.grid.locate(end)
    starts = layout.grid.effective(first, last + 1)
    shifts: list[Shift[M]] = []
    for i, m in enumerate(range(first, last + 1)):
        cell_start, cell_end = max(starts[i], lo), min(starts[i + 1], end)
        if cell_start < cell_end:
            shifts.append(_shift(rotation, layout, m, cell_start, cell_end))
    return shifts


def shift_at(rotation: Rotation[M], instant: datetime) -> Shift[M] | None:
    """The whole shift covering ``instant``, or None before the anchor.

    Not clipped to anything but the anchor: shift 0 starts at the anchor itself.
    """
    instant = _require_utc(instant, "instant")
    if instant < rotation.anchor:
        return None
    layout = _layout(rotation)
    m, cell_start, cell_end = layout.grid.cell(instant)
    return _shift(rotation, layout, m, max(cell_start, rotation.anchor), cell_end)


def next_boundary(rotation: Rotation[M], after: datetime) -> datetime:
    """The first shift start strictly after ``after``.

    Before the anchor that is the anchor itself, since the first shift starts there.
    """
    after = _require_utc(after, "after")
    if after < rotation.anchor:
        return rotation.anchor
    return _layout(rotation).grid.cell(after)[2]


def boundaries_between(rotation: Rotation[M], start: datetime, end: datetime) -> list[datetime]:
    """Shift starts (handoffs) in the half-open interval ``(start, end]``, ascending.

    The anchor counts as a boundary. ``(start, end]`` matches ``next_boundary``'s "strictly
    after" and lets a caller poll ``(last_run, now]`` windows that neither miss nor repeat
    a handoff: ``boundaries_between(a, c) == boundaries_between(a, b) + boundaries_between(b, c)``.
    """
    start, end = _window(start, end)
    found: list[datetime] = []
    if start < rotation.anchor <= end:
        found.append(rotation.anchor)
    lo = max(start, rotation.anchor)
    if lo >= end:
        return found
    layout = _layout(rotation)
    first, last = layout.grid.locate(lo), layout.grid.locate(end)
    if last > first:
        for boundary in layout.grid.effective(first + 1, last):
            # Dropped (empty) cells repeat the next cell's start; report each instant once.
            if not found or boundary > found[-1]:
                found.append(boundary)
    return found
