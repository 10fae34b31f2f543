"""Schedules and their slots: every change is one transaction holding the schedule's lock.

The rotation math is app/domain/rotation.py and the layering app/domain/layering.py; this module
loads, asks them, and writes the result (in bulk).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    EscalationPolicy,
    EscalationStep,
    EscalationTarget,
    Membership,
    OnCallSchedule,
    OnCallSlot,
    RotationMember,
    UserProfile,
)
from app.db.transactions import lock_row, retrying, writing
from app.domain.layering import ExistingSlot, Interval, plan_regeneration, subtract_overrides
from app.domain.roles import Role
from app.domain.rotation import Cadence, Rotation, RotationKind, next_boundary, shift_at, shifts_between
from app.domain.schedules import ScheduleDefinition, ScheduleFieldErrors, parse_definition, parse_instant
from app.services import jobs
from app.services.errors import Conflict, FieldError, NotFound, parse_id
from app.services.pagerduty_policy import policy_for_service
from app.services.paging_targets import pagers_of
from app.services.shift_notices import snapshot, tell

SLOT_ROLES = (Role.MEMBER.value, Role.ADMIN.value, Role.OWNER.value)


@dataclass(frozen=True)
class ScheduleView:
    """A schedule with its people resolved, for pages and the API."""

    schedule: OnCallSchedule
    members: tuple[UserProfile, ...]
    inactive_members: tuple[UserProfile, ...]
    backup: UserProfile | None
    policy: EscalationPolicy | None = None  # when set, its steps replace the backup

    @property
    def unpageable(self) -> tuple[UserProfile, ...]:
        """Rotation members and the backup whom no page can reach (no verified phone or Slack id)."""
        people = (*self.members, *((self.backup,) if self.backup else ()))
        return tuple(p for p in dict.fromkeys(people) if not (p.paging_phone or p.paging_slack_id))


@dataclass(frozen=True)
class OnCall:
    """Who holds a schedule at one instant."""

    schedule: OnCallSchedule
    slot: OnCallSlot | None
    primary: UserProfile | None
    backup: UserProfile | None


def _field_error(exc: ScheduleFieldErrors) -> FieldError:
    return FieldError(exc.errors)


def cadence_of(schedule: OnCallSchedule) -> Cadence:
    return Cadence(
        RotationKind(schedule.rotation),
        schedule.handoff_time,
        handoff_weekday=schedule.handoff_weekday,
        shift_hours=schedule.shift_hours,
        shift_days=schedule.shift_days,
    )


def horizon_end(schedule: OnCallSchedule, now: datetime.datetime) -> datetime.datetime:
    return now + datetime.timedelta(weeks=schedule.horizon_weeks)


def covered_until(rotation: Rotation[Any], horizon: datetime.datetime) -> datetime.datetime:
    """The end of the shift that covers the horizon: slots are whole shifts, so extending later
    appends the next shift instead of a stub of the same person's."""
    shift = shift_at(rotation, horizon - datetime.timedelta(microseconds=1))
    return max(shift.end, horizon) if shift is not None else horizon


# ---------------------------------------------------------------- reading


def _given(raw: object) -> bool:
    return raw is not None and not (isinstance(raw, str) and not raw.strip())


async def delete_slots(db: AsyncSession, schedule_id: uuid.UUID, ids: list[uuid.UUID], now: datetime.datetime) -> None:
    """Delete slots, marking the slots that touched them as changed (updated_at): a shift whose end
    moves back because the slot after it went keeps its UID in calendar feeds, with SEQUENCE and
    LAST-MODIFIED raised (app/domain/shifts.py)."""
    removed = (
        await db.execute(
            select(OnCallSlot.user_id, OnCallSlot.start_time, OnCallSlot.end_time).where(OnCallSlot.id.in_(ids))
        )
    ).all()
    await db.execute(delete(OnCallSlot).where(OnCallSlot.id.in_(ids)))
    for user_id, start, end in removed:
        # Only the same person's slots it joined: other people's shifts did not change.
        await db.execute(
            update(OnCallSlot)
            .where(
                OnCallSlot.schedule_id == schedule_id,
                OnCallSlot.user_id == user_id,
                or_(OnCallSlot.end_time == start, OnCallSlot.start_time == end),
            )
            .values(updated_at=now)
        )


