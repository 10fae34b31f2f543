"""What an alert source or a heartbeat monitor pages: a schedule or an escalation policy of its
workspace, exactly one; and, the other way round, what pages a schedule or policy (so that deleting
one in use is refused, naming what uses it)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AlertSource, EscalationPolicy, HeartbeatMonitor, OnCallSchedule
from app.services.errors import FieldError


async def target_of(
    db: AsyncSession, workspace_id: uuid.UUID, raw: Mapping[str, Any]
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(schedule id, policy id) from `schedule_id` or `escalation_policy_id`: exactly one, of this workspace."""
    schedule_raw, policy_raw = raw.get("schedule_id") or None, raw.get("escalation_policy_id") or None
    if (schedule_raw is None) == (policy_raw is None):
        raise FieldError.one("schedule_id", "Choose the schedule or the escalation policy to page (one of the two).")
    if schedule_raw is not None:
        try:
            schedule = await db.get(OnCallSchedule, uuid.UUID(str(schedule_raw)))
        except ValueError:
            schedule = None
        if schedule is None or schedule.workspace_id != workspace_id:
            raise FieldError.one("schedule_id", "Choose a schedule of this workspace.")
        return schedule.id, None
    try:
        policy = await db.get(EscalationPolicy, uuid.UUID(str(policy_raw)))
    except ValueError:
        policy = None
    if policy is None or policy.workspace_id != workspace_id:
        raise FieldError.one("escalation_policy_id", "Choose an escalation policy of this workspace.")
    return None, policy.id


async def pagers_of(
    db: AsyncSession, *, schedule_id: uuid.UUID | None = None, policy_id: uuid.UUID | None = None
) -> list[str]:
    """What pages this schedule or policy, in words: "the alert source Prometheus", "the heartbeat
    monitor Nightly backup"."""
    names: list[str] = []
    for model, what in ((AlertSource, "the alert source"), (HeartbeatMonitor, "the heartbeat monitor")):
        column = model.schedule_id if schedule_id is not None else model.escalation_policy_id
        found = await db.scalars(select(model.name).where(column == (schedule_id or policy_id)).order_by(model.name))
        names += [f"{what} {name}" for name in found]
    return names
