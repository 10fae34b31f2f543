"""Slot edits, override removal, hand-offs and swaps: each one locked transaction, events after commit.

Permissions: admins and owners act on any slot; role members only on slots they hold (and they
may propose swaps); viewers on nothing. Routes check the role floor, this module the ownership.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Membership, OnCallSchedule, OnCallSlot, SwapRequest, UserProfile
from app.db.transactions import lock_row, writing
from app.domain.layering import Interval
from app.domain.overrides import (
    EditRefused,
    Event,
    OverridePlan,
    SlotState,
    check_member_change,
    check_swap_slots,
    plan_handoff,
    plan_override_removal,
    plan_slot_edit,
    plan_swap,
)
from app.domain.roles import Role
from app.domain.schedules import parse_instant
from app.services import jobs
from app.services.errors import Conflict, FieldError, Forbidden, NotFound, parse_id
from app.services.identity import WorkspaceAccess
from app.services.notifications import add_event_messages
from app.services.schedules import SLOT_ROLES, delete_slots, get_schedule, materialise, slot_at
from app.services.shift_notices import Snapshot, snapshot, tell


@dataclass(frozen=True)
class ChangeResult:
    """The slots a change produced (for the API) and what was announced."""

    slots: list[OnCallSlot]
    events: tuple[Event, ...]


def _state(slot: OnCallSlot) -> SlotState:
    return SlotState(slot.id, slot.user_id, slot.start_time, slot.end_time, slot.is_override)


def _refused(exc: EditRefused) -> Exception:
    if exc.status == 409:
        return Conflict(exc.message)
    if exc.status == 403:
        return Forbidden(exc.message, exc.field)
    return FieldError.one(exc.field, exc.message)


async def holds_time(db: AsyncSession, schedule_id: uuid.UUID, user_id: uuid.UUID, now: datetime.datetime) -> bool:
    """Whether the person holds any slot of the schedule that has not ended (so they have time to
    hand off or edit)."""
    found = await db.scalar(
        select(OnCallSlot.id)
        .where(OnCallSlot.schedule_id == schedule_id, OnCallSlot.user_id == user_id, OnCallSlot.end_time > now)
        .limit(1)
    )
    return found is not None


async def slot_in_workspace(db: AsyncSession, workspace_id: uuid.UUID, slot_id: uuid.UUID | str) -> OnCallSlot:
    parsed = parse_id(slot_id, "slot")
    row = (
        await db.execute(
            select(OnCallSlot, OnCallSchedule.workspace_id)
            .join(OnCallSchedule, OnCallSchedule.id == OnCallSlot.schedule_id)
            .where(OnCallSlot.id == parsed)
        )
    ).first()
    if row is None or row[1] != workspace_id:
        raise NotFound("No such slot.")
    return row[0]


async def _eligible_user(db: AsyncSession, workspace_id: uuid.UUID, email: str, field: str) -> uuid.UUID:
    if not email.strip():
        raise FieldError.one(field, "Pick who takes over.")
    user_id = await db.scalar(
        select(UserProfile.id)
        .join(Membership, Membership.user_id == UserProfile.id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.is_active,
            Membership.role.in_(SLOT_ROLES),
            UserProfile.email == email.strip().lower(),
        )
    )
    if user_id is None:
        raise FieldError.one(field, f"{email} is not an active member of this workspace with role member or above.")
    return user_id


def require_own(
    access: WorkspaceAccess,
    slot: OnCallSlot,
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
) -> None:
    """The one rule of who may change which time (app/domain/overrides.py check_member_change)."""
    try:
        check_member_change(_state(slot), access.user.id, access.allows(Role.ADMIN), start, end)
    except EditRefused as exc:
        raise _refused(exc) from None


async def _overrides_near(
    db: AsyncSession, schedule_id: uuid.UUID, start: datetime.datetime, end: datetime.datetime
) -> list[SlotState]:
    rows = await db.scalars(
        select(OnCallSlot).where(
            OnCallSlot.schedule_id == schedule_id,
            OnCallSlot.is_override,
            OnCallSlot.end_time > start,
            OnCallSlot.start_time < end,
        )
    )
    return [_state(slot) for slot in rows]


async def _apply(
    db: AsyncSession, schedule: OnCallSchedule, plan: OverridePlan, now: datetime.datetime
) -> list[OnCallSlot]:
    """Write a plan under the (held) schedule lock and lay the rotation around it."""
    if plan.remove:
        await delete_slots(db, schedule.id, list(plan.remove), now)
    for slot_id, new_end in plan.shorten:
        await db.execute(update(OnCallSlot).where(OnCallSlot.id == slot_id).values(end_time=new_end, updated_at=now))
    added = [Interval(o.user, o.start, o.end) for o in plan.add]
    if plan.relay_from is not None or added:
        since = plan.relay_from or min(o.start for o in added)
        await materialise(db, schedule, since, now, add_overrides=added)
    created: list[OnCallSlot] = []
    for override in plan.add:
        slot = await db.scalar(
            select(OnCallSlot).where(
                OnCallSlot.schedule_id == schedule.id,
                OnCallSlot.is_override,
                OnCallSlot.start_time == override.start,
                OnCallSlot.user_id == override.user,
            )
        )
        if slot is not None:
            created.append(slot)
    return created


_RECIPIENTS = ("previous_user", "user", "requester", "target")


async def _tell(
    db: AsyncSession, befores: list[Snapshot], events: Sequence[Event], now: datetime.datetime, actor: uuid.UUID
) -> list[uuid.UUID]:
    """The change's on-call DMs and "your shifts changed" notices, as rows of its transaction; a person
    who gets a DM finds the notice in it rather than in a second Slack message."""
    recipients = {uuid.UUID(str(e.payload[k])) for e in events for k in _RECIPIENTS if e.payload.get(k)}
    rows, carried = await tell(db, befores, now, actor, recipients)
    return await add_event_messages(db, events, now, extra=carried) + rows


def _with_context(events: Iterable[Event], schedule: OnCallSchedule, actor: uuid.UUID) -> tuple[Event, ...]:
    extra: dict[str, Any] = {
        "workspace_id": str(schedule.workspace_id),
        "schedule_id": str(schedule.id),
        "actor": str(actor),
    }
    return tuple(Event(e.name, {**e.payload, **extra}) for e in events)


async def _locked_schedule(db: AsyncSession, schedule_id: uuid.UUID) -> OnCallSchedule:
    await lock_row(db, OnCallSchedule, schedule_id)
    schedule = await db.get(OnCallSchedule, schedule_id, populate_existing=True)
    if schedule is None:
        raise NotFound("No such schedule.")
    return schedule


async def _locked_own_slot(
    db: AsyncSession, access: WorkspaceAccess, slot_id: uuid.UUID | str
) -> tuple[OnCallSchedule, OnCallSlot]:
    """The slot, re-read under its schedule's lock, after checking the caller may change it."""
    found = await slot_in_workspace(db, access.workspace.id, slot_id)
    schedule = await _locked_schedule(db, found.schedule_id)
    slot = await db.get(OnCallSlot, found.id, populate_existing=True)
    if slot is None:
        raise NotFound("No such slot.")
    require_own(access, slot)
    return schedule, slot


