"""Incidents and their pages: declare, escalate at the deadline (exactly once), resolve.

The deadline lives on the page row. A delayed `paging.escalate` message is only a wake-up; the
sweeper finds deadlines whose message was lost; the escalation locks the page and re-checks it
(DESIGN.md invariant 6). Every decision is written to the timeline in plain words.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    DeliveryLog,
    Incident,
    IncidentResponder,
    Membership,
    OnCallSchedule,
    Page,
    TimelineEntry,
    UserProfile,
    Workspace,
)
from app.db.transactions import lock_row, writing
from app.domain import slack_text
from app.domain.acks import ACK_REACTION, DECLINE_REACTION, first_free_code
from app.domain.delivery_states import CHANNEL_NAMES, DeliveryState, delivery_state, nobody_reached
from app.domain.paging import (
    EscalationAction,
    EscalationDecision,
    Person,
    Severity,
    channels,
    decide_escalation,
    plan_trigger,
    sms_text,
)
from app.services import jobs
from app.services.deliveries import queue_delivery
from app.services.errors import Conflict, FieldError, NotFound, parse_id
from app.services.identity import WorkspaceAccess
from app.services.schedules import SLOT_ROLES, slot_at
from app.services.timeline import note as timeline_note

MAX_TITLE = 200


@dataclass(frozen=True)
class Wakeup:
    page_id: uuid.UUID
    deadline: datetime.datetime


@dataclass(frozen=True)
class Outbox:
    """Jobs to enqueue once the transaction has committed."""

    deliveries: list[uuid.UUID]
    wakeups: list[Wakeup]

    async def send(self, now: datetime.datetime) -> None:
        await jobs.deliver(self.deliveries)
        for wakeup in self.wakeups:
            await jobs.escalate_at(wakeup.page_id, int((wakeup.deadline - now).total_seconds() * 1000))


def note_timeline(db: AsyncSession, incident: Incident, kind: str, message: str, now: datetime.datetime) -> None:
    timeline_note(db, incident.id, kind, message, now)


async def person_of(db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID | None) -> Person | None:
    if user_id is None:
        return None
    row = (
        await db.execute(
            select(UserProfile, Membership)
            .outerjoin(Membership, (Membership.user_id == UserProfile.id) & (Membership.workspace_id == workspace_id))
            .where(UserProfile.id == user_id)
        )
    ).first()
    if row is None:
        return None
    user, membership = row
    eligible = membership is not None and membership.is_active and membership.role in SLOT_ROLES
    return Person(user.id, user.display_name, user.paging_phone, user.paging_slack_id, eligible)


def _link(public_url: str, workspace: Workspace, incident: Incident) -> str:
    return f"{public_url}/ws/{workspace.slug}/incidents/{incident.id}"


async def _page_person(
    db: AsyncSession,
    workspace: Workspace,
    incident: Incident,
    person: Person,
    step: int,
    deadline: datetime.datetime | None,
    backup_id: uuid.UUID | None,
    now: datetime.datetime,
    public_url: str,
) -> tuple[Page, list[uuid.UUID]]:
    """A page row plus its Slack and SMS deliveries (queued, sent after commit)."""
    # The person's row lock serialises reply-code choice across workspaces: two incidents paging
    # the same person at once get different codes.
    await lock_row(db, UserProfile, person.id)
    taken = set(
        await db.scalars(
            select(Page.reply_code).where(
                Page.user_id == person.id, Page.status == "pending", Page.reply_code.is_not(None)
            )
        )
    )
    code = first_free_code({c for c in taken if c is not None})
    page = Page(
        id=uuid.uuid4(),
        incident_id=incident.id,
        user_id=person.id,
        step=step,
        status="pending",
        sent_at=now,
        deadline=deadline,
        backup_user_id=backup_id,
        reply_code=code,
    )
    db.add(page)
    await db.flush()  # the deliveries below point at it (no ORM relationship orders the inserts)
    role = "primary" if step == 0 else "backup"
    deliveries: list[uuid.UUID] = []
    if person.slack_user_id:
        text = (
            f"you are paged ({role}) for INC-{incident.number} {incident.severity}: "
            f"{incident.title}\n{_link(public_url, workspace, incident)}\n"
            f"React :{ACK_REACTION}: to acknowledge, :{DECLINE_REACTION}: to decline."
        )
        deliveries += queue_channel_note(db, workspace, incident, text, now, page_id=page.id, to=person.slack_user_id)
    if person.phone:
        row = queue_delivery(
            db,
            workspace_id=workspace.id,
            channel="sms",
            target=person.phone,
            text=sms_text(workspace.name, incident.number, incident.severity, incident.title, code),
            now=now,
            incident_id=incident.id,
            page_id=page.id,
        )
        deliveries.append(row.id)
    return page, deliveries


def queue_channel_note(
    db: AsyncSession,
    workspace: Workspace,
    incident: Incident,
    text: str,
    now: datetime.datetime,
    page_id: uuid.UUID | None = None,
    to: str | None = None,
) -> list[uuid.UUID]:
    """Queue plain `text` for the incident channel (in the incident post's thread once there is one),
    mentioning the Slack user `to` first; what people typed in it reaches Slack escaped."""
    row = queue_delivery(
        db,
        workspace_id=workspace.id,
        channel="slack_post",
        target=workspace.slack_channel_id,
        text=(f"{slack_text.mention(to)} " if to else "") + slack_text.escape(text),
        now=now,
        incident_id=incident.id,
        page_id=page_id,
        missing="the workspace has no Slack incident channel",
    )
    return [row.id] if row.status == "pending" else []


# ---------------------------------------------------------------- declare


async def declare_incident(
    db: AsyncSession,
    access: WorkspaceAccess,
    title: str,
    severity: str,
    schedule_id: str | uuid.UUID | None,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
) -> Incident:
    """Open an incident and page its schedule's primary (or the backup at once when there is none)."""
    errors: dict[str, str] = {}
    clean_title = " ".join((title or "").split())
    if not clean_title:
        errors["title"] = "Say in a few words what is wrong."
    elif len(clean_title) > MAX_TITLE:
        errors["title"] = f"Keep the title under {MAX_TITLE} characters."
    if severity not in {s.value for s in Severity}:
        errors["severity"] = "Choose SEV1, SEV2, SEV3 or SEV4."
    parsed_schedule: uuid.UUID | None = None
    try:
        parsed_schedule = uuid.UUID(str(schedule_id)) if schedule_id else None
    except ValueError:
        errors["schedule_id"] = "Choose a schedule of this workspace."
    if parsed_schedule is None and "schedule_id" not in errors:
        errors["schedule_id"] = "Choose the schedule whose on-call person should be paged."
    if errors:
        raise FieldError(errors)
    async with writing(db):
        schedule = await db.get(OnCallSchedule, parsed_schedule)
        if schedule is None or schedule.workspace_id != access.workspace.id:
            raise FieldError.one("schedule_id", "Choose a schedule of this workspace.")
        await lock_row(db, Workspace, access.workspace.id)
        workspace = await db.get_one(Workspace, access.workspace.id, populate_existing=True)
        workspace.last_incident_number += 1
        incident = Incident(
            id=uuid.uuid4(),
            workspace_id=workspace.id,
            number=workspace.last_incident_number,
            title=clean_title,
            severity=severity,
            status="triggered",
            schedule_id=schedule.id,
            declared_by_id=access.user.id,
        )
        db.add(incident)
        await db.flush()
        note_timeline(
            db,
            incident,
            "declared",
            f"{access.user.display_name} declared INC-{incident.number} ({severity}) on {schedule.name}.",
            now,
        )

        primary, reason = None, None
        slot = await slot_at(db, schedule.id, now) if schedule.is_active else None
        if not schedule.is_active:
            reason = f"{schedule.name} is inactive"
        elif slot is None:
            reason = f"nobody is on call for {schedule.name} right now (a gap in the schedule)"
        else:
            primary = await person_of(db, workspace.id, slot.user_id)
            if primary is not None and not primary.eligible:
                reason = f"{primary.name} is on the schedule but no longer an active member"
                primary = None
        backup = await person_of(db, workspace.id, schedule.escalation_to_id)
        delay = datetime.timedelta(seconds=schedule.escalation_delay_minutes * seconds_per_minute)
        plan = plan_trigger(primary, reason, backup, delay, now)
        deliveries: list[uuid.UUID] = []
        wakeups: list[Wakeup] = []
        if primary is not None and not primary.reachable:
            # Recorded for the history: the primary was found but could not be reached.
            db.add(
                Page(
                    id=uuid.uuid4(),
                    incident_id=incident.id,
                    user_id=primary.id,
                    step=0,
                    status="escalated",
                    sent_at=None,
                    deadline=None,
                    backup_user_id=backup.id if backup else None,
                )
            )
        for order in plan.pages:
            page, queued = await _page_person(
                db,
                workspace,
                incident,
                order.person,
                order.step,
                order.deadline,
                backup.id if backup and order.step == 0 else None,
                now,
                public_url,
            )
            deliveries += queued
            if order.deadline is not None:
                wakeups.append(Wakeup(page.id, order.deadline))
        for kind, message in plan.timeline:
            note_timeline(db, incident, kind, message, now)
        if plan.nobody:
            deliveries += queue_channel_note(
                db,
                workspace,
                incident,
                f"INC-{incident.number} {severity}: {clean_title}. Nobody could be paged; see {_link(public_url, workspace, incident)}",
                now,
            )
        outbox = Outbox(deliveries, wakeups)
    await outbox.send(now)
    return incident


# ---------------------------------------------------------------- escalate


async def escalate_page(
    db: AsyncSession, page_id: uuid.UUID, now: datetime.datetime, seconds_per_minute: float, public_url: str
) -> datetime.datetime | None:
    """Act on a page whose deadline may have come; returns the deadline if woken too early."""
    async with writing(db):
        if not await lock_row(db, Page, page_id):
            return None
        page = await db.get_one(Page, page_id, populate_existing=True)
        incident = await db.get_one(Incident, page.incident_id, populate_existing=True)
        workspace = await db.get_one(Workspace, incident.workspace_id)
        backup = await person_of(db, workspace.id, page.backup_user_id) if page.step == 0 else None
        decision = decide_escalation(page.status, page.step, page.deadline, incident.status, page.user_id, backup, now)
        if decision.action is EscalationAction.WAIT:
            return page.deadline
        if decision.action is EscalationAction.NOTHING:
            message = f"Escalation of the step-{page.step} page not needed: {decision.message}."
            seen = await db.scalar(
                select(TimelineEntry.id).where(
                    TimelineEntry.incident_id == incident.id, TimelineEntry.message == message
                )
            )
            if seen is None:  # a retried wake-up records it once
                note_timeline(db, incident, "escalation_skipped", message, now)
            return None
        page.status = "escalated"
        outbox = await carry_out(db, page, incident, workspace, decision, backup, now, seconds_per_minute, public_url)
    await outbox.send(now)
    return None


async def carry_out(
    db: AsyncSession,
    page: Page,
    incident: Incident,
    workspace: Workspace,
    decision: EscalationDecision,
    backup: Person | None,
    now: datetime.datetime,
    seconds_per_minute: float,
    public_url: str,
    noted: bool = False,
) -> Outbox:
    """Page the backup, or say in the timeline and the channel why nobody more is paged
    (`noted`: the caller already wrote the decision's message to the timeline)."""
    deliveries: list[uuid.UUID] = []
    wakeups: list[Wakeup] = []
    if decision.action is EscalationAction.PAGE_BACKUP and backup is not None:
        schedule = await db.get(OnCallSchedule, incident.schedule_id) if incident.schedule_id else None
        minutes = schedule.escalation_delay_minutes if schedule else 15
        deadline = now + datetime.timedelta(seconds=minutes * seconds_per_minute)
        new_page, deliveries = await _page_person(db, workspace, incident, backup, 1, deadline, None, now, public_url)
        wakeups.append(Wakeup(new_page.id, deadline))
        paged = f"Paging {backup.name} by {channels(backup)}."
        note_timeline(db, incident, "escalated", paged if noted else f"{decision.message} {paged}", now)
    elif decision.action is EscalationAction.NOBODY_ACKED:
        note_timeline(
            db, incident, "nobody_acknowledged", f"{decision.message.rstrip('.')} (INC-{incident.number}).", now
        )
        deliveries = queue_channel_note(db, workspace, incident, f"INC-{incident.number}: {decision.message}", now)
    else:
        if not noted:
            note_timeline(db, incident, "escalation_impossible", decision.message, now)
        deliveries = queue_channel_note(db, workspace, incident, f"INC-{incident.number}: {decision.message}", now)
    return Outbox(deliveries, wakeups)


async def overdue_page_ids(db: AsyncSession, now: datetime.datetime, limit: int = 500) -> list[uuid.UUID]:
    """Pending pages past their deadline (the sweeper wakes each; the escalation is idempotent)."""
    rows = await db.scalars(
        select(Page.id)
        .where(Page.status == "pending", Page.deadline.is_not(None), Page.deadline <= now)
        .order_by(Page.deadline)
        .limit(limit)
    )
    ids = list(rows)
    await db.commit()
    return ids


# ---------------------------------------------------------------- resolve


async def resolve_incident(
    db: AsyncSession, access: WorkspaceAccess, incident_id: str | uuid.UUID, now: datetime.datetime
) -> Incident:
    """Resolve: pending pages are cancelled (state, not message revocation), so nothing escalates."""
    async with writing(db):
        incident = await get_incident(db, access.workspace.id, incident_id)
        await lock_row(db, Incident, incident.id)
        await db.refresh(incident)
        if incident.status == "resolved":
            raise Conflict(f"INC-{incident.number} is already resolved.")
        incident.status, incident.resolved_at = "resolved", now
        pages = await db.scalars(select(Page).where(Page.incident_id == incident.id, Page.status == "pending"))
        cancelled = 0
        for page in pages:
            page.status = "cancelled"
            cancelled += 1
        note = f"{access.user.display_name} resolved INC-{incident.number}."
        if cancelled:
            note += f" {cancelled} pending page{'s' if cancelled > 1 else ''} cancelled."
        note_timeline(db, incident, "resolved", note, now)
        workspace = await db.get_one(Workspace, incident.workspace_id)
        outbox = Outbox(queue_channel_note(db, workspace, incident, note, now), [])
    await outbox.send(now)
    return incident


# ---------------------------------------------------------------- reading


async def get_incident(db: AsyncSession, workspace_id: uuid.UUID, incident_id: str | uuid.UUID) -> Incident:
    incident = await db.get(Incident, parse_id(incident_id, "incident"))
    if incident is None or incident.workspace_id != workspace_id:
        raise NotFound("No such incident.")
    return incident


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    schedule: OnCallSchedule | None
    pages: list[tuple[Page, UserProfile | None]]
    responders: list[tuple[IncidentResponder, UserProfile]]
    timeline: list[TimelineEntry]
    # Per page, each message sent for it: (channel name, its honest state).
    deliveries: dict[uuid.UUID, list[tuple[str, DeliveryState]]] = field(default_factory=dict)

    @property
    def nobody_reached(self) -> bool:
        """Pages were made and not one of their messages reached anyone."""
        return nobody_reached([state for states in self.deliveries.values() for _, state in states])

    @property
    def unreached_reasons(self) -> list[str]:
        return sorted({f"{name}: {state.label}" for states in self.deliveries.values() for name, state in states})


async def describe_incident(db: AsyncSession, incident: Incident) -> IncidentView:
    pages = (
        await db.execute(
            select(Page, UserProfile)
            .outerjoin(UserProfile, UserProfile.id == Page.user_id)
            .where(Page.incident_id == incident.id)
            .order_by(Page.step, Page.created_at)
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
    timeline = list(
        await db.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident.id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    )
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
    return IncidentView(
        incident,
        schedule,
        [(p, u) for p, u in pages],
        [(r, u) for r, u in responders],
        timeline,
        deliveries,
    )


async def list_incidents(db: AsyncSession, workspace_id: uuid.UUID, limit: int = 100) -> list[Incident]:
    rows = await db.scalars(
        select(Incident).where(Incident.workspace_id == workspace_id).order_by(Incident.number.desc()).limit(limit)
    )
    return list(rows)


# ---------------------------------------------------------------- the Slack post


async def thread_of(db: AsyncSession, incident_id: uuid.UUID | None) -> str | None:
    """The ts of the incident's channel post, so later messages go into its thread."""
    if incident_id is None:
        return None
    ts = await db.scalar(select(Incident.slack_ts).where(Incident.id == incident_id))
    await db.commit()
    return ts