async def workspace_policy(db: AsyncSession, workspace_id: uuid.UUID, raw: object) -> uuid.UUID | None:
    """A policy id from a body or form (blank for none), checked to be of this workspace."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        policy = await db.get(EscalationPolicy, uuid.UUID(str(raw)))
    except ValueError:
        policy = None
    if policy is None or policy.workspace_id != workspace_id:
        raise FieldError.one("escalation_policy_id", "Choose an escalation policy of this workspace.")
    return policy.id


async def get_schedule(db: AsyncSession, workspace_id: uuid.UUID, schedule_id: uuid.UUID | str) -> OnCallSchedule:
    """The schedule of this workspace, or NotFound (also for a malformed id)."""
    schedule = await db.get(OnCallSchedule, parse_id(schedule_id, "schedule"))
    if schedule is None or schedule.workspace_id != workspace_id:
        raise NotFound("No such schedule.")
    return schedule


async def list_schedules(db: AsyncSession, workspace_id: uuid.UUID) -> list[OnCallSchedule]:
    rows = await db.scalars(
        select(OnCallSchedule).where(OnCallSchedule.workspace_id == workspace_id).order_by(OnCallSchedule.name)
    )
    return list(rows)


async def describe(db: AsyncSession, schedule: OnCallSchedule) -> ScheduleView:
    """The schedule's rotation members in order (split by whether they can still hold slots) and backup."""
    rows = (
        await db.execute(
            select(UserProfile, Membership.is_active, Membership.role)
            .join(RotationMember, RotationMember.user_id == UserProfile.id)
            .outerjoin(
                Membership,
                (Membership.user_id == UserProfile.id) & (Membership.workspace_id == schedule.workspace_id),
            )
            .where(RotationMember.schedule_id == schedule.id)
            .order_by(RotationMember.position)
        )
    ).all()
    members = tuple(user for user, _, _ in rows)
    inactive = tuple(user for user, active, role in rows if not active or role not in SLOT_ROLES)
    backup = await db.get(UserProfile, schedule.escalation_to_id) if schedule.escalation_to_id else None
    policy = await db.get(EscalationPolicy, schedule.escalation_policy_id) if schedule.escalation_policy_id else None
    return ScheduleView(schedule, members, inactive, backup, policy)


async def slots_between(
    db: AsyncSession, schedule_id: uuid.UUID, start: datetime.datetime, end: datetime.datetime
) -> list[tuple[OnCallSlot, UserProfile]]:
    """Slots meeting [start, end), sorted by start, with their holders."""
    rows = await db.execute(
        select(OnCallSlot, UserProfile)
        .join(UserProfile, UserProfile.id == OnCallSlot.user_id)
        .where(OnCallSlot.schedule_id == schedule_id, OnCallSlot.end_time > start, OnCallSlot.start_time < end)
        .order_by(OnCallSlot.start_time)
    )
    return [(slot, user) for slot, user in rows.all()]


async def slot_at(db: AsyncSession, schedule_id: uuid.UUID, at: datetime.datetime) -> OnCallSlot | None:
    """The slot covering `at`: slots never overlap, so the first one ending after `at` if it began by then."""
    slot = await db.scalar(
        select(OnCallSlot)
        .where(OnCallSlot.schedule_id == schedule_id, OnCallSlot.end_time > at)
        .order_by(OnCallSlot.end_time)
        .limit(1)
    )
    return slot if slot is not None and slot.start_time <= at else None