# ---------------------------------------------------------------- operations


async def edit_slot(
    db: AsyncSession,
    access: WorkspaceAccess,
    slot_id: uuid.UUID | str,
    changes: dict[str, Any],
    now: datetime.datetime,
) -> ChangeResult:
    """Make the slot (or the part of it given by start/end) an override for `user`."""
    async with writing(db):
        schedule, slot = await _locked_own_slot(db, access, slot_id)
        errors: dict[str, str] = {}
        start = parse_instant(changes.get("start"), "start", errors) or slot.start_time
        end = parse_instant(changes.get("end"), "end", errors) or slot.end_time
        if errors:
            raise FieldError(errors)
        require_own(access, slot, start, end)
        email = changes.get("user")
        user = await _eligible_user(db, access.workspace.id, str(email), "user") if email else slot.user_id
        overrides = await _overrides_near(db, schedule.id, min(start, slot.start_time), max(end, slot.end_time))
        try:
            plan = plan_slot_edit(_state(slot), user, start, end, overrides, now)
        except EditRefused as exc:
            raise _refused(exc) from None
        before = await snapshot(db, schedule.id, now)
        created = await _apply(db, schedule, plan, now)
        events = _with_context(plan.events, schedule, access.user.id)
        messages = await _tell(db, [before], events, now, access.user.id)
    await jobs.deliver(messages)
    return ChangeResult(created, events)


