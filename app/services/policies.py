"""Escalation policies: create, edit (steps replaced whole), delete, read, and the chain they give.

A policy's steps and targets are rows; what an incident runs is the copy made when it opened
(`policy_chain`), so editing or deleting a policy never changes a running incident.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    EscalationPolicy,
    EscalationStep,
    EscalationTarget,
    Membership,
    OnCallSchedule,
    PagerDutyService,
    UserProfile,
)
from app.db.transactions import lock_row, retrying, writing
from app.domain.escalation import MAX_REPEAT, Chain, Step, Target, TargetKind, validate_steps
from app.services.errors import Conflict, FieldError, NotFound, parse_id
from app.services.paging_targets import pagers_of
from app.services.schedules import SLOT_ROLES

MAX_NAME = 120


@dataclass(frozen=True)
class TargetView:
    schedule: OnCallSchedule | None
    user: UserProfile | None
    service: PagerDutyService | None = None

    @property
    def label(self) -> str:
        if self.schedule is not None:
            return f"On call: {self.schedule.name}"
        if self.service is not None:
            return f"PagerDuty: {self.service.label}"
        return self.user.display_name if self.user is not None else "?"


@dataclass(frozen=True)
class StepView:
    delay_minutes: int
    targets: tuple[TargetView, ...]


@dataclass(frozen=True)
class PolicyView:
    policy: EscalationPolicy
    steps: tuple[StepView, ...]
    used_by: tuple[str, ...]  # the schedules that page through it


@dataclass(frozen=True)
class PolicyInput:
    """A policy as asked for: steps as (delay_minutes, [(kind, schedule id or email)])."""

    name: str
    repeat: int
    steps: tuple[tuple[int, tuple[tuple[TargetKind, str], ...]], ...]


def _int(value: Any, path: str, errors: dict[str, str], what: str) -> int:
    if isinstance(value, bool):
        errors[path] = f"{what} must be a whole number."
        return 0
    try:
        return int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        errors[path] = f"{what} must be a whole number."
        return 0


def parse_policy(raw: Mapping[str, Any]) -> PolicyInput:
    """Read {name, repeat, steps: [{delay_minutes, targets: [{schedule_id} | {user}]}]}; FieldError
    naming each bad field by its JSON path."""
    errors: dict[str, str] = {}
    name = " ".join(str(raw.get("name") or "").split())
    if not name:
        errors["name"] = "Give the policy a name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Keep the name under {MAX_NAME} characters."
    repeat = _int(raw.get("repeat", 0), "repeat", errors, "Repeat")
    steps: list[tuple[int, tuple[tuple[TargetKind, str], ...]]] = []
    given: list[int] = []  # targets each step was given, good or bad (a bad one is named on its own)
    raw_steps = raw.get("steps") or []
    for i, raw_step in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        delay = _int(raw_step.get("delay_minutes"), f"steps[{i}].delay_minutes", errors, "The delay")
        targets: list[tuple[TargetKind, str]] = []
        given.append(len(raw_step.get("targets") or []))
        for j, raw_target in enumerate(raw_step.get("targets") or []):
            schedule_id, user = raw_target.get("schedule_id"), raw_target.get("user")
            service_id = raw_target.get("pagerduty_service_id")
            if sum(bool(v) for v in (schedule_id, user, service_id)) != 1:
                errors[f"steps[{i}].targets[{j}]"] = "Give one of schedule_id, user or pagerduty_service_id."
            elif schedule_id:
                targets.append((TargetKind.SCHEDULE, str(schedule_id)))
            elif service_id:
                targets.append((TargetKind.PAGERDUTY, str(service_id)))
            else:
                targets.append((TargetKind.USER, str(user).strip().lower()))
        steps.append((delay, tuple(targets)))
    shape = validate_steps([(delay, count) for (delay, _), count in zip(steps, given, strict=True)], repeat)
    for path, message in shape.items():
        errors.setdefault(path, message)
    if errors:
        raise FieldError(errors)
    return PolicyInput(name, repeat, tuple(steps))


Resolved = tuple[uuid.UUID | None, uuid.UUID | None, uuid.UUID | None]  # (schedule, user, PagerDuty service)


async def _resolve_targets(db: AsyncSession, workspace_id: uuid.UUID, data: PolicyInput) -> list[list[Resolved]]:
    """Each step's targets as (schedule id, user id, service id), every one checked to belong to this
    workspace (a person: an active member with role member or above)."""
    errors: dict[str, str] = {}
    resolved: list[list[Resolved]] = []
    for i, (_, targets) in enumerate(data.steps):
        row: list[Resolved] = []
        for j, (kind, value) in enumerate(targets):
            if kind is TargetKind.SCHEDULE:
                path = f"steps[{i}].targets[{j}].schedule_id"
                try:
                    schedule = await db.get(OnCallSchedule, uuid.UUID(value))
                except ValueError:
                    schedule = None
                if schedule is None or schedule.workspace_id != workspace_id:
                    errors[path] = "Choose a schedule of this workspace."
                else:
                    row.append((schedule.id, None, None))
            elif kind is TargetKind.PAGERDUTY:
                path = f"steps[{i}].targets[{j}].pagerduty_service_id"
                try:
                    service = await db.get(PagerDutyService, uuid.UUID(value))
                except ValueError:
                    service = None
                if service is None or service.workspace_id != workspace_id:
                    errors[path] = "Choose a PagerDuty service connected to this workspace."
                else:
                    row.append((None, None, service.id))
            else:
                path = f"steps[{i}].targets[{j}].user"
                user_id = await db.scalar(
                    select(UserProfile.id)
                    .join(Membership, Membership.user_id == UserProfile.id)
                    .where(
                        UserProfile.email == value,
                        Membership.workspace_id == workspace_id,
                        Membership.is_active,
                        Membership.role.in_(SLOT_ROLES),
                    )
                )
                if user_id is None:
                    errors[path] = f"{value} is not an active member of this workspace with role member or above."
                else:
                    row.append((None, user_id, None))
        resolved.append(row)
    if errors:
        raise FieldError(errors)
    return resolved


async def _write_steps(db: AsyncSession, policy: EscalationPolicy, data: PolicyInput, workspace_id: uuid.UUID) -> None:
    resolved = await _resolve_targets(db, workspace_id, data)
    await db.execute(delete(EscalationStep).where(EscalationStep.policy_id == policy.id))
    await db.flush()
    for position, ((delay, _), targets) in enumerate(zip(data.steps, resolved, strict=True)):
        step = EscalationStep(id=uuid.uuid4(), policy_id=policy.id, position=position, delay_minutes=delay)
        db.add(step)
        await db.flush()
        for t_position, target in enumerate(dict.fromkeys(targets)):  # the same target once a step
            db.add(
                EscalationTarget(
                    id=uuid.uuid4(),
                    step_id=step.id,
                    position=t_position,
                    schedule_id=target[0],
                    user_id=target[1],
                    pagerduty_service_id=target[2],
                )
            )
    await db.flush()


async def _name_taken(db: AsyncSession, workspace_id: uuid.UUID, name: str, other_than: uuid.UUID | None) -> bool:
    found = await db.scalar(
        select(EscalationPolicy.id).where(EscalationPolicy.workspace_id == workspace_id, EscalationPolicy.name == name)
    )
    return found is not None and found != other_than


async def create_policy(db: AsyncSession, workspace_id: uuid.UUID, raw: Mapping[str, Any]) -> EscalationPolicy:
    data = parse_policy(raw)
    async with writing(db):
        if await _name_taken(db, workspace_id, data.name, None):
            raise FieldError.one("name", f"There is already a policy called {data.name}.")
        policy = EscalationPolicy(id=uuid.uuid4(), workspace_id=workspace_id, name=data.name, repeat=data.repeat)
        db.add(policy)
        await db.flush()
        await _write_steps(db, policy, data, workspace_id)
    return policy


async def get_policy(db: AsyncSession, workspace_id: uuid.UUID, policy_id: uuid.UUID | str) -> EscalationPolicy:
    policy = await db.get(EscalationPolicy, parse_id(policy_id, "escalation policy"))
    if policy is None or policy.workspace_id != workspace_id:
        raise NotFound("No such escalation policy.")
    return policy


async def update_policy(
    db: AsyncSession, workspace_id: uuid.UUID, policy_id: uuid.UUID | str, changes: Mapping[str, Any]
) -> EscalationPolicy:
    """Change any field; `steps`, when given, replaces the steps whole."""
    async with writing(db):
        policy = await get_policy(db, workspace_id, policy_id)
        await lock_row(db, EscalationPolicy, policy.id)
        current = await describe_policy(db, policy)
        merged = {**policy_fields(current), **changes}
        data = parse_policy(merged)
        if await _name_taken(db, workspace_id, data.name, policy.id):
            raise FieldError.one("name", f"There is already a policy called {data.name}.")
        policy.name, policy.repeat = data.name, data.repeat
        await _write_steps(db, policy, data, workspace_id)
    return policy


async def delete_policy(db: AsyncSession, workspace_id: uuid.UUID, policy_id: uuid.UUID | str) -> None:
    """Delete a policy no schedule pages through (running incidents keep their copy of it)."""
    try:
        await retrying(lambda: _delete_policy(db, workspace_id, policy_id))
    except IntegrityError:  # a schedule was pointed at it between the check and the delete
        raise Conflict("The policy came into use while it was being deleted; nothing was deleted.") from None


async def _delete_policy(db: AsyncSession, workspace_id: uuid.UUID, policy_id: uuid.UUID | str) -> None:
    async with writing(db):
        policy = await get_policy(db, workspace_id, policy_id)
        await lock_row(db, EscalationPolicy, policy.id)
        users = list(
            await db.scalars(
                select(OnCallSchedule.name)
                .where(OnCallSchedule.escalation_policy_id == policy.id)
                .order_by(OnCallSchedule.name)
            )
        )
        if users:
            names = ", ".join(users)
            raise Conflict(
                f"{policy.name} is in use by the schedule{'s' if len(users) > 1 else ''} {names}; "
                "choose another policy or a backup there first."
            )
        pagers = await pagers_of(db, policy_id=policy.id)
        if pagers:
            raise Conflict(
                f"{policy.name} is paged by {', '.join(pagers)}; point {'them' if len(pagers) > 1 else 'it'} at "
                "another schedule or policy first."
            )
        await db.delete(policy)
        await db.flush()


async def describe_policy(db: AsyncSession, policy: EscalationPolicy) -> PolicyView:
    steps = list(
        await db.scalars(
            select(EscalationStep).where(EscalationStep.policy_id == policy.id).order_by(EscalationStep.position)
        )
    )
    rows = (
        (
            await db.execute(
                select(EscalationTarget, OnCallSchedule, UserProfile, PagerDutyService)
                .outerjoin(OnCallSchedule, OnCallSchedule.id == EscalationTarget.schedule_id)
                .outerjoin(UserProfile, UserProfile.id == EscalationTarget.user_id)
                .outerjoin(PagerDutyService, PagerDutyService.id == EscalationTarget.pagerduty_service_id)
                .where(EscalationTarget.step_id.in_([s.id for s in steps]))
                .order_by(EscalationTarget.position)
            )
        ).all()
        if steps
        else []
    )
    by_step: dict[uuid.UUID, list[TargetView]] = {s.id: [] for s in steps}
    for target, schedule, user, service in rows:
        by_step[target.step_id].append(TargetView(schedule, user, service))
    used_by = tuple(
        await db.scalars(
            select(OnCallSchedule.name)
            .where(OnCallSchedule.escalation_policy_id == policy.id)
            .order_by(OnCallSchedule.name)
        )
    )
    return PolicyView(policy, tuple(StepView(s.delay_minutes, tuple(by_step[s.id])) for s in steps), used_by)


async def list_policies(db: AsyncSession, workspace_id: uuid.UUID) -> list[PolicyView]:
    rows = await db.scalars(
        select(EscalationPolicy).where(EscalationPolicy.workspace_id == workspace_id).order_by(EscalationPolicy.name)
    )
    return [await describe_policy(db, policy) for policy in list(rows)]


def _target_body(target: TargetView) -> dict[str, str]:
    if target.schedule is not None:
        return {"schedule_id": str(target.schedule.id)}
    if target.service is not None:
        return {"pagerduty_service_id": str(target.service.id)}
    return {"user": target.user.email if target.user is not None else ""}


def policy_fields(view: PolicyView) -> dict[str, Any]:
    """The policy as its create body (for PATCH merging and the edit form)."""
    return {
        "name": view.policy.name,
        "repeat": view.policy.repeat,
        "steps": [
            {
                "delay_minutes": step.delay_minutes,
                "targets": [_target_body(t) for t in step.targets],
            }
            for step in view.steps
        ],
    }


async def policy_chain(db: AsyncSession, policy: EscalationPolicy) -> Chain:
    """The copy of the policy an incident runs."""
    view = await describe_policy(db, policy)
    steps: list[Step] = []
    for step in view.steps:
        targets: list[Target] = []
        for t in step.targets:
            if t.schedule is not None:
                targets.append(Target(TargetKind.SCHEDULE, t.schedule.id, t.schedule.name))
            elif t.service is not None:
                targets.append(Target(TargetKind.PAGERDUTY, t.service.id, t.service.label))
            elif t.user is not None:
                targets.append(Target(TargetKind.USER, t.user.id, t.user.display_name))
        steps.append(Step(step.delay_minutes, tuple(targets)))
    return Chain(tuple(steps), min(policy.repeat, MAX_REPEAT), policy.name)
