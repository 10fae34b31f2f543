"""Shifts and the timeline, on plain values.

A shift (DESIGN.md) is a maximal run of time one person holds without a break in one schedule's
final schedule: adjacent slots of the same person join; an override that splits a slot makes two
shifts. Slots are already the final schedule (rotation pieces minus override intervals, plus the
overrides), so shifts are slots joined.

The timeline lays a schedule's shifts over a window as bars (fractions of the window), with the
gaps (time no slot covers) and a line at now.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EPOCH = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class SlotPiece:
    """One stored slot, as much of it as shifts need."""

    id: uuid.UUID
    schedule_id: uuid.UUID
    user_id: uuid.UUID
    start: datetime.datetime
    end: datetime.datetime
    is_override: bool
    updated_at: datetime.datetime


@dataclass(frozen=True)
class Shift:
    schedule_id: uuid.UUID
    user_id: uuid.UUID
    start: datetime.datetime
    end: datetime.datetime
    is_override: bool  # any part of it is an override
    first_slot_id: uuid.UUID
    last_modified: datetime.datetime  # the newest change to any of its slots

    @property
    def uid(self) -> str:
        """Stable while the shift exists: its schedule, person and start (not its end)."""
        key = f"{self.schedule_id}|{self.user_id}|{self.start.astimezone(datetime.UTC).isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:32] + "@vigilo"

    @property
    def sequence(self) -> int:
        """Rises whenever a slot of the shift changes (its end moved, an override cut it): seconds from
        2020 to the last change, so it is the same on every read and only ever grows."""
        return max(0, int((self.last_modified - EPOCH).total_seconds()))

    def overlaps(self, start: datetime.datetime, end: datetime.datetime) -> bool:
        return self.start < end and self.end > start


def join_shifts(slots: Iterable[SlotPiece]) -> list[Shift]:
    """Slots of one or more schedules joined into shifts, ordered by schedule then start."""
    ordered = sorted(slots, key=lambda s: (str(s.schedule_id), s.start))
    shifts: list[Shift] = []
    for piece in ordered:
        last = shifts[-1] if shifts else None
        if (
            last is not None
            and last.schedule_id == piece.schedule_id
            and last.user_id == piece.user_id
            and last.end == piece.start
        ):
            shifts[-1] = Shift(
                last.schedule_id,
                last.user_id,
                last.start,
                piece.end,
                last.is_override or piece.is_override,
                last.first_slot_id,
                max(last.last_modified, piece.updated_at),
            )
        else:
            shifts.append(
                Shift(
                    piece.schedule_id,
                    piece.user_id,
                    piece.start,
                    piece.end,
                    piece.is_override,
                    piece.id,
                    piece.updated_at,
                )
            )
    return shifts


# ---------------------------------------------------------------- the timeline


@dataclass(frozen=True)
class Bar:
    start: datetime.datetime  # as held (may begin before the window)
    end: datetime.datetime
    left: float  # percent of the window where the visible part begins
    width: float  # percent of the window it covers
    user_id: uuid.UUID | None  # None for a gap
    is_override: bool = False

    @property
    def is_gap(self) -> bool:
        return self.user_id is None

    @property
    def tip_side(self) -> str:
        """Where its tip opens so it stays on the screen: from its left edge, its middle or its right."""
        middle = self.left + self.width / 2
        return " tip-start" if middle < 100 / 3 else (" tip-middle" if middle < 200 / 3 else " tip-end")

    @property
    def geometry(self) -> str:
        """The bar's place as the classes of static/timeline.css (steps of 0.1%; at least one step wide)."""
        left = min(999, max(0, round(self.left * 10)))
        right = min(1000, max(left + 1, round((self.left + self.width) * 10)))
        return f"tl-l{left} tl-w{right - left}"


@dataclass(frozen=True)
class Lane:
    bars: tuple[Bar, ...]
    now_at: float | None  # percent of the window where now is, None when outside it

    @property
    def now_geometry(self) -> str:
        return f"tl-l{min(1000, max(0, round((self.now_at or 0) * 10)))}"


def _percent(at: datetime.datetime, start: datetime.datetime, span: float) -> float:
    return round(100.0 * (at - start).total_seconds() / span, 4)


def lay_out(
    shifts: Sequence[Shift],
    start: datetime.datetime,
    end: datetime.datetime,
    now: datetime.datetime,
    with_gaps: bool = True,
) -> Lane:
    """One schedule's shifts over [start, end): a bar per shift in view and, with_gaps, a bar per
    stretch no shift covers."""
    span = (end - start).total_seconds()
    bars: list[Bar] = []
    cursor = start
    for shift in sorted((s for s in shifts if s.overlaps(start, end)), key=lambda s: s.start):
        lo, hi = max(shift.start, start), min(shift.end, end)
        if with_gaps and lo > cursor:
            bars.append(
                Bar(
                    cursor,
                    lo,
                    _percent(cursor, start, span),
                    _percent(lo, start, span) - _percent(cursor, start, span),
                    None,
                )
            )
        bars.append(
            Bar(
                shift.start,
                shift.end,
                _percent(lo, start, span),
                _percent(hi, start, span) - _percent(lo, start, span),
                shift.user_id,
                shift.is_override,
            )
        )
        cursor = max(cursor, hi)
    if with_gaps and cursor < end:
        bars.append(Bar(cursor, end, _percent(cursor, start, span), 100.0 - _percent(cursor, start, span), None))
    now_at = _percent(now, start, span) if start <= now < end else None
    return Lane(tuple(bars), now_at)