async def remove_override(
    db: AsyncSession, access: WorkspaceAccess, slot_id: uuid.UUID | str, now: datetime.datetime
) -> ChangeResult:
    """Delete an override (admins, or its holder); the rotation covers that time again."""
    async with writing(db):
        schedule, slot = await _locked_own_slot(db, access, slot_id)
        try:
            plan = plan_override_removal(_state(slot), now)
        except EditRefused as exc:
            raise _refused(exc) from None
        before = await snapshot(db, schedule.id, now)
        await _apply(db, schedule, plan, now)
        events = _with_context(plan.events, schedule, access.user.id)
        messages = await _tell(db, [before], events, now, access.user.id)
    await jobs.deliver(messages)
    return ChangeResult([], events)


async def hand_off(
    db: AsyncSession,
    access: WorkspaceAccess,
    schedule_id: uuid.UUID | str,
    to_email: str,
    at_raw: str | datetime.datetime | None,
    now: datetime.datetime,
) -> ChangeResult:
    """Hand the slot covering `at` (default now) to someone else until that slot's end."""
    errors: dict[str, str] = {}
    at = at_raw if isinstance(at_raw, datetime.datetime) else parse_instant(at_raw, "at", errors)
    if errors:
        raise FieldError(errors)
    at = at or now
    async with writing(db):
        found = await get_schedule(db, access.workspace.id, schedule_id)
        schedule = await _locked_schedule(db, found.id)
        to_user = await _eligible_user(db, access.workspace.id, to_email, "to")
        covering = await slot_at(db, schedule.id, at)
        if covering is not None:
            require_own(access, covering)
        overrides = await _overrides_near(db, schedule.id, at, covering.end_time if covering else at)
        try:
            plan = plan_handoff(_state(covering) if covering else None, to_user, at, overrides, now)
        except EditRefused as exc:
            raise _refused(exc) from None
        shifts_before = await snapshot(db, schedule.id, now)
        created = await _apply(db, schedule, plan, now)
        before = await db.scalar(
            select(OnCallSlot).where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.end_time == at)
        )
        events = _with_context(plan.events, schedule, access.user.id)
        messages = await _tell(db, [shifts_before], events, now, access.user.id)
    await jobs.deliver(messages)
    return ChangeResult(([before] if before else []) + created, events)


# ---------------------------------------------------------------- swaps


@dataclass(frozen=True)
class SwapView:
    request: SwapRequest
    requester: UserProfile
    target: UserProfile
    state: str  # pending, accepted, declined, void, expired
    requester_schedule: str = ""
    target_schedule: str = ""


def _swap_state(request: SwapRequest, now: datetime.datetime) -> str:
    if request.status == "pending" and min(request.requester_start, request.target_start) <= now:
        return "expired"
    return request.status


async def propose_swap(
    db: AsyncSession, access: WorkspaceAccess, my_slot_id: str, their_slot_id: str, now: datetime.datetime
) -> SwapRequest:
    """Offer one of my future slots for one of someone else's; they accept or decline."""
    async with writing(db):
        mine = await slot_in_workspace(db, access.workspace.id, my_slot_id)
        theirs = await slot_in_workspace(db, access.workspace.id, their_slot_id)
        try:
            check_swap_slots(_state(mine), _state(theirs), access.user.id, now)
        except EditRefused as exc:
            raise _refused(exc) from None
        request = SwapRequest(
            workspace_id=access.workspace.id,
            requester_id=access.user.id,
            target_id=theirs.user_id,
            requester_slot_id=mine.id,
            requester_schedule_id=mine.schedule_id,
            requester_start=mine.start_time,
            requester_end=mine.end_time,
            target_slot_id=theirs.id,
            target_schedule_id=theirs.schedule_id,
            target_start=theirs.start_time,
            target_end=theirs.end_time,
            status="pending",
        )
        db.add(request)
        await db.flush()
        event = Event("oncall.swap_requested", _swap_payload(request, access.user.id))
        messages = await add_event_messages(db, [event], now)
    await jobs.deliver(messages)
    return request