async def oncall_for_all(db: AsyncSession, schedules: Sequence[OnCallSchedule], at: datetime.datetime) -> list[OnCall]:
    """Who holds each schedule at `at`, in two queries however many schedules there are."""
    active = [s.id for s in schedules if s.is_active]
    slots: dict[uuid.UUID, OnCallSlot] = {}
    if active:
        rows = await db.scalars(
            select(OnCallSlot).where(
                OnCallSlot.schedule_id.in_(active), OnCallSlot.end_time > at, OnCallSlot.start_time <= at
            )
        )
        slots = {slot.schedule_id: slot for slot in rows}
    wanted = {slot.user_id for slot in slots.values()} | {s.escalation_to_id for s in schedules if s.escalation_to_id}
    people: dict[uuid.UUID, UserProfile] = {}
    if wanted:
        people = {u.id: u for u in await db.scalars(select(UserProfile).where(UserProfile.id.in_(wanted)))}
    result = []
    for schedule in schedules:
        slot = slots.get(schedule.id)
        primary = people.get(slot.user_id) if slot is not None else None
        backup = people.get(schedule.escalation_to_id) if schedule.escalation_to_id else None
        result.append(OnCall(schedule, slot, primary, backup))
    return result


async def oncall_changes_at(
    db: AsyncSession, oncall: Sequence[OnCall], at: datetime.datetime, cap: datetime.timedelta
) -> datetime.datetime:
    """When `oncall_for_all(at)` next changes without a write: a current slot ending, a later slot
    starting (after a gap, or a rotation not begun), or `at + cap` if sooner."""
    ends = [o.slot.end_time for o in oncall if o.slot is not None]
    active = [o.schedule.id for o in oncall if o.schedule.is_active]
    starts = (
        await db.scalar(
            select(func.min(OnCallSlot.start_time)).where(
                OnCallSlot.schedule_id.in_(active), OnCallSlot.start_time > at, OnCallSlot.start_time < at + cap
            )
        )
        if active
        else None
    )
    return min([at + cap, *ends, *([starts] if starts is not None else [])])


async def oncall_at(db: AsyncSession, schedule: OnCallSchedule, at: datetime.datetime) -> OnCall:
    """Primary and backup of `schedule` at `at`; an inactive schedule has no primary."""
    slot = await slot_at(db, schedule.id, at) if schedule.is_active else None
    primary = await db.get(UserProfile, slot.user_id) if slot is not None else None
    backup = await db.get(UserProfile, schedule.escalation_to_id) if schedule.escalation_to_id else None
    return OnCall(schedule, slot, primary, backup)


# ---------------------------------------------------------------- people


async def _resolve_people(
    db: AsyncSession, workspace_id: uuid.UUID, definition: ScheduleDefinition
) -> tuple[list[uuid.UUID], uuid.UUID | None]:
    """Rotation members and backup as user ids; each must be an active member with role member or above."""
    wanted = set(definition.members) | ({definition.escalation_to} if definition.escalation_to else set())
    rows = await db.execute(
        select(UserProfile.email, UserProfile.id)
        .join(Membership, Membership.user_id == UserProfile.id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.is_active,
            Membership.role.in_(SLOT_ROLES),
            UserProfile.email.in_(wanted),
        )
    )
    eligible: dict[str, uuid.UUID] = dict(rows.all())
    errors: dict[str, str] = {}
    missing = [email for email in definition.members if email not in eligible]
    if missing:
        errors["members"] = (
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not an active member of this workspace "
            "with role member or above."
        )
    if definition.escalation_to and definition.escalation_to not in eligible:
        errors["escalation_to"] = (
            f"{definition.escalation_to} is not an active member of this workspace with role member or above."
        )
    if errors:
        raise FieldError(errors)
    backup = eligible[definition.escalation_to] if definition.escalation_to else None
    return [eligible[email] for email in definition.members], backup


async def rotation_members(db: AsyncSession, schedule: OnCallSchedule) -> list[uuid.UUID]:
    """Rotation members who may hold slots now, in order: deactivated people and viewers are skipped."""
    rows = await db.scalars(
        select(RotationMember.user_id)
        .join(
            Membership,
            (Membership.user_id == RotationMember.user_id) & (Membership.workspace_id == schedule.workspace_id),
        )
        .where(RotationMember.schedule_id == schedule.id, Membership.is_active, Membership.role.in_(SLOT_ROLES))
        .order_by(RotationMember.position)
    )
    return list(rows)


