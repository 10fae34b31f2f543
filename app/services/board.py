"""Loading the on-call board of a workspace: its schedules, the slots around now and the people
they name, then the pure app/domain/board.py.

What was read is kept per web process under the workspace's board version (see board_cache.py) for
up to KEEP: the slots are read KEEP further than the board shows, and the board is laid out again
for each request's `now` and viewer, so a hand-off passing shows at once without any write, and a
change committed anywhere (another web process, a worker) moves the version the next request reads.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OnCallSchedule, OnCallSlot, UserProfile
from app.domain.board import UPCOMING, Board, BoardSchedule, BoardSlot, build_board, seen_by
from app.services.board_cache import ProcessCache
from app.services.identity import WorkspaceRef

KEEP = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Person:
    """Who the board names, as it shows them."""

    id: uuid.UUID
    display_name: str


@dataclass(frozen=True)
class BoardInputs:
    schedules: list[BoardSchedule]
    slots: list[BoardSlot]  # those meeting [read_at, read_at + UPCOMING + KEEP)
    people: dict[uuid.UUID, Person]


@dataclass(frozen=True)
class BoardPage:
    board: Board
    people: dict[uuid.UUID, Person]


@dataclass
class _Kept:
    read_at: datetime.datetime
    inputs: BoardInputs
    board: Board  # laid out for nobody in particular; good from board.now until board.changes_at


_KEPT: ProcessCache[_Kept] = ProcessCache(64)


async def load_board(
    db: AsyncSession, workspace: WorkspaceRef, viewer_id: uuid.UUID | None, now: datetime.datetime
) -> BoardPage:
    """The board at `now` for the viewer, with the people it names.

    `workspace.board_version` must have been read before anything else of this request (it is, with
    the caller's access): what is kept under it is at least as new as that version.
    """
    kept = _KEPT.get(workspace.id, workspace.board_version, now)
    if kept is None or now < kept.read_at:  # (a request whose clock read earlier than the rows were read)
        inputs = await _read_inputs(db, workspace.id, now)
        fresh = _Kept(now, inputs, build_board(inputs.schedules, inputs.slots, now, None))
        if kept is None:
            _KEPT.put(workspace.id, workspace.board_version, fresh, now + KEEP)
        kept = fresh
    board = kept.board
    if not (board.now <= now and (board.changes_at is None or now < board.changes_at)):
        board = build_board(kept.inputs.schedules, kept.inputs.slots, now, None)
        if board.now > kept.board.now:
            kept.board = board
    return BoardPage(seen_by(board, viewer_id, now), kept.inputs.people)


async def _read_inputs(db: AsyncSession, workspace_id: uuid.UUID, now: datetime.datetime) -> BoardInputs:
    # Plain column rows, not ORM objects: a board of hundreds of schedules reads thousands of slots.
    schedules = (
        await db.execute(
            select(
                OnCallSchedule.id,
                OnCallSchedule.name,
                OnCallSchedule.is_active,
                OnCallSchedule.escalation_to_id,
                OnCallSchedule.rotation_start,
            ).where(OnCallSchedule.workspace_id == workspace_id)
        )
    ).all()
    ids = [s.id for s in schedules]
    slot_rows = (
        (
            await db.execute(
                select(
                    OnCallSlot.schedule_id,
                    OnCallSlot.user_id,
                    OnCallSlot.start_time,
                    OnCallSlot.end_time,
                    OnCallSlot.is_override,
                ).where(
                    OnCallSlot.schedule_id.in_(ids),
                    OnCallSlot.end_time > now,
                    OnCallSlot.start_time < now + UPCOMING + KEEP,
                )
            )
        ).all()
        if ids
        else []
    )
    first_holders: dict[uuid.UUID, uuid.UUID] = {}
    for schedule in (s for s in schedules if s.rotation_start > now):  # not started yet: who comes first
        holder = await db.scalar(
            select(OnCallSlot.user_id)
            .where(OnCallSlot.schedule_id == schedule.id)
            .order_by(OnCallSlot.start_time)
            .limit(1)
        )
        if holder is not None:
            first_holders[schedule.id] = holder
    wanted = {s.user_id for s in slot_rows} | {s.escalation_to_id for s in schedules if s.escalation_to_id}
    wanted |= set(first_holders.values())
    people: dict[uuid.UUID, Person] = {}
    if wanted:
        rows = await db.execute(select(UserProfile.id, UserProfile.display_name).where(UserProfile.id.in_(wanted)))
        people = {row.id: Person(row.id, row.display_name) for row in rows}
    return BoardInputs(
        [
            BoardSchedule(s.id, s.name, s.is_active, s.escalation_to_id, s.rotation_start, first_holders.get(s.id))
            for s in schedules
        ],
        [BoardSlot(*row) for row in slot_rows],
        people,
    )


@dataclass(frozen=True)
class OwnDuty:
    """The viewer's current shifts, or else their next one."""

    current: list[tuple[OnCallSchedule, OnCallSlot]]
    upcoming: tuple[OnCallSchedule, OnCallSlot] | None


async def own_duty(db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, now: datetime.datetime) -> OwnDuty:
    """What the workspace home tells the viewer about their own on-call duty."""
    rows = (
        await db.execute(
            select(OnCallSchedule, OnCallSlot)
            .join(OnCallSlot, OnCallSlot.schedule_id == OnCallSchedule.id)
            .where(
                OnCallSchedule.workspace_id == workspace_id,
                OnCallSchedule.is_active,
                OnCallSlot.user_id == user_id,
                OnCallSlot.end_time > now,
            )
            .order_by(OnCallSlot.start_time)
            .limit(20)
        )
    ).all()
    current = [(schedule, slot) for schedule, slot in rows if slot.start_time <= now]
    upcoming = next(((schedule, slot) for schedule, slot in rows if slot.start_time > now), None)
    return OwnDuty(current, None if current else upcoming)