def _swap_payload(request: SwapRequest, actor: uuid.UUID) -> dict[str, Any]:
    return {
        "workspace_id": str(request.workspace_id),
        "swap_id": str(request.id),
        "requester": str(request.requester_id),
        "target": str(request.target_id),
        "requester_schedule_id": str(request.requester_schedule_id),
        "requester_start": request.requester_start.isoformat(),
        "requester_end": request.requester_end.isoformat(),
        "target_schedule_id": str(request.target_schedule_id),
        "target_start": request.target_start.isoformat(),
        "target_end": request.target_end.isoformat(),
        "status": request.status,
        "actor": str(actor),
    }


async def decide_swap(
    db: AsyncSession, access: WorkspaceAccess, swap_id: str, accept: bool, now: datetime.datetime
) -> SwapRequest:
    """The other person accepts (both slots become overrides, in one transaction) or declines."""
    parsed = parse_id(swap_id, "swap request")
    async with writing(db):
        request = await db.get(SwapRequest, parsed)
        if request is None or request.workspace_id != access.workspace.id:
            raise NotFound("No such swap request.")
        if request.target_id != access.user.id:
            raise Forbidden("Only the person asked can accept or decline this swap.")
        # Lock both schedules in a fixed order so two swaps cannot deadlock.
        schedules = {
            sid: await _locked_schedule(db, sid)
            for sid in sorted({request.requester_schedule_id, request.target_schedule_id}, key=str)
        }
        await db.refresh(request)
        state = _swap_state(request, now)
        if state != "pending":
            raise Conflict(f"This swap request is {state}.")
        snapshots: list[Snapshot] = []
        if not accept:
            request.status, request.decided_at = "declined", now
            event = Event("oncall.swap_declined", _swap_payload(request, access.user.id))
        else:
            mine = await db.get(OnCallSlot, request.requester_slot_id, populate_existing=True)
            theirs = await db.get(OnCallSlot, request.target_slot_id, populate_existing=True)
            unchanged = (
                mine is not None
                and theirs is not None
                and (mine.user_id, mine.start_time, mine.end_time)
                == (request.requester_id, request.requester_start, request.requester_end)
                and (theirs.user_id, theirs.start_time, theirs.end_time)
                == (request.target_id, request.target_start, request.target_end)
            )
            if not unchanged or mine is None or theirs is None:
                request.status, request.decided_at = "void", now
                await db.flush()
                event = Event("oncall.swap_void", _swap_payload(request, access.user.id))
            else:
                overrides = await _overrides_near(
                    db, mine.schedule_id, mine.start_time, mine.end_time
                ) + await _overrides_near(db, theirs.schedule_id, theirs.start_time, theirs.end_time)
                try:
                    first, second = plan_swap(_state(mine), _state(theirs), overrides, now)
                except EditRefused as exc:
                    raise _refused(exc) from None
                snapshots = [await snapshot(db, schedule_id, now) for schedule_id in schedules]
                await _apply(db, schedules[mine.schedule_id], first, now)
                await _apply(db, schedules[theirs.schedule_id], second, now)
                request.status, request.decided_at = "accepted", now
                event = Event("oncall.swap_accepted", _swap_payload(request, access.user.id))
        messages = await _tell(db, snapshots, [event], now, access.user.id)
    await jobs.deliver(messages)
    if request.status == "void":
        raise Conflict("One of the two slots changed since the swap was proposed, so the request is void.")
    return request


