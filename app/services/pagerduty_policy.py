"""The schedule form's "Page through PagerDuty": a one-step policy whose one target is the service,
found or made, so a schedule routes to PagerDuty the one way every schedule routes (a policy)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import EscalationPolicy, EscalationStep, EscalationTarget, PagerDutyService
from app.services.errors import FieldError

MAX_NAME = 120  # a policy's name column


async def policy_for_service(db: AsyncSession, workspace_id: uuid.UUID, raw: object, delay_minutes: int) -> uuid.UUID:
    """The one-step policy paging this workspace's PagerDuty service `raw` (an id): an existing one
    with that single step and delay, else a new "PagerDuty: <label>" (inside the caller's transaction,
    so a form that fails otherwise creates nothing)."""
    try:
        service = await db.get(PagerDutyService, uuid.UUID(str(raw)))
    except ValueError:
        service = None
    if service is None or service.workspace_id != workspace_id:
        raise FieldError.one("pagerduty_service_id", "Choose a PagerDuty service connected to this workspace.")
    one_step = (
        select(EscalationStep.policy_id)
        .group_by(EscalationStep.policy_id)
        .having(func.count(EscalationStep.id) == 1)
        .scalar_subquery()
    )
    one_target = (
        select(EscalationTarget.step_id)
        .group_by(EscalationTarget.step_id)
        .having(func.count(EscalationTarget.id) == 1)
        .scalar_subquery()
    )
    found = await db.scalar(
        select(EscalationPolicy.id)
        .join(EscalationStep, EscalationStep.policy_id == EscalationPolicy.id)
        .join(EscalationTarget, EscalationTarget.step_id == EscalationStep.id)
        .where(
            EscalationPolicy.workspace_id == workspace_id,
            EscalationPolicy.repeat == 0,
            EscalationPolicy.id.in_(one_step),
            EscalationStep.id.in_(one_target),
            EscalationStep.delay_minutes == delay_minutes,
            EscalationTarget.pagerduty_service_id == service.id,
        )
        .order_by(EscalationPolicy.name)
        .limit(1)
    )
    if found is not None:
        return found
    taken = set(await db.scalars(select(EscalationPolicy.name).where(EscalationPolicy.workspace_id == workspace_id)))
    base = f"PagerDuty: {service.label}"[: MAX_NAME - 6]  # room for " (99)"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    policy = EscalationPolicy(id=uuid.uuid4(), workspace_id=workspace_id, name=name, repeat=0)
    db.add(policy)
    await db.flush()
    step = EscalationStep(id=uuid.uuid4(), policy_id=policy.id, position=0, delay_minutes=delay_minutes)
    db.add(step)
    await db.flush()
    db.add(EscalationTarget(id=uuid.uuid4(), step_id=step.id, position=0, pagerduty_service_id=service.id))
    await db.flush()
    return policy.id
