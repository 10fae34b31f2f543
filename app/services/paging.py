"""The one paging path: "page step k of round r" of an incident's chain, and moving the chain on.

Opening an incident, a deadline, a decline, "Escalate now" and a repeat all end here: the caller
holds the incident's lock, `advance` asks app/domain/escalation.py's `decide_next`, and `_fire`
pages the step's targets (a schedule resolved to whoever is on call in it now, or a person),
writes the timeline and the step's deadline onto the incident, and returns the messages and the
wake-up to send after commit. The deadline is a column (DESIGN.md invariant 6); the delayed
`paging.escalate` message only wakes us, and the sweeper wakes incidents whose message was lost.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    DeliveryLog,
    Incident,
    Membership,
    OnCallSchedule,
    Page,
    PagerDutyService,
    UserProfile,
    Workspace,
)
from app.db.transactions import lock_row, writing
from app.domain import slack_text
from app.domain.acks import ACK_REACTION, DECLINE_REACTION, first_free_code
from app.domain.escalation import (
    Chain,
    ChainState,
    Event,
    IncidentStatus,
    Move,
    PageStatus,
    Position,
    Target,
    TargetKind,
    decide_next,
    exhausted_message,
    following,
    next_label,
    step_label,
)
from app.domain.pagerduty import trigger_event
from app.domain.paging import Person, channels, sms_text
from app.domain.voice import call_script
from app.metrics import ESCALATION_LATENESS
from app.services import jobs
from app.services.deliveries import queue_delivery
from app.services.errors import Conflict, FieldError
from app.services.identity import WorkspaceAccess
from app.services.pagerduty_events import queue_event
from app.services.schedules import SLOT_ROLES, slot_at
from app.services.sealed import unseal
from app.services.timeline import note as note_timeline


@dataclass(frozen=True)
class Wakeup:
    incident_id: uuid.UUID
    deadline: datetime.datetime


@dataclass(frozen=True)
class Later:
    """A delivery that waits (a call some minutes after the text)."""

    delivery_id: uuid.UUID
    at: datetime.datetime


@dataclass
class Outbox:
    """Jobs to enqueue once the transaction has committed."""

    deliveries: list[uuid.UUID]
    wakeups: list[Wakeup]
    later: list[Later] = field(default_factory=list)
    pages: list[uuid.UUID] = field(default_factory=list)  # a page's own messages: sent first, ahead of all

    async def send(self, now: datetime.datetime) -> None:
        await jobs.deliver_page(self.pages)
        await jobs.deliver(self.deliveries)
        for delayed in self.later:
            await jobs.deliver_at(delayed.delivery_id, delayed.at, page=True)
        for wakeup in self.wakeups:
            await jobs.escalate_at(wakeup.incident_id, wakeup.deadline)

    def add(self, other: Outbox) -> None:
        self.deliveries += other.deliveries
        self.wakeups += other.wakeups
        self.later += other.later
        self.pages += other.pages


@dataclass(frozen=True)
class Pace:
    """How long a configured minute lasts (tests shrink it), where links point, and the secret key
    that opens a PagerDuty connection's keys (None where it is not known: the send then says so)."""

    seconds_per_minute: float
    public_url: str
    secret_key: str | None = None


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
    return Person(
        user.id,
        user.display_name,
        user.paging_phone,
        user.paging_slack_id,
        eligible,
        user.time_zone,
        by_sms=user.page_by_sms,
        by_voice=user.page_by_voice,
        voice_after_minutes=user.voice_after_minutes,
    )


def link(public_url: str, workspace: Workspace, incident: Incident) -> str:
    return f"{public_url}/ws/{workspace.slug}/incidents/{incident.id}"


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


def chain_of(incident: Incident) -> Chain:
    return Chain.from_json(incident.chain or {"steps": []})


