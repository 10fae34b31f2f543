"""Shifts read from the stored slots: a person's across the workspace's schedules, or a schedule's,
each whole (a shift that began before the window is read back to its start), and the timeline of
a window."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OnCallSchedule, OnCallSlot, UserProfile
from app.domain.shifts import Lane, Shift, SlotPiece, join_shifts, lay_out

MAX_WINDOW = datetime.timedelta(days=400)
FOLLOW_BATCH = 500  # slots read at a time when following a shift past the window


def _piece(slot: OnCallSlot) -> SlotPiece:
    return SlotPiece(
        slot.id, slot.schedule_id, slot.user_id, slot.start_time, slot.end_time, slot.is_override, slot.updated_at
    )


async def _pieces(
    db: AsyncSession,
    schedule_ids: Sequence[uuid.UUID],
    start: datetime.datetime,
    end: datetime.datetime | None,
    user_id: uuid.UUID | None,
) -> list[SlotPiece]:
    """Slots overlapping [start, end) (end None: to the horizon), plus the slots of the same person
    just before each schedule's first one, so a shift running at `start` is read whole."""
    if not schedule_ids:
        return []
    query = select(OnCallSlot).where(OnCallSlot.schedule_id.in_(schedule_ids), OnCallSlot.end_time > start)
    if end is not None:
        query = query.where(OnCallSlot.start_time < end)
    if user_id is not None:
        query = query.where(OnCallSlot.user_id == user_id)
    pieces = [_piece(slot) for slot in await db.scalars(query.order_by(OnCallSlot.start_time))]
    if end is not None:
        # A shift running at `end` is read whole too: the same person's slots that follow without a break.
        pieces += await _follow(db, pieces, forward=True)
    pieces += await _follow(db, pieces, forward=False)
    return pieces


async def _follow(db: AsyncSession, pieces: list[SlotPiece], forward: bool) -> list[SlotPiece]:
    """The same person's slots adjacent to each schedule's last (forward) or first piece, for as long
    as they continue without a break (read in batches: a one-person rotation is one long shift)."""
    found: list[SlotPiece] = []
    edges: dict[uuid.UUID, SlotPiece] = {}
    for piece in pieces:
        edge = edges.get(piece.schedule_id)
        if edge is None or (piece.end > edge.end if forward else piece.start < edge.start):
            edges[piece.schedule_id] = piece
    for edge in edges.values():
        current = edge
        while True:
            query = select(OnCallSlot).where(
                and_(OnCallSlot.schedule_id == current.schedule_id, OnCallSlot.user_id == current.user_id)
            )
            if forward:
                query = query.where(OnCallSlot.start_time >= current.end).order_by(OnCallSlot.start_time)
            else:
                query = query.where(OnCallSlot.end_time <= current.start).order_by(OnCallSlot.end_time.desc())
            batch = [_piece(slot) for slot in await db.scalars(query.limit(FOLLOW_BATCH))]
            joined = 0
            for piece in batch:
                if (piece.start != current.end) if forward else (piece.end != current.start):
                    break
                found.append(piece)
                current = piece
                joined += 1
            if joined < FOLLOW_BATCH:
                break
    return found


async def person_shifts(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    start: datetime.datetime,
    end: datetime.datetime | None = None,
) -> list[tuple[Shift, OnCallSchedule]]:
    """The person's shifts on the workspace's active schedules that overlap [start, end), whole."""
    schedules = {
        s.id: s
        for s in await db.scalars(
            select(OnCallSchedule).where(OnCallSchedule.workspace_id == workspace_id, OnCallSchedule.is_active)
        )
    }
    pieces = await _pieces(db, list(schedules), start, end, user_id)
    shifts = [s for s in join_shifts(pieces) if s.end > start and (end is None or s.start < end)]
    return sorted(((s, schedules[s.schedule_id]) for s in shifts), key=lambda pair: (pair[0].start, pair[1].name))