async def swaps_for(db: AsyncSession, access: WorkspaceAccess, now: datetime.datetime) -> list[SwapView]:
    """Swap requests the viewer made or was asked, newest first (the last 30 days)."""
    rows = await db.scalars(
        select(SwapRequest)
        .where(
            SwapRequest.workspace_id == access.workspace.id,
            (SwapRequest.requester_id == access.user.id) | (SwapRequest.target_id == access.user.id),
            SwapRequest.created_at > now - datetime.timedelta(days=30),
        )
        .order_by(SwapRequest.created_at.desc())
    )
    names = dict(
        (
            await db.execute(
                select(OnCallSchedule.id, OnCallSchedule.name).where(OnCallSchedule.workspace_id == access.workspace.id)
            )
        )
        .tuples()
        .all()
    )
    views = []
    for request in rows:
        requester = await db.get(UserProfile, request.requester_id)
        target = await db.get(UserProfile, request.target_id)
        if requester and target:
            views.append(
                SwapView(
                    request,
                    requester,
                    target,
                    _swap_state(request, now),
                    names.get(request.requester_schedule_id, "?"),
                    names.get(request.target_schedule_id, "?"),
                )
            )
    return views


async def slot_of_on(
    db: AsyncSession,
    access: WorkspaceAccess,
    email: str,
    day: datetime.date,
    zone: ZoneInfo,
    now: datetime.datetime,
    prefer_schedule: uuid.UUID | None = None,
) -> uuid.UUID:
    """The not-yet-started slot someone holds on a day in `zone` (of `prefer_schedule` first, the
    schedule of the slot offered): how a swap names the other person's time without a menu of every
    slot."""
    start = datetime.datetime.combine(day, datetime.time(0), zone).astimezone(datetime.UTC)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), zone).astimezone(datetime.UTC)
    user_id = await _eligible_user(db, access.workspace.id, email, "their_person")
    found = await db.scalar(
        select(OnCallSlot.id)
        .join(OnCallSchedule, OnCallSchedule.id == OnCallSlot.schedule_id)
        .where(
            OnCallSchedule.workspace_id == access.workspace.id,
            OnCallSlot.user_id == user_id,
            OnCallSlot.start_time >= max(start, now),
            OnCallSlot.start_time < end,
        )
        .order_by((OnCallSlot.schedule_id == prefer_schedule).desc(), OnCallSlot.start_time)
        .limit(1)
    )
    if found is None:
        raise FieldError.one(
            "their_date", f"{email} has no shift starting that day; pick a day one of their upcoming shifts starts."
        )
    return found


async def swap_choices(
    db: AsyncSession, access: WorkspaceAccess, now: datetime.datetime
) -> tuple[list[tuple[OnCallSlot, str]], list[tuple[str, str]]]:
    """For the swap form: my future slots in the next 8 weeks (the first 100), and who else holds a
    slot then (email, name) — two small queries, however many schedules the workspace has."""
    window = (
        OnCallSchedule.workspace_id == access.workspace.id,
        OnCallSchedule.is_active,
        OnCallSlot.start_time > now,
        OnCallSlot.start_time < now + datetime.timedelta(weeks=8),
    )
    mine = (
        await db.execute(
            select(OnCallSlot, OnCallSchedule.name)
            .join(OnCallSchedule, OnCallSchedule.id == OnCallSlot.schedule_id)
            .where(*window, OnCallSlot.user_id == access.user.id)
            .order_by(OnCallSlot.start_time)
            .limit(100)
        )
    ).all()
    holders = (
        select(OnCallSlot.user_id)
        .join(OnCallSchedule, OnCallSchedule.id == OnCallSlot.schedule_id)
        .where(*window, OnCallSlot.user_id != access.user.id)
        .distinct()
    )
    theirs = (
        await db.execute(
            select(UserProfile.email, UserProfile.display_name)
            .where(UserProfile.id.in_(holders))
            .order_by(UserProfile.display_name)
        )
    ).all()
    return [(slot, name) for slot, name in mine], [(email, name) for email, name in theirs]
