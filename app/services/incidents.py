"""Incidents: declare (copy the chain onto the incident and page its first step), resolve, read.

Paging and escalating is app/services/paging.py; acknowledging and declining app/services/acks.py.
Every decision is written to the timeline in plain words.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    AlertGroup,
    AlertSource,
    DeliveryLog,
    EscalationPolicy,
    Incident,
    IncidentResponder,
    OnCallSchedule,
    Page,
    PagerDutyService,
    TimelineEntry,
    UserProfile,
    Workspace,
)
from app.db.transactions import lock_row, writing
from app.domain.delivery_states import CHANNEL_NAMES, DeliveryState, delivery_state, nobody_reached
from app.domain.escalation import (
    Chain,
    Event,
    Position,
    Step,
    following,
    implicit_chain,
    next_label,
    target_label,
)
from app.domain.pagerduty import Action
from app.domain.paging import Severity
from app.services.errors import Conflict, FieldError, NotFound, parse_id
from app.services.identity import WorkspaceAccess
from app.services.pagerduty_events import queue_follow_ups
from app.services.paging import Outbox, Pace, advance, chain_of, queue_channel_note
from app.services.policies import policy_chain
from app.services.timeline import note as note_timeline

MAX_TITLE = 200


# ---------------------------------------------------------------- declare


def _parse_optional_id(
    value: str | uuid.UUID | None, name: str, errors: dict[str, str], message: str
) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        errors[name] = message
        return None


async def declare_incident(
    db: AsyncSession,
    access: WorkspaceAccess,
    title: str,
    severity: str,
    schedule_id: str | uuid.UUID | None,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
    policy_id: str | uuid.UUID | None = None,
    secret_key: str | None = None,
) -> Incident:
    """Open an incident, copy its chain onto it (the policy given, else the schedule's policy, else
    the schedule's own primary → backup) and page the chain's first step."""
    errors: dict[str, str] = {}
    clean_title = " ".join((title or "").split())
    if not clean_title:
        errors["title"] = "Say in a few words what is wrong."
    elif len(clean_title) > MAX_TITLE:
        errors["title"] = f"Keep the title under {MAX_TITLE} characters."
    if severity not in {s.value for s in Severity}:
        errors["severity"] = "Choose SEV1, SEV2, SEV3 or SEV4."
    parsed_schedule = _parse_optional_id(schedule_id, "schedule_id", errors, "Choose a schedule of this workspace.")
    parsed_policy = _parse_optional_id(
        policy_id, "escalation_policy_id", errors, "Choose an escalation policy of this workspace."
    )
    if (
        parsed_schedule is None
        and parsed_policy is None
        and not errors.keys() & {"schedule_id", "escalation_policy_id"}
    ):
        errors["schedule_id"] = "Choose the schedule whose on-call person should be paged."
    if errors:
        raise FieldError(errors)
    pace = Pace(seconds_per_minute, public_url, secret_key)
    async with writing(db):
        schedule = await db.get(OnCallSchedule, parsed_schedule) if parsed_schedule else None
        if parsed_schedule and (schedule is None or schedule.workspace_id != access.workspace.id):
            raise FieldError.one("schedule_id", "Choose a schedule of this workspace.")
        policy = await db.get(EscalationPolicy, parsed_policy) if parsed_policy else None
        if parsed_policy and (policy is None or policy.workspace_id != access.workspace.id):
            raise FieldError.one("escalation_policy_id", "Choose an escalation policy of this workspace.")
        incident, outbox = await open_incident(
            db,
            access.workspace.id,
            Opening(clean_title, severity, access.user.display_name, "declared", access.user.id),
            schedule,
            policy,
            now,
            pace,
        )
    await outbox.send(now)
    return incident


@dataclass(frozen=True)
class Opening:
    title: str
    severity: str
    by: str  # who opened it, for the timeline: a person's name, an alert source's
    verb: str = "declared"
    declared_by_id: uuid.UUID | None = None


async def open_incident(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    opening: Opening,
    schedule: OnCallSchedule | None,
    policy: EscalationPolicy | None,
    now: datetime.datetime,
    pace: Pace,
) -> tuple[Incident, Outbox]:
    """Inside the caller's write transaction: copy the chain (the policy given, else the schedule's
    policy, else the schedule's own primary → backup) onto a new incident, say so on its timeline and
    page the first step. The caller sends the outbox after its commit."""
    if policy is None and schedule is not None and schedule.escalation_policy_id:
        policy = await db.get(EscalationPolicy, schedule.escalation_policy_id)
    if policy is not None:
        chain = await policy_chain(db, policy)
    else:
        assert schedule is not None
        backup = await db.get(UserProfile, schedule.escalation_to_id) if schedule.escalation_to_id else None
        chain = implicit_chain(
            schedule.id,
            schedule.name,
            schedule.escalation_delay_minutes,
            (backup.id, backup.display_name) if backup else None,
        )
    await lock_row(db, Workspace, workspace_id)
    workspace = await db.get_one(Workspace, workspace_id, populate_existing=True)
    workspace.last_incident_number += 1
    incident = Incident(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        number=workspace.last_incident_number,
        title=opening.title,
        severity=opening.severity,
        status="triggered",
        schedule_id=schedule.id if schedule else None,
        escalation_policy_id=policy.id if policy else None,
        declared_by_id=opening.declared_by_id,
        chain=chain.to_json(),
        chain_round=0,
    )
    db.add(incident)
    await db.flush()
    on = schedule.name if schedule else f"the {policy.name if policy else ''} policy"
    how = f" through {policy.name}" if policy is not None and schedule is not None else ""
    note_timeline(
        db,
        incident.id,
        "declared",
        f"{opening.by} {opening.verb} INC-{incident.number} ({opening.severity}) on {on}{how}.",
        now,
    )
    _, outbox = await advance(db, workspace, incident, Event.OPENED, now, pace)
    return incident, outbox


# ---------------------------------------------------------------- resolve


async def resolve_incident(
    db: AsyncSession, access: WorkspaceAccess, incident_id: str | uuid.UUID, now: datetime.datetime
) -> Incident:
    """Resolve: pending pages are cancelled (state, not message revocation), so nothing escalates;
    every PagerDuty service the incident paged is told."""
    incident = await get_incident(db, access.workspace.id, incident_id)
    await db.commit()
    reply = await close_incident(db, incident.id, access.user.display_name, now)
    if not reply.changed:
        raise Conflict(reply.text)
    return incident


@dataclass(frozen=True)
class Closed:
    text: str
    changed: bool


async def close_incident(
    db: AsyncSession,
    incident_id: uuid.UUID,
    by: str,
    now: datetime.datetime,
    came_from: uuid.UUID | None = None,
    where: str = "",
    inbound_row: uuid.UUID | None = None,
) -> Closed:
    """Resolve the incident for `by` (a person's name, or PagerDuty's agent `where` it happened);
    `came_from` is the PagerDuty service that said so (it is not told again). An inbound webhook's
    row gets the outcome in the same transaction."""
    async with writing(db):
        if inbound_row is not None:
            await lock_row(db, DeliveryLog, inbound_row)
            row = await db.get(DeliveryLog, inbound_row, populate_existing=True)
            if row is None or row.status != "received":
                return Closed((row.error if row else None) or "already handled", False)
        await lock_row(db, Incident, incident_id)
        incident = await db.get_one(Incident, incident_id, populate_existing=True)
        closed, outbox = await close_locked(db, incident, by, now, came_from, where)
        if inbound_row is not None:
            row = await db.get(DeliveryLog, inbound_row)
            if row is not None:
                row.status, row.error = ("processed" if closed.changed else "ignored"), closed.text
                row.workspace_id, row.incident_id = incident.workspace_id, incident.id
    await outbox.send(now)
    return closed


async def close_locked(
    db: AsyncSession,
    incident: Incident,
    by: str,
    now: datetime.datetime,
    came_from: uuid.UUID | None = None,
    where: str = "",
) -> tuple[Closed, Outbox]:
    """Resolve an incident whose row the caller's transaction holds locked; the caller sends the outbox
    after its commit."""
    if incident.status == "resolved":
        return Closed(f"INC-{incident.number} is already resolved.", False), Outbox([], [])
    incident.status, incident.resolved_at = "resolved", now
    incident.escalation_due_at = None
    pages = await db.scalars(select(Page).where(Page.incident_id == incident.id, Page.status == "pending"))
    cancelled = 0
    for page in pages:
        page.status = "cancelled"
        cancelled += 1
    note = f"{by} resolved INC-{incident.number}{where}."
    if cancelled:
        note += f" {cancelled} pending page{'s' if cancelled > 1 else ''} cancelled."
    note_timeline(db, incident.id, "resolved", note, now)
    workspace = await db.get_one(Workspace, incident.workspace_id)
    outbox = Outbox(queue_channel_note(db, workspace, incident, note, now), [])
    outbox.deliveries += await queue_follow_ups(db, incident.id, Action.RESOLVE, now, came_from)
    return Closed(note, True), outbox


# ---------------------------------------------------------------- reading


async def get_incident(db: AsyncSession, workspace_id: uuid.UUID, incident_id: str | uuid.UUID) -> Incident:
    incident = await db.get(Incident, parse_id(incident_id, "incident"))
    if incident is None or incident.workspace_id != workspace_id:
        raise NotFound("No such incident.")
    return incident


@dataclass(frozen=True)
class ChainStepView:
    index: int
    step: Step
    pages: list[tuple[Page, UserProfile | None]]
    current: bool  # the step that runs now (its deadline is the incident's)

    @property
    def targets(self) -> str:
        return ", ".join(target_label(t) for t in self.step.targets) or "nobody"


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    schedule: OnCallSchedule | None
    pages: list[tuple[Page, UserProfile | None]]
    responders: list[tuple[IncidentResponder, UserProfile]]
    timeline: list[TimelineEntry]
    # Per page, each message sent for it: (channel name, its honest state).
    deliveries: dict[uuid.UUID, list[tuple[str, DeliveryState]]] = field(default_factory=dict)
    policy: EscalationPolicy | None = None
    chain: Chain = field(default_factory=lambda: Chain(()))
    services: dict[uuid.UUID | None, str] = field(default_factory=dict)  # PagerDuty services paged: labels
    alert: AlertGroup | None = None  # the alert group that opened it
    source: AlertSource | None = None  # and its source, while it exists

    @property
    def steps(self) -> list[ChainStepView]:
        """Each step of the chain with the pages it made (every round), for the incident page."""
        rows = []
        for index, step in enumerate(self.chain.steps):
            pages = [(p, u) for p, u in self.pages if p.step == index]
            current = self.incident.chain_step == index and self.incident.escalation_due_at is not None
            rows.append(ChainStepView(index, step, pages, current))
        return rows

    @property
    def position(self) -> Position | None:
        step = self.incident.chain_step
        return Position(self.incident.chain_round, step) if step is not None else None

    @property
    def running(self) -> bool:
        """The chain waits on its current step's deadline."""
        return self.incident.status == "triggered" and self.incident.escalation_due_at is not None

    @property
    def next_up(self) -> str | None:
        """Who the chain pages when the current step runs out; None when nobody comes after."""
        position = self.position
        if not self.running or position is None or following(self.chain, position) is None:
            return None
        return next_label(self.chain, position)

    def step_name(self, step: int | None) -> str:
        """ "Primary" and "Backup" on a schedule's own chain, "Step 2" on a policy's, "Added" by hand."""
        if step is None:
            return "Added"
        if self.chain.policy is None and len(self.chain.steps) <= 2:
            return "Primary" if step == 0 else "Backup"
        return f"Step {step + 1}"

    @property
    def added(self) -> list[tuple[Page, UserProfile | None]]:
        """Responders paged by hand, outside the chain."""
        return [(p, u) for p, u in self.pages if p.step is None]

    @property
    def nobody_reached(self) -> bool:
        """Pages were made and not one of their messages reached anyone."""
        return nobody_reached([state for states in self.deliveries.values() for _, state in states])

    @property
    def unreached_reasons(self) -> list[str]:
        return sorted({f"{name}: {state.label}" for states in self.deliveries.values() for name, state in states})


async def describe_incident(db: AsyncSession, incident: Incident) -> IncidentView:
    # The timeline first: each statement sees what was committed when it ran (PostgreSQL's read
    # committed), so pages and deliveries read after it are at least as new as what it tells —
    # "nobody acknowledged" is never shown beside a page still pending.
    timeline = list(
        await db.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident.id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    )
    pages = (
        await db.execute(
            select(Page, UserProfile)
            .outerjoin(UserProfile, UserProfile.id == Page.user_id)
            .where(Page.incident_id == incident.id)
            .order_by(Page.sent_at, Page.created_at)
        )
    ).all()
    responders = (
        await db.execute(
            select(IncidentResponder, UserProfile)
            .join(UserProfile, UserProfile.id == IncidentResponder.user_id)
            .where(IncidentResponder.incident_id == incident.id)
            .order_by(IncidentResponder.joined_at)
        )
    ).all()
    schedule = await db.get(OnCallSchedule, incident.schedule_id) if incident.schedule_id else None
    page_ids = [page.id for page, _ in pages]
    deliveries: dict[uuid.UUID, list[tuple[str, DeliveryState]]] = {page_id: [] for page_id in page_ids}
    if page_ids:
        rows = await db.scalars(
            select(DeliveryLog)
            .where(DeliveryLog.page_id.in_(page_ids), DeliveryLog.direction == "outbound")
            .order_by(DeliveryLog.at)
        )
        for row in rows:
            if row.page_id is not None:
                state = delivery_state(row.channel, row.status, row.provider_status, row.error)
                deliveries[row.page_id].append((CHANNEL_NAMES.get(row.channel, row.channel), state))
    policy = await db.get(EscalationPolicy, incident.escalation_policy_id) if incident.escalation_policy_id else None
    service_ids = {page.pagerduty_service_id for page, _ in pages if page.pagerduty_service_id is not None}
    services: dict[uuid.UUID | None, str] = (
        {s.id: s.label for s in await db.scalars(select(PagerDutyService).where(PagerDutyService.id.in_(service_ids)))}
        if service_ids
        else {}
    )
    alert = await db.scalar(select(AlertGroup).where(AlertGroup.incident_id == incident.id))
    source = await db.get(AlertSource, alert.source_id) if alert is not None and alert.source_id else None
    return IncidentView(
        incident,
        schedule,
        [(p, u) for p, u in pages],
        [(r, u) for r, u in responders],
        timeline,
        deliveries,
        policy,
        chain_of(incident),
        services,
        alert,
        source,
    )


@dataclass(frozen=True)
class IncidentRow:
    """An incident in a list, with the alert source and group that opened it (if one did)."""

    incident: Incident
    group_key: str | None
    source_id: uuid.UUID | None
    source_name: str | None


async def list_incidents(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    limit: int = 100,
    *,
    status: str | None = None,
    source_id: uuid.UUID | None = None,
    before: uuid.UUID | None = None,
) -> list[IncidentRow]:
    """Newest first; `before` an incident id: the page after it."""
    query = (
        select(Incident, AlertGroup.group_key, AlertSource.id, AlertSource.name)
        .outerjoin(AlertGroup, AlertGroup.incident_id == Incident.id)
        .outerjoin(AlertSource, AlertSource.id == AlertGroup.source_id)
        .where(Incident.workspace_id == workspace_id)
    )
    if status is not None:
        query = query.where(Incident.status == status)
    if source_id is not None:
        query = query.where(AlertGroup.source_id == source_id)
    if before is not None:
        number = await db.scalar(
            select(Incident.number).where(Incident.id == before, Incident.workspace_id == workspace_id)
        )
        if number is None:
            raise FieldError.one("before", "before must be the id of an incident of this workspace.")
        query = query.where(Incident.number < number)
    rows = (await db.execute(query.order_by(Incident.number.desc()).limit(limit))).all()
    await db.commit()
    return [IncidentRow(incident, key, sid, name) for incident, key, sid, name in rows]


# ---------------------------------------------------------------- the Slack post


async def thread_of(db: AsyncSession, incident_id: uuid.UUID | None) -> str | None:
    """The ts of the incident's channel post, so later messages go into its thread."""
    if incident_id is None:
        return None
    ts = await db.scalar(select(Incident.slack_ts).where(Incident.id == incident_id))
    await db.commit()
    return ts