def _clock(at: datetime.datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return at.astimezone(tz).strftime("%H:%M")


async def page_person(
    db: AsyncSession,
    workspace: Workspace,
    incident: Incident,
    person: Person,
    position: Position | None,
    deadline: datetime.datetime | None,
    where: str,
    now: datetime.datetime,
    pace: Pace,
) -> tuple[Page, Outbox]:
    """A page row plus its Slack, SMS and call deliveries (queued, sent after commit). `where` says
    where the page stands ("step 2 of 3; next: Dave Diaz at 03:25")."""
    # The person's row lock serialises reply-code choice across workspaces: two incidents paging
    # the same person at once get different codes.
    await lock_row(db, UserProfile, person.id)
    taken = set(
        await db.scalars(
            select(Page.reply_code).where(
                Page.user_id == person.id, Page.status == PageStatus.PENDING, Page.reply_code.is_not(None)
            )
        )
    )
    code = first_free_code({c for c in taken if c is not None})
    page = Page(
        id=uuid.uuid4(),
        incident_id=incident.id,
        user_id=person.id,
        step=position.step if position else None,
        round=position.round if position else None,
        status=PageStatus.PENDING.value,
        sent_at=now,
        deadline=deadline,
        reply_code=code,
    )
    db.add(page)
    await db.flush()  # the deliveries below point at it (no ORM relationship orders the inserts)
    deliveries: list[uuid.UUID] = []
    if person.slack_user_id:
        text = (
            f"you are paged for INC-{incident.number} {incident.severity}: {incident.title} ({where})\n"
            f"{link(pace.public_url, workspace, incident)}\n"
            f"React :{ACK_REACTION}: to acknowledge, :{DECLINE_REACTION}: to decline."
        )
        deliveries += queue_channel_note(db, workspace, incident, text, now, page_id=page.id, to=person.slack_user_id)
    later: list[Later] = []
    if person.phone and person.by_sms:
        row = queue_delivery(
            db,
            workspace_id=workspace.id,
            channel="sms",
            target=person.phone,
            text=sms_text(workspace.name, incident.number, incident.severity, incident.title, code, where),
            now=now,
            incident_id=incident.id,
            page_id=page.id,
        )
        deliveries.append(row.id)
    if person.phone and person.by_voice:
        wait = person.voice_after_minutes if person.by_sms else 0
        at = now + datetime.timedelta(seconds=wait * pace.seconds_per_minute) if wait else None
        call = queue_delivery(
            db,
            workspace_id=workspace.id,
            channel="voice",
            target=person.phone,
            text="\n".join(call_script(workspace.name, incident.number, incident.title, where)),
            now=now,
            incident_id=incident.id,
            page_id=page.id,
            not_before=at,
        )
        if at is None:
            deliveries.append(call.id)
        else:
            later.append(Later(call.id, at))
    return page, Outbox([], [], later, deliveries)


def _role(chain: Chain, position: Position, target: Target) -> str:
    """How the timeline names what a target is: the implicit chain's primary and backup, else the
    schedule it was found on."""
    if chain.policy is None:
        return "primary" if position.step == 0 else "backup"
    return f"on call for {target.name}" if target.kind is TargetKind.SCHEDULE else ""


def _named(person: Person, role: str) -> str:
    return f"{person.name} ({role})" if role else person.name


async def _resolve(
    db: AsyncSession, workspace: Workspace, target: Target, now: datetime.datetime
) -> tuple[Person | None, str]:
    """Who the target is now, and what keeps them from being paged ("" when nothing does); with no
    person, why there is nobody."""
    if target.kind is TargetKind.SCHEDULE:
        schedule = await db.get(OnCallSchedule, target.id)
        if schedule is None or schedule.workspace_id != workspace.id:
            return None, f"the schedule {target.name} no longer exists"
        if not schedule.is_active:
            return None, f"{schedule.name} is inactive"
        slot = await slot_at(db, schedule.id, now)
        if slot is None:
            return None, f"nobody is on call for {schedule.name} right now (a gap in the schedule)"
        person = await person_of(db, workspace.id, slot.user_id)
    else:
        person = await person_of(db, workspace.id, target.id)
    if person is None:
        return None, f"{target.name} no longer exists"
    if not person.eligible:
        return person, "is no longer an active member who can be paged"
    if not person.reachable:
        return person, "has no verified phone number or Slack id"
    return person, ""


async def _pagerduty_service(
    db: AsyncSession, workspace: Workspace, incident: Incident, target: Target, pace: Pace
) -> tuple[PagerDutyService | None, Target | None, str]:
    """The connection a PagerDuty target pages through; when it cannot be used (deleted, or its keys
    no longer open under this secret key), the incident's schedule to page through Vigilo instead
    (None when the incident has none), and why."""
    service = await db.get(PagerDutyService, target.id)
    if service is not None and service.workspace_id == workspace.id:
        if pace.secret_key is None or unseal(pace.secret_key, service.routing_key_sealed) is not None:
            return service, None, ""
        why = (
            f"PagerDuty service {target.name} cannot be used: its keys cannot be decrypted "
            "(enter them again under Settings → Integrations)"
        )
    else:
        why = f"PagerDuty service {target.name} no longer exists"
    schedule = await db.get(OnCallSchedule, incident.schedule_id) if incident.schedule_id else None
    if schedule is None:
        return None, None, why
    return None, Target(TargetKind.SCHEDULE, schedule.id, schedule.name), why


async def _on_call_now(db: AsyncSession, workspace: Workspace, incident: Incident, now: datetime.datetime) -> str:
    """Who Vigilo says is on call for the incident's schedule (PagerDuty's custom details)."""
    if incident.schedule_id is None:
        return "no schedule"
    slot = await slot_at(db, incident.schedule_id, now)
    person = await person_of(db, workspace.id, slot.user_id) if slot is not None else None
    return person.name if person is not None else "nobody (a gap in the schedule)"


async def page_service(
    db: AsyncSession,
    workspace: Workspace,
    incident: Incident,
    service: PagerDutyService,
    position: Position,
    deadline: datetime.datetime,
    where: str,
    now: datetime.datetime,
    pace: Pace,
) -> Outbox:
    """A page of a PagerDuty service (no person: PagerDuty's escalation pages its people), its
    Events API trigger and the incident's channel post; no SMS, call or DM of Vigilo's own."""
    page = Page(
        id=uuid.uuid4(),
        incident_id=incident.id,
        user_id=None,
        pagerduty_service_id=service.id,
        step=position.step,
        round=position.round,
        status=PageStatus.PENDING.value,
        sent_at=now,
        deadline=deadline,
    )
    db.add(page)
    await db.flush()
    schedule = await db.get(OnCallSchedule, incident.schedule_id) if incident.schedule_id else None
    url = link(pace.public_url, workspace, incident)
    event = trigger_event(
        incident_id=incident.id,
        number=incident.number,
        title=incident.title,
        severity=incident.severity,
        workspace_slug=workspace.slug,
        link=url,
        details={
            "incident": f"INC-{incident.number}",
            "severity": incident.severity,
            "schedule": schedule.name if schedule is not None else None,
            "on_call_in_vigilo": await _on_call_now(db, workspace, incident, now),
            "escalation": where,
            "workspace": workspace.name,
        },
        service_label=service.label,
    )
    trigger = queue_event(db, service, event, now, incident.id, page.id)
    text = (
        f"INC-{incident.number} {incident.severity}: {incident.title} — paging through PagerDuty "
        f"service {service.label} ({where})\n{url}\n"
        f"React :{ACK_REACTION}: to acknowledge (PagerDuty is told)."
    )
    posts = queue_channel_note(db, workspace, incident, text, now, page_id=page.id)
    return Outbox([], [], pages=[trigger.id, *posts])


async def page_instead(db: AsyncSession, trigger_id: uuid.UUID, now: datetime.datetime, pace: Pace) -> Outbox:
    """PagerDuty did not take a step's trigger (refused it, or its keys no longer open): while that step
    still runs, page the incident's schedule through Vigilo instead, so the step does not page nobody."""
    async with writing(db):
        trigger = await db.get(DeliveryLog, trigger_id)
        if trigger is None or trigger.channel != "pagerduty" or trigger.page_id is None or trigger.status != "failed":
            return Outbox([], [])
        page = await db.get(Page, trigger.page_id)
        if page is None or not await lock_row(db, Incident, page.incident_id):
            return Outbox([], [])
        incident = await db.get_one(Incident, page.incident_id, populate_existing=True)
        page = await db.get_one(Page, page.id, populate_existing=True)
        current = (page.step, page.round) == (incident.chain_step, incident.chain_round)
        if incident.status != IncidentStatus.TRIGGERED or page.status != PageStatus.PENDING or not current:
            return Outbox([], [])
        workspace = await db.get_one(Workspace, incident.workspace_id)
        chain = chain_of(incident)
        position = Position(page.round or 0, page.step or 0)
        label = step_label(chain, position)
        page.status = PageStatus.ESCALATED.value
        why = f"{label.capitalize()}: PagerDuty did not take the trigger ({trigger.error or 'no reason given'})"
        schedule = await db.get(OnCallSchedule, incident.schedule_id) if incident.schedule_id else None
        if schedule is None:
            note_timeline(db, incident.id, "skipped", f"{why}; the incident has no schedule to page instead.", now)
            return Outbox([], [])
        person, problem = await _resolve(db, workspace, Target(TargetKind.SCHEDULE, schedule.id, schedule.name), now)
        if person is None or problem:
            detail = problem if person is None else f"{person.name} {problem}"
            note_timeline(db, incident.id, "skipped", f"{why}; {detail}, so nobody is paged instead.", now)
            return Outbox([], [])
        note_timeline(db, incident.id, "pagerduty_fallback", f"{why}; paging through Vigilo instead.", now)
        due = incident.escalation_due_at or now
        where = label + (f"; next: {next_label(chain, position)}" if following(chain, position) else "; the last step")
        _, outbox = await page_person(db, workspace, incident, person, position, due, where, now, pace)
        note_timeline(
            db,
            incident.id,
            "paged",
            f"Paging {person.name} (on call for {schedule.name}) by {channels(person)}, {label}.",
            now,
        )
    await outbox.send(now)
    return outbox


async def _fire(
    db: AsyncSession,
    workspace: Workspace,
    incident: Incident,
    chain: Chain,
    position: Position,
    now: datetime.datetime,
    pace: Pace,
) -> Outbox:
    """Page step `position` (and, when it reaches nobody, the steps after it at once)."""
    outbox = Outbox([], [])
    while True:
        step = chain.steps[position.step]
        due = now + datetime.timedelta(seconds=step.delay_minutes * pace.seconds_per_minute)
        label = step_label(chain, position)
        incident.chain_step, incident.chain_round = position.step, position.round
        paged: list[tuple[Person, str]] = []
        services: list[PagerDutyService] = []
        for given in step.targets:
            target = given
            if target.kind is TargetKind.PAGERDUTY:
                service, instead, why = await _pagerduty_service(db, workspace, incident, target, pace)
                if service is not None:
                    if all(s.id != service.id for s in services):
                        services.append(service)
                    continue
                if instead is None:
                    note_timeline(db, incident.id, "skipped", f"{label.capitalize()}: {why}; skipped.", now)
                    continue
                note_timeline(
                    db,
                    incident.id,
                    "pagerduty_fallback",
                    f"{label.capitalize()}: {why}; paging through Vigilo instead.",
                    now,
                )
                target = instead
            person, problem = await _resolve(db, workspace, target, now)
            role = _role(chain, position, target)
            if person is None or problem:
                why = problem if person is None else f"{_named(person, role)} {problem}"
                note_timeline(db, incident.id, "skipped", f"{label.capitalize()}: {why}; skipped.", now)
            elif all(p.id != person.id for p, _ in paged):
                paged.append((person, role))
        nxt = following(chain, position)
        for service in services:
            where = label + (f"; next: {next_label(chain, position)}" if nxt else "; the last step")
            outbox.add(await page_service(db, workspace, incident, service, position, due, where, now, pace))
            note_timeline(db, incident.id, "paged", f"Paging PagerDuty service {service.label}, {label}.", now)
        if paged or services:
            # Everyone this step pages is locked in one order (by id) before any page is made, so two
            # steps paging the same people in another order cannot deadlock on their rows.
            for person_id in sorted(p.id for p, _ in paged):
                await lock_row(db, UserProfile, person_id)
            for person, role in paged:
                where = label + (
                    f"; next: {next_label(chain, position)} at {_clock(due, person.time_zone)}"
                    if nxt
                    else f"; the last step, it runs until {_clock(due, person.time_zone)}"
                )
                _, queued = await page_person(db, workspace, incident, person, position, due, where, now, pace)
                outbox.add(queued)
                note_timeline(
                    db, incident.id, "paged", f"Paging {_named(person, role)} by {channels(person)}, {label}.", now
                )
            incident.escalation_due_at = due
            outbox.wakeups.append(Wakeup(incident.id, due))
            after = (
                f"Next: {next_label(chain, position)} in {step.delay_minutes} min unless acknowledged."
                if nxt
                else f"The last step: if nobody acknowledges within {step.delay_minutes} min, the chain ends."
            )
            note_timeline(db, incident.id, "escalation_scheduled", after, now)
            return outbox
        note_timeline(db, incident.id, "step_skipped", f"{label.capitalize()} pages nobody; moving on at once.", now)
        state = ChainState(IncidentStatus.TRIGGERED, position, due, (), Event.SKIPPED)
        decision = decide_next(chain, state, now)
        if decision.move is not Move.PAGE or decision.position is None:
            outbox.add(_exhaust(db, workspace, incident, chain, now, []))
            return outbox
        position = decision.position


def _exhaust(
    db: AsyncSession,
    workspace: Workspace,
    incident: Incident,
    chain: Chain,
    now: datetime.datetime,
    open_pages: list[Page],
) -> Outbox:
    """The last step of the last round ran out: say so in the timeline and the channel."""
    for page in open_pages:
        page.status = PageStatus.ESCALATED.value
    incident.escalation_due_at = None
    message = exhausted_message(incident.number, chain) + "."
    note_timeline(db, incident.id, "nobody_acknowledged", message, now)
    return Outbox(queue_channel_note(db, workspace, incident, message, now), [])


async def _step_pages(db: AsyncSession, incident: Incident) -> list[Page]:
    if incident.chain_step is None:
        return []
    return list(
        await db.scalars(
            select(Page).where(
                Page.incident_id == incident.id,
                Page.step == incident.chain_step,
                Page.round == incident.chain_round,
            )
        )
    )


async def advance(
    db: AsyncSession, workspace: Workspace, incident: Incident, event: Event, now: datetime.datetime, pace: Pace
) -> tuple[Move, Outbox]:
    """Ask the chain what `event` means now and carry it out (the caller holds the incident's lock)."""
    chain = chain_of(incident)
    pages = await _step_pages(db, incident)
    position = Position(incident.chain_round, incident.chain_step) if incident.chain_step is not None else None
    state = ChainState(
        IncidentStatus(incident.status),
        position,
        incident.escalation_due_at,
        tuple(PageStatus(p.status) for p in pages),
        event,
    )
    decision = decide_next(chain, state, now)
    if decision.move in (Move.WAIT, Move.STOP):
        return decision.move, Outbox([], [])
    open_pages = [p for p in pages if p.status == PageStatus.PENDING]
    if decision.move is Move.EXHAUSTED or decision.position is None:
        return Move.EXHAUSTED, _exhaust(db, workspace, incident, chain, now, open_pages)
    for page in open_pages:
        page.status = PageStatus.ESCALATED.value
    if event is Event.DEADLINE and position is not None:
        delay = chain.steps[position.step].delay_minutes
        label = step_label(chain, position)
        note_timeline(db, incident.id, "escalated", f"No acknowledgement within {delay} min of {label}.", now)
    return Move.PAGE, await _fire(db, workspace, incident, chain, decision.position, now, pace)


# ---------------------------------------------------------------- entry points


async def escalate_due(
    db: AsyncSession, incident_id: uuid.UUID, now: datetime.datetime, pace: Pace
) -> datetime.datetime | None:
    """A wake-up: move the chain on if its step ran out; returns the deadline when woken too early."""
    async with writing(db):
        if not await lock_row(db, Incident, incident_id):
            # A wake-up sent before the upgrade names a page; its incident is the one to wake.
            page_incident = await db.scalar(select(Page.incident_id).where(Page.id == incident_id))
            if page_incident is None or not await lock_row(db, Incident, page_incident):
                return None
            incident_id = page_incident
        incident = await db.get_one(Incident, incident_id, populate_existing=True)
        workspace = await db.get_one(Workspace, incident.workspace_id)
        due = incident.escalation_due_at
        move, outbox = await advance(db, workspace, incident, Event.DEADLINE, now, pace)
        if move is Move.WAIT:
            return incident.escalation_due_at
    if due is not None and move in (Move.PAGE, Move.EXHAUSTED):  # the deadline acted on: how late
        ESCALATION_LATENESS.observe(max(0.0, (now - due).total_seconds()))
    await outbox.send(now)
    return None


async def escalate_now(
    db: AsyncSession,
    access: WorkspaceAccess,
    incident: Incident,
    now: datetime.datetime,
    pace: Pace,
    seen_due: datetime.datetime | None = None,
) -> str:
    """ "Escalate now": the next step fires at once. Returns what happened, in words. `seen_due` is the
    deadline of the step the person saw: when the chain has moved on since (a second click, another
    responder, the deadline itself), nothing fires twice."""
    async with writing(db):
        await lock_row(db, Incident, incident.id)
        await db.refresh(incident)
        if incident.status != IncidentStatus.TRIGGERED:
            raise Conflict(f"INC-{incident.number} is {incident.status}; there is nothing to escalate.")
        if incident.escalation_due_at is None:
            raise Conflict(f"INC-{incident.number} has no step left to escalate to.")
        if seen_due is not None and incident.escalation_due_at != seen_due:
            raise Conflict(f"INC-{incident.number} has moved on since you looked; nothing more was paged.")
        workspace = await db.get_one(Workspace, incident.workspace_id)
        note_timeline(db, incident.id, "escalate_now", f"{access.user.display_name} escalated now.", now)
        move, outbox = await advance(db, workspace, incident, Event.ESCALATE_NOW, now, pace)
        text = (
            f"Escalated INC-{incident.number}."
            if move is Move.PAGE
            else f"INC-{incident.number} had no step left; nobody more is paged."
        )
    await outbox.send(now)
    return text


async def add_responder(
    db: AsyncSession, access: WorkspaceAccess, incident: Incident, email: str, now: datetime.datetime, pace: Pace
) -> str:
    """Page a chosen person outside the chain, once. Returns what happened, in words."""
    address = (email or "").strip().lower()
    async with writing(db):
        await lock_row(db, Incident, incident.id)
        await db.refresh(incident)
        if incident.status == IncidentStatus.RESOLVED:
            raise Conflict(f"INC-{incident.number} is resolved.")
        user = await db.scalar(select(UserProfile).where(UserProfile.email == address)) if address else None
        person = await person_of(db, access.workspace.id, user.id) if user else None
        if person is None or not person.eligible:
            raise FieldError.one("user", "Choose an active member of this workspace with role member or above.")
        if not person.reachable:
            raise FieldError.one("user", f"{person.name} has no verified phone number or Slack id to be paged on.")
        already = await db.scalar(
            select(Page.id).where(Page.incident_id == incident.id, Page.user_id == person.id, Page.step.is_(None))
        )
        if already is not None:
            raise Conflict(f"{person.name} was already added to INC-{incident.number}.")
        workspace = await db.get_one(Workspace, incident.workspace_id)
        where = f"added by {access.user.display_name}"
        _, outbox = await page_person(db, workspace, incident, person, None, None, where, now, pace)
        message = f"{access.user.display_name} added {person.name} as a responder; paging by {channels(person)}."
        note_timeline(db, incident.id, "responder_added", message, now)
    await outbox.send(now)
    return message


async def due_incident_ids(db: AsyncSession, now: datetime.datetime, limit: int = 500) -> list[uuid.UUID]:
    """Triggered incidents whose step ran out (the sweeper wakes each; the escalation is idempotent)."""
    rows = await db.scalars(
        select(Incident.id)
        .where(
            Incident.status == IncidentStatus.TRIGGERED,
            Incident.escalation_due_at.is_not(None),
            Incident.escalation_due_at <= now,
        )
        .order_by(Incident.escalation_due_at)
        .limit(limit)
    )
    ids = list(rows)
    await db.commit()
    return ids
