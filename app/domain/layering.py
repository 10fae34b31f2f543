"""Override layering and the diff that regenerates a schedule's rotation slots.

The final schedule is the rotation pattern with overrides laid on top, so the rotation slots
stored for a schedule are the pattern minus the override intervals. Regeneration compares
the slots already stored with the ones the rotation now asks for and returns the smallest
set of row changes, leaving history and unchanged rows alone.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from app.domain.rotation import Shift

M = TypeVar("M")
SlotId = TypeVar("SlotId")


def _require_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return value.astimezone(UTC)


def _check_bounds(obj: object, start: datetime, end: datetime) -> None:
    start, end = _require_utc(start, "start"), _require_utc(end, "end")
    if start >= end:
        raise ValueError(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
    object.__setattr__(obj, "start", start)
    object.__setattr__(obj, "end", end)


@dataclass(frozen=True)
class Interval(Generic[M]):
    """``member`` holds [start, end); start < end, both normalised to UTC."""

    member: M
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _check_bounds(self, self.start, self.end)


@dataclass(frozen=True)
class ExistingSlot(Generic[M, SlotId]):
    """A stored rotation slot (is_override=False): row ``id`` gives ``member`` [start, end)."""

    id: SlotId
    member: M
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _check_bounds(self, self.start, self.end)


@dataclass(frozen=True)
class RegenerationPlan(Generic[M, SlotId]):
    """Row changes that turn the stored rotation slots into the desired ones."""

    delete: tuple[SlotId, ...]
    update: tuple[tuple[SlotId, datetime, datetime], ...]
    insert: tuple[Interval[M], ...]

    @property
    def is_empty(self) -> bool:
        """True when nothing needs to change."""
        return not (self.delete or self.update or self.insert)


def _merged(overrides: Sequence[Interval[M]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted((o.start, o.end) for o in overrides):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract_overrides(
    shifts: Sequence[Shift[M]] | Sequence[Interval[M]], overrides: Sequence[Interval[M]]
) -> list[Interval[M]]:
    """Rotation pattern minus override intervals (invariant: final schedule = pattern with overrides on top).

    Accepts rotation ``Shift``s or ``Interval``s. Each pattern piece keeps its member and is
    cut wherever any override (whoever holds it) covers it; the pieces come back in the
    pattern's order, each non-empty. Overrides may overlap or touch one another.
    """
    covered = _merged(overrides)
    covered_starts = [start for start, _ in covered]
    pieces: list[Interval[M]] = []
    for shift in shifts:
        cursor, end = _require_utc(shift.start, "start"), _require_utc(shift.end, "end")
        # Start from the last override beginning at or before the shift; earlier ones ended sooner.
        i = max(bisect_right(covered_starts, cursor) - 1, 0)
        while cursor < end and i < len(covered):
            cover_start, cover_end = covered[i]
            if cover_start >= end:
                break
            if cover_start > cursor:
                pieces.append(Interval(shift.member, cursor, cover_start))
            cursor = max(cursor, cover_end)
            i += 1
        if cursor < end:
            pieces.append(Interval(shift.member, cursor, end))
    return pieces


def _from_since(desired: Sequence[Interval[M]], since: datetime) -> list[Interval[M]]:
    kept: list[Interval[M]] = []
    for interval in desired:
        if interval.end <= since:
            continue
        clipped = interval if interval.start >= since else Interval(interval.member, since, interval.end)
        kept.append(clipped)
    # Stable sort: equal starts keep the caller's order, so the plan is deterministic.
    return sorted(kept, key=lambda interval: interval.start)


def plan_regeneration(
    existing_rotation_slots: Sequence[ExistingSlot[M, SlotId]],
    desired: Sequence[Interval[M]],
    since: datetime,
) -> RegenerationPlan[M, SlotId]:
    """Diff stored rotation slots (is_override=False) against the desired rotation from `since` on.

    - Slots ending at or before ``since`` are history and never touched.
    - Desired intervals are taken from ``since`` on: any part before ``since`` is ignored.
    - A slot covering ``since`` (start < since < end) is kept whole when the desired interval
      starting at ``since`` has the same member: it is stretched to that interval's end (an
      update only if the end moves) and that interval is not inserted. Otherwise the slot is
      cut at ``since`` and the desired intervals are inserted as usual.
    - Slots starting at or after ``since`` are kept when a desired interval has the same
      member, start and end; the rest are deleted and the unmatched desired intervals inserted.
      Adjacent desired intervals of one member are not merged: each shift is its own slot.

    Regenerating an unchanged schedule yields an empty plan, and applying a plan then
    planning again with the same inputs yields an empty plan. Ties are broken by input order.
    """
    since = _require_utc(since, "since")
    wanted = _from_since(desired, since)
    existing = sorted(existing_rotation_slots, key=lambda slot: (slot.start, slot.end))
    delete: list[SlotId] = []
    update: list[tuple[SlotId, datetime, datetime]] = []

    for slot in existing:
        if not slot.start < since < slot.end:
            continue
        first = wanted[0] if wanted else None
        if first is not None and first.start == since and first.member == slot.member:
            # The owner does not change at `since`, so this slot simply carries on.
            wanted.pop(0)
            if first.end != slot.end:
                update.append((slot.id, slot.start, first.end))
        else:
            update.append((slot.id, slot.start, since))

    # Exact (member, start, end) matches keep their rows; bounds index the lookup because
    # member ids need only support ==, not hashing.
    by_bounds: dict[tuple[datetime, datetime], list[int]] = {}
    for position, interval in enumerate(wanted):
        by_bounds.setdefault((interval.start, interval.end), []).append(position)
    matched: set[int] = set()
    for slot in existing:
        if slot.start < since:
            continue
        candidates = by_bounds.get((slot.start, slot.end), [])
        match = next((p for p in candidates if p not in matched and wanted[p].member == slot.member), None)
        if match is None:
            delete.append(slot.id)
        else:
            matched.add(match)

    insert = tuple(interval for position, interval in enumerate(wanted) if position not in matched)
    return RegenerationPlan(delete=tuple(delete), update=tuple(update), insert=insert)