async def _set_members(db: AsyncSession, schedule_id: uuid.UUID, member_ids: Sequence[uuid.UUID]) -> None:
    await db.execute(delete(RotationMember).where(RotationMember.schedule_id == schedule_id))
    await db.execute(
        insert(RotationMember),
        [
            {"id": uuid.uuid4(), "schedule_id": schedule_id, "user_id": uid, "position": i}
            for i, uid in enumerate(member_ids)
        ],
    )


# ---------------------------------------------------------------- materialising


async def materialise(
    db: AsyncSession,
    schedule: OnCallSchedule,
    since: datetime.datetime,
    now: datetime.datetime,
    add_overrides: Sequence[Interval[uuid.UUID]] = (),
) -> int:
    """Make the rotation slots from `since` to the horizon equal the pattern minus the overrides,
    inserting `add_overrides` as new override slots once the rotation has made room for them.

    Call with the schedule locked. Unchanged slots are left alone; returns slots inserted or changed.
    """
    until = horizon_end(schedule, now)
    existing = (
        await db.scalars(
            select(OnCallSlot)
            .where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.end_time > since)
            .order_by(OnCallSlot.start_time)
        )
    ).all()
    overrides = [Interval(s.user_id, s.start_time, s.end_time) for s in existing if s.is_override]
    overrides += list(add_overrides)
    rotation_slots = [ExistingSlot(s.id, s.user_id, s.start_time, s.end_time) for s in existing if not s.is_override]
    members = await rotation_members(db, schedule)
    desired: list[Interval[uuid.UUID]] = []
    if members and since < until:
        rotation = Rotation(cadence_of(schedule), ZoneInfo(schedule.time_zone), schedule.rotation_start, tuple(members))
        # Never shrink coverage: slots a later `now` already laid (another process's extend) stay covered.
        until = max([covered_until(rotation, until), *(s.end_time for s in existing)])
        shifts = shifts_between(rotation, max(since, schedule.rotation_start), until)
        desired = subtract_overrides(shifts, overrides)
    plan = plan_regeneration(rotation_slots, desired, since)
    if plan.delete:
        await delete_slots(db, schedule.id, list(plan.delete), now)
    stamp = now
    for slot_id, start, end in plan.update:
        await db.execute(
            update(OnCallSlot).where(OnCallSlot.id == slot_id).values(start_time=start, end_time=end, updated_at=stamp)
        )
    if add_overrides:
        # After the rotation slots they replace are gone (the exclusion constraint checks at once).
        await db.execute(
            insert(OnCallSlot),
            [
                {
                    "id": uuid.uuid4(),
                    "schedule_id": schedule.id,
                    "user_id": o.member,
                    "start_time": o.start,
                    "end_time": o.end,
                    "is_override": True,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for o in add_overrides
            ],
        )
    if plan.insert:
        await db.execute(
            insert(OnCallSlot),
            [
                {
                    "id": uuid.uuid4(),
                    "schedule_id": schedule.id,
                    "user_id": interval.member,
                    "start_time": interval.start,
                    "end_time": interval.end,
                    "is_override": False,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for interval in plan.insert
            ],
        )
    return len(plan.insert) + len(plan.update)


async def _locked(db: AsyncSession, workspace_id: uuid.UUID, schedule_id: uuid.UUID | str) -> OnCallSchedule:
    schedule = await get_schedule(db, workspace_id, schedule_id)
    await lock_row(db, OnCallSchedule, schedule.id)
    await db.refresh(schedule)
    return schedule


async def current_slot_start(db: AsyncSession, schedule_id: uuid.UUID, now: datetime.datetime) -> datetime.datetime:
    """Where "now" begins for edits: the start of the slot covering now, or now in a gap."""
    slot = await slot_at(db, schedule_id, now)
    return slot.start_time if slot is not None else now


# ---------------------------------------------------------------- operations


async def create_schedule(
    db: AsyncSession, workspace_id: uuid.UUID, raw: Mapping[str, Any], now: datetime.datetime
) -> OnCallSchedule:
    """Create a schedule and its slots from the anchor (history recorded once) to the horizon."""
    try:
        definition = parse_definition(raw, now)
    except ScheduleFieldErrors as exc:
        raise _field_error(exc) from None
    async with writing(db):
        member_ids, backup_id = await _resolve_people(db, workspace_id, definition)
        policy_id = await workspace_policy(db, workspace_id, raw.get("escalation_policy_id"))
        if await db.scalar(
            select(OnCallSchedule.id).where(
                OnCallSchedule.workspace_id == workspace_id, OnCallSchedule.name == definition.name
            )
        ):
            raise FieldError.one("name", f"There is already a schedule called {definition.name}.")
        if _given(raw.get("pagerduty_service_id")):
            policy_id = await policy_for_service(
                db, workspace_id, raw["pagerduty_service_id"], definition.escalation_delay_minutes
            )
        schedule = OnCallSchedule(
            workspace_id=workspace_id,
            name=definition.name,
            rotation=definition.cadence.kind.value,
            shift_hours=definition.cadence.shift_hours,
            shift_days=definition.cadence.shift_days,
            handoff_time=definition.cadence.handoff_time,
            handoff_weekday=definition.cadence.handoff_weekday,
            time_zone=definition.zone.key,
            rotation_start=definition.starts_at or now,
            escalation_delay_minutes=definition.escalation_delay_minutes,
            escalation_to_id=backup_id,
            escalation_policy_id=policy_id,
            is_active=True,
            horizon_weeks=8,
        )
        db.add(schedule)
        await db.flush()
        await _set_members(db, schedule.id, member_ids)
        await materialise(db, schedule, schedule.rotation_start, now)
    return schedule


def definition_fields(view: ScheduleView) -> dict[str, Any]:
    """The schedule as the fields of its create body (for PATCH merging and the edit form)."""
    schedule = view.schedule
    return {
        "name": schedule.name,
        "rotation": schedule.rotation,
        "timezone": schedule.time_zone,
        "handoff_time": schedule.handoff_time.strftime("%H:%M"),
        "handoff_weekday": schedule.handoff_weekday,
        "shift_hours": schedule.shift_hours,
        "shift_days": schedule.shift_days,
        "starts_at": schedule.rotation_start.isoformat(),
        "members": [user.email for user in view.members],
        "escalation_to": view.backup.email if view.backup else None,
        "escalation_delay_minutes": schedule.escalation_delay_minutes,
        "escalation_policy_id": str(schedule.escalation_policy_id) if schedule.escalation_policy_id else None,
    }


async def update_schedule(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    schedule_id: uuid.UUID | str,
    changes: Mapping[str, Any],
    now: datetime.datetime,
    actor_id: uuid.UUID | None = None,
) -> OnCallSchedule:
    """Apply `changes` (any fields of the create body); the rotation changes from the next boundary.

    The anchor is kept, so shift k keeps its number and goes to member k mod n of the new list;
    slots before the next boundary, and all history, stay as they are.
    """
    async with writing(db):
        schedule = await _locked(db, workspace_id, schedule_id)
        view = await describe(db, schedule)
        merged = {**definition_fields(view), **{k: v for k, v in changes.items() if k != "starts_at"}}
        policy_id = (
            await workspace_policy(db, workspace_id, changes["escalation_policy_id"])
            if "escalation_policy_id" in changes
            else schedule.escalation_policy_id
        )
        if changes.get("rotation") and changes["rotation"] != schedule.rotation:
            # Fields of the old cadence do not carry over to a new one.
            for stale in ("handoff_weekday", "shift_hours", "shift_days"):
                merged.setdefault(stale, None)
                if stale not in changes:
                    merged[stale] = None
        try:
            definition = parse_definition(merged, now)
        except ScheduleFieldErrors as exc:
            raise _field_error(exc) from None
        member_ids, backup_id = await _resolve_people(db, workspace_id, definition)
        if definition.name != schedule.name and await db.scalar(
            select(OnCallSchedule.id).where(
                OnCallSchedule.workspace_id == workspace_id, OnCallSchedule.name == definition.name
            )
        ):
            raise FieldError.one("name", f"There is already a schedule called {definition.name}.")
        if _given(changes.get("pagerduty_service_id")):
            policy_id = await policy_for_service(
                db, workspace_id, changes["pagerduty_service_id"], definition.escalation_delay_minutes
            )
        old_rotation = Rotation(cadence_of(schedule), ZoneInfo(schedule.time_zone), schedule.rotation_start, ("x",))
        effective = max(next_boundary(old_rotation, now), schedule.rotation_start)
        schedule.name = definition.name
        schedule.rotation = definition.cadence.kind.value
        schedule.shift_hours = definition.cadence.shift_hours
        schedule.shift_days = definition.cadence.shift_days
        schedule.handoff_time = definition.cadence.handoff_time
        schedule.handoff_weekday = definition.cadence.handoff_weekday
        schedule.time_zone = definition.zone.key
        schedule.escalation_delay_minutes = definition.escalation_delay_minutes
        schedule.escalation_to_id = backup_id
        schedule.escalation_policy_id = policy_id
        before = await snapshot(db, schedule.id, now)
        await _set_members(db, schedule.id, member_ids)
        await db.flush()
        await materialise(db, schedule, effective, now)
        notices, _ = await tell(db, [before], now, actor_id)
    await jobs.deliver(notices)
    return schedule


async def regenerate_schedule(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    schedule_id: uuid.UUID | str,
    since: datetime.datetime | str | None,
    now: datetime.datetime,
    actor_id: uuid.UUID | None = None,
) -> int:
    """Recompute rotation slots from `since` (default: the current slot's start) to the horizon; the
    people whose shifts it moved are told."""
    errors: dict[str, str] = {}
    parsed = parse_instant(since, "from", errors) if not isinstance(since, datetime.datetime) else since
    if errors:
        raise FieldError(errors)
    async with writing(db):
        schedule = await _locked(db, workspace_id, schedule_id)
        floor = await current_slot_start(db, schedule.id, now)
        start = parsed or floor
        if start < floor:
            raise FieldError.one(
                "from", f"Slots before {floor.isoformat()} (the current slot's start) are history and stay as they are."
            )
        before = await snapshot(db, schedule.id, now)
        written = await materialise(db, schedule, start, now)
        notices, _ = await tell(db, [before], now, actor_id)
    await jobs.deliver(notices)
    return written


async def extend_schedule(
    db: AsyncSession, workspace_id: uuid.UUID, schedule_id: uuid.UUID | str, now: datetime.datetime
) -> int:
    """Fill the rotation up to now + horizon after the last slot; returns slots written."""
    async with writing(db):
        schedule = await _locked(db, workspace_id, schedule_id)
        return await _extend_locked(db, schedule, now)


async def _extend_locked(db: AsyncSession, schedule: OnCallSchedule, now: datetime.datetime) -> int:
    last_end = await db.scalar(select(func.max(OnCallSlot.end_time)).where(OnCallSlot.schedule_id == schedule.id))
    # A gap that is already in the past stays a gap: history is never written after the fact.
    since = max(last_end, now) if last_end is not None else now
    if since >= horizon_end(schedule, now):
        return 0
    return await materialise(db, schedule, since, now)


async def extend_all(db: AsyncSession, now: datetime.datetime, slack: datetime.timedelta) -> int:
    """Extend every active schedule whose coverage ends within `slack` of its horizon (the tick)."""
    due = await db.execute(
        select(
            OnCallSchedule.id, OnCallSchedule.workspace_id, OnCallSchedule.horizon_weeks, func.max(OnCallSlot.end_time)
        )
        .outerjoin(OnCallSlot, OnCallSlot.schedule_id == OnCallSchedule.id)
        .where(OnCallSchedule.is_active)
        .group_by(OnCallSchedule.id, OnCallSchedule.workspace_id, OnCallSchedule.horizon_weeks)
    )
    rows = due.all()
    await db.commit()  # end the read before each schedule's own write transaction
    written = 0
    for schedule_id, workspace_id, horizon_weeks, last_end in rows:
        if last_end is not None and last_end >= now + datetime.timedelta(weeks=horizon_weeks) - slack:
            continue
        written += await extend_schedule(db, workspace_id, schedule_id, now)
    return written


async def set_active(
    db: AsyncSession, workspace_id: uuid.UUID, schedule_id: uuid.UUID | str, active: bool, now: datetime.datetime
) -> OnCallSchedule:
    """Activate (and fill the rotation up to the horizon) or deactivate a schedule."""
    async with writing(db):
        schedule = await _locked(db, workspace_id, schedule_id)
        schedule.is_active = active
        await db.flush()
        if active:
            await _extend_locked(db, schedule, now)
    return schedule


async def delete_schedule(db: AsyncSession, workspace_id: uuid.UUID, schedule_id: uuid.UUID | str) -> None:
    """Delete a schedule with its slots (incidents keep their history without it); one that a policy
    step pages is refused, naming the policies."""
    try:
        await retrying(lambda: _delete_schedule(db, workspace_id, schedule_id))
    except IntegrityError:  # a policy step was pointed at it between the check and the delete
        raise Conflict(
            "The schedule came into use by a policy while it was being deleted; nothing was deleted."
        ) from None


async def _delete_schedule(db: AsyncSession, workspace_id: uuid.UUID, schedule_id: uuid.UUID | str) -> None:
    async with writing(db):
        schedule = await _locked(db, workspace_id, schedule_id)
        policies = list(
            await db.scalars(
                select(EscalationPolicy.name)
                .join(EscalationStep, EscalationStep.policy_id == EscalationPolicy.id)
                .join(EscalationTarget, EscalationTarget.step_id == EscalationStep.id)
                .where(EscalationTarget.schedule_id == schedule.id)
                .distinct()
                .order_by(EscalationPolicy.name)
            )
        )
        if policies:
            raise Conflict(
                f"{schedule.name} is paged by the escalation polic{'ies' if len(policies) > 1 else 'y'} "
                f"{', '.join(policies)}; take it out of {'them' if len(policies) > 1 else 'it'} first."
            )
        pagers = await pagers_of(db, schedule_id=schedule.id)
        if pagers:
            raise Conflict(
                f"{schedule.name} is paged by {', '.join(pagers)}; point {'them' if len(pagers) > 1 else 'it'} at "
                "another schedule or policy first."
            )
        await db.execute(delete(OnCallSlot).where(OnCallSlot.schedule_id == schedule.id))
        await db.execute(delete(RotationMember).where(RotationMember.schedule_id == schedule.id))
        await db.delete(schedule)
        await db.flush()


async def rotate_after_membership_change(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime.datetime,
    actor_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Re-lay, from their next boundary, the rotations `user_id` is in (call inside the write transaction
    that changed the membership): a deactivated person or a viewer is skipped from then on. Returns the
    "your shifts changed" notices to send once it commits."""
    schedule_ids = await db.scalars(
        select(RotationMember.schedule_id)
        .join(OnCallSchedule, OnCallSchedule.id == RotationMember.schedule_id)
        .where(RotationMember.user_id == user_id, OnCallSchedule.workspace_id == workspace_id)
    )
    befores = []
    for schedule_id in list(schedule_ids):
        schedule = await _locked(db, workspace_id, schedule_id)
        befores.append(await snapshot(db, schedule.id, now))
        rotation = Rotation(cadence_of(schedule), ZoneInfo(schedule.time_zone), schedule.rotation_start, ("x",))
        await materialise(db, schedule, max(next_boundary(rotation, now), schedule.rotation_start), now)
    notices, _ = await tell(db, befores, now, actor_id)  # one message per person for the whole change
    return notices
