"""The on-call board: who is up now on every schedule, what is wrong, and the coming hand-offs.

Pure: plain values in (schedules, the slots around now, `now`, the viewer), decisions out.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

UPCOMING = datetime.timedelta(days=14)
MAX_REFRESH = datetime.timedelta(seconds=30)


@dataclass(frozen=True)
class BoardSchedule:
    id: uuid.UUID
    name: str
    is_active: bool
    backup_id: uuid.UUID | None
    starts_at: datetime.datetime | None = None  # the rotation's start (a schedule may start later)
    first_holder: uuid.UUID | None = None  # who holds its first slot, for one that has not started


@dataclass(frozen=True)
class BoardSlot:
    schedule_id: uuid.UUID
    user_id: uuid.UUID
    start: datetime.datetime
    end: datetime.datetime
    is_override: bool


@dataclass(frozen=True)
class Handoff:
    """At `at`, `to_user` takes over `schedule_id` from `from_user` (None after a gap)."""

    schedule_id: uuid.UUID
    at: datetime.datetime
    from_user: uuid.UUID | None
    to_user: uuid.UUID


@dataclass(frozen=True)
class ScheduleStatus:
    schedule: BoardSchedule
    current: BoardSlot | None
    next_handoff: Handoff | None
    # "inactive", "not_started", "gap" or "ran_out": why nobody is paged; None when all is well
    problem: str | None
    gap_until: datetime.datetime | None  # for a gap or a schedule not started yet: when the next slot starts

    @property
    def fix(self) -> str | None:
        """What an admin can do about the problem right there: activate, or extend the rotation."""
        return {"inactive": "activate", "ran_out": "extend"}.get(self.problem or "")


@dataclass(frozen=True)
class Board:
    now: datetime.datetime
    statuses: tuple[ScheduleStatus, ...]
    highlight: tuple[ScheduleStatus, ...]  # active schedules with a primary; the viewer's own first
    handoffs: tuple[Handoff, ...]  # the next 14 days, in time order
    viewer_on_call: tuple[ScheduleStatus, ...]
    refresh_in: datetime.timedelta  # when the board next changes by itself (at most MAX_REFRESH)
    # The next moment anything on it changes by itself (a hand-off passing, a shift or gap ending,
    # a hand-off coming into the 14 days); until then only a write can change it.
    changes_at: datetime.datetime | None = None

    @property
    def names(self) -> dict[uuid.UUID, str]:
        """Schedule names by id (for listing hand-offs)."""
        return {s.schedule.id: s.schedule.name for s in self.statuses}


def build_board(
    schedules: Sequence[BoardSchedule],
    slots: Sequence[BoardSlot],
    now: datetime.datetime,
    viewer_id: uuid.UUID | None,
) -> Board:
    """Lay the slots meeting [now, now + 14 days) out per schedule.

    A hand-off is a slot start inside the window whose holder differs from the slot before it
    (two slots of the same person back to back are one stretch of duty). An inactive schedule or
    a schedule with no slot covering now is a problem, and the board says why.
    """
    by_schedule: dict[uuid.UUID, list[BoardSlot]] = defaultdict(list)
    for slot in sorted(slots, key=lambda s: s.start):
        by_schedule[slot.schedule_id].append(slot)
    horizon = now + UPCOMING
    statuses: list[ScheduleStatus] = []
    handoffs: list[Handoff] = []
    starts: list[datetime.datetime] = []  # the next slot start of each schedule, active or not
    for schedule in sorted(schedules, key=lambda s: s.name.lower()):
        own = [s for s in by_schedule.get(schedule.id, []) if s.end > now and s.start < horizon]
        current = next((s for s in own if s.start <= now < s.end), None)
        starts += [s.start for s in own if s.start > now][:1]
        mine = _handoffs(schedule.id, own, now, horizon) if schedule.is_active else []
        handoffs.extend(mine)
        problem, gap_until = _problem(schedule, current, own, now)
        statuses.append(ScheduleStatus(schedule, current, mine[0] if mine else None, problem, gap_until))
    handoffs.sort(key=lambda h: (h.at, str(h.schedule_id)))
    coming = [s.start - UPCOMING for s in slots if s.start > horizon]  # coming into view
    laid_out = Board(
        now=now,
        statuses=tuple(statuses),
        highlight=(),
        handoffs=tuple(handoffs),
        viewer_on_call=(),
        refresh_in=MAX_REFRESH,
        changes_at=min(
            [
                *starts,  # hand-offs, gaps ending, an inactive schedule's next holder
                *(s.current.end for s in statuses if s.current is not None),
                *(s.gap_until for s in statuses if s.gap_until is not None and s.gap_until > now),
                *coming,
            ],
            default=None,
        ),
    )
    return seen_by(laid_out, viewer_id, now)


def seen_by(board: Board, viewer_id: uuid.UUID | None, now: datetime.datetime) -> Board:
    """The same board for another viewer at a later `now` before `board.changes_at`: only whose shifts
    come first and when to look again differ, so the layout is not done again."""
    on_duty = [s for s in board.statuses if s.schedule.is_active and s.current is not None]
    viewer_on_call = [s for s in on_duty if viewer_id is not None and s.current and s.current.user_id == viewer_id]
    others = [s for s in on_duty if not (s.current and viewer_id is not None and s.current.user_id == viewer_id)]
    upcoming = [at - now for at in (board.changes_at,) if at is not None and at > now]
    return replace(
        board,
        now=now,
        highlight=tuple(viewer_on_call + others),
        viewer_on_call=tuple(viewer_on_call),
        refresh_in=min([MAX_REFRESH, *upcoming]),
    )


def _handoffs(
    schedule_id: uuid.UUID, slots: list[BoardSlot], now: datetime.datetime, horizon: datetime.datetime
) -> list[Handoff]:
    found: list[Handoff] = []
    previous: BoardSlot | None = None
    for slot in slots:
        contiguous = previous is not None and previous.end == slot.start
        holder_before = previous.user_id if contiguous and previous is not None else None
        if now < slot.start < horizon and holder_before != slot.user_id:
            found.append(Handoff(schedule_id, slot.start, holder_before, slot.user_id))
        previous = slot
    return found


def _problem(
    schedule: BoardSchedule, current: BoardSlot | None, slots: list[BoardSlot], now: datetime.datetime
) -> tuple[str | None, datetime.datetime | None]:
    if not schedule.is_active:
        return "inactive", None
    if current is not None:
        return None, None
    if schedule.starts_at is not None and now < schedule.starts_at:
        return "not_started", schedule.starts_at  # nothing has run out: it has not begun
    later = [s for s in slots if s.start > now]
    if later:
        return "gap", later[0].start
    return "ran_out", None