async def schedule_shifts(
    db: AsyncSession, schedule_id: uuid.UUID, start: datetime.datetime, end: datetime.datetime | None = None
) -> list[Shift]:
    """Everyone's shifts of one schedule that overlap [start, end), whole."""
    pieces = await _pieces(db, [schedule_id], start, end, None)
    return [s for s in join_shifts(pieces) if s.end > start and (end is None or s.start < end)]


async def handed_over_by(db: AsyncSession, shift: Shift) -> UserProfile | None:
    """Who holds the schedule just before the shift (who hands over to its person), if anyone."""
    return await db.scalar(
        select(UserProfile)
        .join(OnCallSlot, OnCallSlot.user_id == UserProfile.id)
        .where(OnCallSlot.schedule_id == shift.schedule_id, OnCallSlot.end_time == shift.start)
    )


async def people_of(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, UserProfile]:
    if not ids:
        return {}
    return {u.id: u for u in await db.scalars(select(UserProfile).where(UserProfile.id.in_(ids)))}


# ---------------------------------------------------------------- the timeline

TIMELINE_WEEKS = (1, 2, 4)


@dataclass(frozen=True)
class Tick:
    left: float
    label: str  # "" for a day whose line is drawn without a label (there is no room for every one)
    alternate: bool = False  # a labelled day a phone leaves out (every other one)


@dataclass(frozen=True)
class TimelineRow:
    label: str
    lane: Lane


@dataclass(frozen=True)
class Timeline:
    start: datetime.datetime
    end: datetime.datetime
    weeks: int
    zone: ZoneInfo
    ticks: tuple[Tick, ...]
    rows: tuple[TimelineRow, ...]
    people: dict[uuid.UUID, UserProfile]


def timeline_window(now: datetime.datetime, zone: ZoneInfo, weeks: int) -> tuple[datetime.datetime, datetime.datetime]:
    """From the start of today in `zone` over `weeks` weeks (wall-clock days: a DST day is 23 or 25 h)."""
    today = now.astimezone(zone).date()
    start = datetime.datetime.combine(today, datetime.time(0), tzinfo=zone).astimezone(datetime.UTC)
    end_day = today + datetime.timedelta(weeks=weeks)
    end = datetime.datetime.combine(end_day, datetime.time(0), tzinfo=zone).astimezone(datetime.UTC)
    return start, end


def ticks(start: datetime.datetime, end: datetime.datetime, zone: ZoneInfo) -> tuple[Tick, ...]:
    """A line at each local midnight; a label on every day over one week, every other day over two,
    every fourth over four (a phone shows every other label of those)."""
    span = (end - start).total_seconds()
    first = start.astimezone(zone).date()
    every = max(1, round(span / 86400 / 7))
    found: list[Tick] = []
    day = first
    while True:
        at = datetime.datetime.combine(day, datetime.time(0), tzinfo=zone).astimezone(datetime.UTC)
        if at >= end:
            break
        index = (day - first).days
        labelled = index % every == 0
        found.append(
            Tick(
                round(100.0 * (at - start).total_seconds() / span, 4),
                day.strftime("%a %d") if labelled else "",
                labelled and (index // every) % 2 == 1,
            )
        )
        day += datetime.timedelta(days=1)
    return tuple(found)


async def build_timeline(
    db: AsyncSession,
    rows: Sequence[tuple[str, list[Shift]]],
    start: datetime.datetime,
    end: datetime.datetime,
    now: datetime.datetime,
    zone: ZoneInfo,
    weeks: int,
) -> Timeline:
    people = await people_of(db, {s.user_id for _, shifts in rows for s in shifts})
    return Timeline(
        start,
        end,
        weeks,
        zone,
        ticks(start, end, zone),
        tuple(TimelineRow(label, lay_out(shifts, start, end, now)) for label, shifts in rows),
        people,
    )


def clamp_weeks(raw: int | None) -> int:
    return raw if raw in TIMELINE_WEEKS else TIMELINE_WEEKS[0]
