"""Outbound messages as delivery-log rows: queued in the transaction that decides them, sent one by
one afterwards, and resent only when the send provably failed (DESIGN.md invariant 8).

A row moves pending → sending → sent | retrying | failed | unknown. The Dramatiq message that sends
it is only a wake-up: when it is lost (worker killed, Redis flushed or down), the sweeper finds the
row still pending or due for a retry and sends it; a row left "sending" by a worker that died
mid-send may have arrived, so it becomes "unknown" and is never resent. Outcomes other than a
first-time success are written to the incident's timeline.
"""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Incident, Membership, OnCallSchedule, OnCallSlot, Page, UserProfile
from app.db.transactions import lock_row, writing
from app.domain.acks import ACK_REACTION, DECLINE_REACTION
from app.domain.pagerduty import TEST_PREFIX, Action, OutboundEvent
from app.domain.reminders import parse_shift_key
from app.domain.roles import Role
from app.domain.voice import CALL_FINAL, CALL_PROGRESS, call_outcome_note
from app.integrations.slack import Outcome, SendResult
from app.metrics import DELIVERIES, DELIVERY_LATENCY
from app.services.timeline import note as timeline_note

MAX_ATTEMPTS = 5
# What a provider's "yes" means: Twilio accepted an SMS (delivery comes later, by its callback);
# Slack shows a post at once.
ACCEPTED = {
    "sms": "accepted by Twilio",
    "voice": "placed by Twilio",
    "slack_post": "posted",
    "slack": "posted",
    "pagerduty": "accepted by PagerDuty",
}
MAX_RETRY_WAIT_SECONDS = 60.0  # a longer Retry-After is capped: a page an hour late is no page
GIVE_UP_AFTER = datetime.timedelta(hours=1)  # a message this old is dropped, not sent late
RECORD_TRIES = 10  # a send's outcome (and a post's ts) is written until it sticks: ~10 s of cut connections
EARLY_TOLERANCE = datetime.timedelta(milliseconds=500)  # a delayed message may wake a hair before retry_at


@dataclass(frozen=True)
class Outgoing:
    """What a delivery row asks to send."""

    id: uuid.UUID
    channel: str  # slack (a DM), slack_post (the incident channel), sms
    target: str
    text: str
    incident_id: uuid.UUID | None
    external_id: str | None = None


def queue_delivery(
    db: AsyncSession,
    *,
    workspace_id: uuid.UUID | None,
    channel: str,
    target: str | None,
    text: str,
    now: datetime.datetime,
    incident_id: uuid.UUID | None = None,
    page_id: uuid.UUID | None = None,
    missing: str | None = None,
    not_before: datetime.datetime | None = None,
) -> DeliveryLog:
    """Add a pending row (or a "skipped" one saying `missing` when there is no target); one with
    `not_before` waits until then (a call that comes some minutes after the text)."""
    row = DeliveryLog(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        at=now,
        direction="outbound",
        channel=channel,
        target=target or "",
        status="pending" if target else "skipped",
        error=None if target else missing,
        summary=text,
        incident_id=incident_id,
        page_id=page_id,
        retry_at=not_before,
        queued_at=now,
        due_at=max(now, not_before) if not_before is not None else now,
    )
    db.add(row)
    return row


@dataclass(frozen=True)
class Attempt:
    """What the actor should do next with a delivery row."""

    done: bool
    result: SendResult | None = None
    retry_in: float | None = None
    outgoing: Outgoing | None = None
    follow_up: tuple[uuid.UUID, ...] = ()  # rows this send queued (the post's reactions): send them next


def describe(row: DeliveryLog) -> str:
    """The message in a timeline's words: "SMS to +15550100001"."""
    if row.channel == "sms":
        return f"SMS to {row.target}"
    if row.channel == "voice":
        return f"Call to {row.target}"
    if row.channel == "slack_post":
        return "Slack post in the incident channel"
    if row.channel == "slack_reaction":
        return f"The :{row.summary}: reaction on the incident post"
    if row.channel == "pagerduty":
        try:
            return OutboundEvent.from_json(row.summary).describe()
        except (ValueError, KeyError, TypeError):
            return "PagerDuty event"
    return f"Slack message to {row.target}"


def reaction_target(channel: str, ts: str) -> str:
    """A reaction row's target: the post it goes on."""
    return f"{channel} {ts}"


def parse_reaction_target(target: str) -> tuple[str, str]:
    channel, _, ts = target.partition(" ")
    return channel, ts


async def send_logged(
    db: AsyncSession,
    log_id: uuid.UUID,
    send: Callable[[Outgoing], Awaitable[SendResult]],
    now: datetime.datetime,
    call_retry: datetime.timedelta = datetime.timedelta(seconds=60),
) -> Attempt:
    """Send one pending row and record the outcome; only a provable failure asks for a retry (a call
    that Twilio refused is placed once more, `call_retry` later)."""
    async with writing(db):
        await lock_row(db, DeliveryLog, log_id)
        row = await db.get(DeliveryLog, log_id, populate_existing=True)
        if row is None or row.status not in {"pending", "retrying"}:
            return Attempt(done=True)  # sent, or given up on, by an earlier run of this message
        if row.retry_at is not None and row.retry_at > now + EARLY_TOLERANCE:
            return Attempt(done=True)  # a stale or early wake-up: the one due at retry_at (or the sweeper) sends it
        if row.channel in {"voice", "pagerduty"} and row.page_id is not None:
            page = await db.get(Page, row.page_id)
            if page is not None and page.status != "pending":
                # A call that was to come after the text, or a trigger still waiting to be sent (a
                # retry): the page was answered meanwhile, so nobody is woken for nothing.
                verb = "placed" if row.channel == "voice" else "sent"
                row.status, row.error = "skipped", f"not {verb}: the page was {page.status} first"
                message = f"{describe(row)} not {verb}: the page was {page.status} first."
                _note(db, row, "delivery_skipped", message, now)
                return Attempt(done=True)
        if row.shift_key is not None and not await _still_their_shift(db, row.shift_key, row.channel):
            row.status, row.error = (
                "skipped",
                "not sent: the shift was given away, changed or paused before its reminder",
            )
            return Attempt(done=True)
        if row.channel == "pagerduty" and row.page_id is None and row.incident_id is not None:
            waiting = await _trigger_first(db, row, now)
            if waiting is not None:
                return waiting
        row.attempts += 1
        row.status = "sending"  # in flight: a crash now leaves it visible, never resent blindly
        queued = row.queued_at or row.at
        row.at, row.retry_at = now, None
        outgoing = Outgoing(row.id, row.channel, row.target, row.summary, row.incident_id, row.external_id)
    started = time.monotonic()
    result = await send(outgoing)
    finished = now + datetime.timedelta(seconds=time.monotonic() - started)
    for tries_left in reversed(range(RECORD_TRIES)):
        try:
            attempt = await _record(db, log_id, outgoing, result, finished, call_retry)
        except DBAPIError:  # the connection was cut mid-write: the send happened, so keep trying to say so
            await db.rollback()
            if not tries_left:
                raise
            await asyncio.sleep(1.0)
        else:
            _count(outgoing.channel, result, attempt, (finished - queued).total_seconds())
            return attempt
    raise AssertionError("unreachable")


def _count(channel: str, result: SendResult, attempt: Attempt, since_queued: float) -> None:
    """The metrics of one send: its outcome, and how long a sent message took from being queued."""
    if result.outcome is Outcome.SENT:
        DELIVERIES.labels(channel, "sent").inc()
        DELIVERY_LATENCY.labels(channel).observe(max(0.0, since_queued))
    elif not attempt.done:
        DELIVERIES.labels(channel, "retrying").inc()
    else:
        DELIVERIES.labels(channel, "unknown" if result.outcome is Outcome.UNKNOWN else "failed").inc()


async def _record(
    db: AsyncSession,
    log_id: uuid.UUID,
    outgoing: Outgoing,
    result: SendResult,
    now: datetime.datetime,
    call_retry: datetime.timedelta,
) -> Attempt:
    async with writing(db):
        row = await db.get(DeliveryLog, log_id, populate_existing=True)
        assert row is not None
        row.at = now
        row.error = result.error
        what = describe(row)
        if result.outcome is Outcome.SENT:
            row.status = "sent"
            if row.channel in {"sms", "voice"} and result.ts:
                row.provider_id = result.ts[:64]  # Twilio's MessageSid or CallSid: its status callback finds the row
            accepted = ACCEPTED.get(row.channel, "sent")
            attempt = f" on attempt {row.attempts}" if row.attempts > 1 else ""
            if row.channel != "slack_reaction":
                _note(db, row, "delivery_sent", f"{what} {accepted}{attempt}.", now)
            # The post and its ts are one fact: stored with the "sent" that records the post.
            follow_up = await _remember_post(db, row, result, now)
            resolve = _close_test_trigger(db, row, now)  # a test trigger PagerDuty accepted is closed at once
            if resolve is not None:
                follow_up += (resolve.id,)
            return Attempt(done=True, result=result, outgoing=outgoing, follow_up=follow_up)
        if row.channel == "voice" and result.outcome in {Outcome.TEMPORARY, Outcome.PERMANENT}:
            # Provably never placed: a call is tried once more, a minute later, never a third time.
            if row.attempts < VOICE_ATTEMPTS:
                row.status, row.retry_at = "retrying", now + call_retry
                row.due_at = row.retry_at
                message = f"{what} failed: {result.error}; calling again in {_seconds(call_retry)}."
                _note(db, row, "delivery_retrying", message, now)
                return Attempt(done=False, result=result, retry_in=call_retry.total_seconds())
            row.status = "failed"
            _note(db, row, "delivery_failed", f"{what} failed again: {result.error}; not called a third time.", now)
            return Attempt(done=True, result=result, outgoing=outgoing)
        if result.outcome is Outcome.TEMPORARY and row.attempts < MAX_ATTEMPTS:
            wait = min(result.retry_after or float(2**row.attempts), MAX_RETRY_WAIT_SECONDS)
            row.status = "retrying"
            row.retry_at = row.due_at = now + datetime.timedelta(seconds=wait)
            message = (
                f"{what} failed: {result.error}; retrying in {wait:g} s (attempt {row.attempts} of {MAX_ATTEMPTS})."
            )
            _note(db, row, "delivery_retrying", message, now)
            return Attempt(done=False, result=result, retry_in=wait)
        if result.outcome is Outcome.UNKNOWN:
            row.status = "unknown"
            message = f"{what} {_maybe_lost(row)} ({result.error}); {_not_again(row)}."
            _note(db, row, "delivery_unknown", message, now)
            resolve = _close_test_trigger(db, row, now)  # a test alert that may exist is closed all the same
            if resolve is not None:
                return Attempt(done=True, result=result, outgoing=outgoing, follow_up=(resolve.id,))
        else:
            row.status = "failed"
            reason = (result.error or "no reason given").rstrip(".")
            _note(db, row, "delivery_failed", f"{what} failed after {_attempts(row.attempts)}: {reason}.", now)
        return Attempt(done=True, result=result, outgoing=outgoing)


async def _remember_post(
    db: AsyncSession, row: DeliveryLog, result: SendResult, now: datetime.datetime
) -> tuple[uuid.UUID, ...]:
    """An incident's first channel post: store its channel and ts on the incident and queue the
    ack and decline reactions on it (rows, so they are added once and swept like any message)."""
    if row.channel != "slack_post" or row.incident_id is None or not result.channel or not result.ts:
        return ()
    await lock_row(db, Incident, row.incident_id)
    incident = await db.get(Incident, row.incident_id, populate_existing=True)
    if incident is None or incident.slack_ts is not None:
        return ()
    incident.slack_channel_id, incident.slack_ts = result.channel, result.ts
    reactions = [
        queue_delivery(
            db,
            workspace_id=row.workspace_id,
            channel="slack_reaction",
            target=reaction_target(result.channel, result.ts),
            text=name,
            now=now,
            incident_id=row.incident_id,
        )
        for name in (ACK_REACTION, DECLINE_REACTION)
    ]
    return tuple(reaction.id for reaction in reactions)


async def _still_their_shift(db: AsyncSession, key: str, channel: str) -> bool:
    """A reminder's shift still begins then and is still the person's (not given away, not moved), on
    an active schedule, while they are an active member who holds slots and still want this reminder."""
    parsed = parse_shift_key(key)
    if parsed is None:
        return False
    schedule_id, user_id, start = parsed
    found = (
        await db.execute(
            select(UserProfile)
            .join(Membership, Membership.user_id == UserProfile.id)
            .join(OnCallSchedule, OnCallSchedule.workspace_id == Membership.workspace_id)
            .where(
                UserProfile.id == user_id,
                OnCallSchedule.id == schedule_id,
                OnCallSchedule.is_active,
                Membership.is_active,
                Membership.role.in_([Role.MEMBER.value, Role.ADMIN.value, Role.OWNER.value]),
            )
        )
    ).first()
    if found is None:
        return False  # paused, deleted, or the person left or became a viewer
    person = found[0]
    wanted = {"slack": person.reminder_by_slack, "sms": person.reminder_by_sms}.get(channel, False)
    if not person.reminder_minutes or not wanted:
        return False
    begins = await db.scalar(
        select(OnCallSlot.id).where(
            OnCallSlot.schedule_id == schedule_id, OnCallSlot.user_id == user_id, OnCallSlot.start_time == start
        )
    )
    continues = await db.scalar(
        select(OnCallSlot.id).where(
            OnCallSlot.schedule_id == schedule_id, OnCallSlot.user_id == user_id, OnCallSlot.end_time == start
        )
    )
    return begins is not None and continues is None


FOLLOW_UP_WAIT = 2.0  # seconds an acknowledge or resolve waits for its trigger's outcome


async def _trigger_first(db: AsyncSession, row: DeliveryLog, now: datetime.datetime) -> Attempt | None:
    """An acknowledge or resolve goes after the trigger of the same alert: while the trigger is still
    on its way it waits (PagerDuty would drop it, then open the alert); when PagerDuty never got the
    trigger (skipped, refused) there is nothing to acknowledge or resolve. None: send it now."""
    triggers = list(
        await db.scalars(
            select(DeliveryLog.status).where(
                DeliveryLog.channel == "pagerduty",
                DeliveryLog.incident_id == row.incident_id,
                DeliveryLog.target == row.target,
                DeliveryLog.page_id.is_not(None),
            )
        )
    )
    if any(status in {"pending", "retrying", "sending"} for status in triggers):
        row.status, row.retry_at = "retrying", now + datetime.timedelta(seconds=FOLLOW_UP_WAIT)
        row.due_at = row.retry_at
        return Attempt(done=False, retry_in=FOLLOW_UP_WAIT)
    if triggers and all(status in {"skipped", "failed"} for status in triggers):
        row.status, row.error = "skipped", "not sent: PagerDuty never took the trigger, so it has no alert to change"
        return Attempt(done=True)
    return None


def _close_test_trigger(db: AsyncSession, trigger: DeliveryLog, now: datetime.datetime) -> DeliveryLog | None:
    """The resolve that closes a test trigger PagerDuty accepted ("Send test event"), queued with the
    "sent" that records the trigger; None for any other row."""
    key = trigger.external_id or ""
    if trigger.channel != "pagerduty" or not key.startswith(TEST_PREFIX) or not key.endswith(":trigger"):
        return None
    event = OutboundEvent.from_json(trigger.summary)
    resolve = OutboundEvent(Action.RESOLVE, event.dedup_key, None, (), event.service_label)
    row = queue_delivery(
        db,
        workspace_id=trigger.workspace_id,
        channel="pagerduty",
        target=trigger.target,
        text=resolve.to_json(),
        now=now,
    )
    row.external_id = key.removesuffix(":trigger") + ":resolve"
    return row


def _maybe_lost(row: DeliveryLog) -> str:
    return "may not have been placed" if row.channel == "voice" else "may not have arrived"


def _not_again(row: DeliveryLog) -> str:
    """Why a send whose fate is unknown is left alone (invariant 8)."""
    if row.channel == "voice":
        return "not placed again, so nobody is called twice"
    return "not resent, so nobody gets it twice"


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _note(db: AsyncSession, row: DeliveryLog, kind: str, message: str, now: datetime.datetime) -> None:
    if row.incident_id is not None:
        timeline_note(db, row.incident_id, kind, message, now)


async def sweep_stalled(
    db: AsyncSession, now: datetime.datetime, grace: datetime.timedelta, sending_grace: datetime.timedelta
) -> list[uuid.UUID]:
    """Rows whose wake-up was lost: returns those to send again (pending, or past their retry time);
    marks as "unknown" those left "sending" longer than `sending_grace`, and as "failed" those
    older than GIVE_UP_AFTER. Sending a returned id twice is harmless: the send locks and re-checks.
    A returned row is stamped (retry_at = now), so the next sweep offers it again only after `grace`."""
    due = now - grace
    waiting_since = func.coalesce(DeliveryLog.retry_at, DeliveryLog.at)
    async with writing(db):
        rows = list(
            await db.scalars(
                select(DeliveryLog)
                .where(
                    DeliveryLog.direction == "outbound",
                    or_(
                        and_(DeliveryLog.status.in_(["pending", "retrying"]), waiting_since <= due),
                        and_(DeliveryLog.status == "sending", DeliveryLog.at <= now - sending_grace),
                    ),
                )
                .order_by(DeliveryLog.at)
                .limit(500)
                .with_for_update(skip_locked=True)
            )
        )
        resend: list[uuid.UUID] = []
        for row in rows:
            what = describe(row)
            if row.status == "sending":
                row.status, row.error = "unknown", "the worker stopped while sending; not resent"
                message = f"{what} {_maybe_lost(row)} (the worker stopped mid-send); {_not_again(row)}."
                _note(db, row, "delivery_unknown", message, now)
            elif row.at <= now - GIVE_UP_AFTER:
                row.status, row.error = "failed", "not sent within an hour; dropped rather than sent late"
                _note(
                    db,
                    row,
                    "delivery_failed",
                    f"{what} was not sent within an hour; dropped rather than sent late.",
                    now,
                )
            else:
                row.retry_at = now
                resend.append(row.id)
    return resend


async def stalled_inbound(
    db: AsyncSession, now: datetime.datetime, grace: datetime.timedelta
) -> list[tuple[uuid.UUID, str]]:
    """(id, channel) of Slack events, SMS, key presses and PagerDuty webhooks recorded but never handled (their message was lost,
    Redis down, a worker killed, the web request's connection cut), younger than GIVE_UP_AFTER; each
    is stamped so the next sweep offers it again only after `grace`. Handling one twice is harmless:
    the handler locks the row and re-checks its status in the transaction that acts."""
    async with writing(db):
        rows = list(
            await db.scalars(
                select(DeliveryLog)
                .where(
                    DeliveryLog.direction == "inbound",
                    DeliveryLog.channel.in_(["slack", "sms", "voice", "pagerduty"]),
                    DeliveryLog.status == "received",
                    func.coalesce(DeliveryLog.retry_at, DeliveryLog.at) <= now - grace,
                    DeliveryLog.at > now - GIVE_UP_AFTER,
                )
                .order_by(DeliveryLog.at)
                .limit(500)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.retry_at = now
    return [(row.id, row.channel) for row in rows]


async def recent_deliveries(db: AsyncSession, workspace_id: uuid.UUID, limit: int = 50) -> list[DeliveryLog]:
    """The newest delivery-log rows of a workspace (Settings → Integrations)."""
    rows = await db.scalars(
        select(DeliveryLog).where(DeliveryLog.workspace_id == workspace_id).order_by(DeliveryLog.at.desc()).limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class ProviderNews:
    """What a status callback changed: `known` False for an id we never sent; `retry` a call to place
    again (once, `retry_in` later) because Twilio says it failed."""

    known: bool
    retry: uuid.UUID | None = None


async def record_provider_status(
    db: AsyncSession,
    provider_id: str,
    provider_status: str,
    error_code: str,
    now: datetime.datetime,
    retry_in: datetime.timedelta = datetime.timedelta(seconds=60),
    answered_by: str = "",
) -> ProviderNews:
    """Twilio's word on an SMS it accepted (delivered, undelivered, failed) or a call it placed
    (ringing, in-progress, completed, busy, no-answer, failed): final words are said once in the
    incident's timeline. Busy and no-answer are answers (the chain goes on at its deadline); a call
    that failed is placed once more after `retry_in`."""
    status = provider_status.strip().lower()
    if status not in PROVIDER_FINAL | PROVIDER_PROGRESS:
        return ProviderNews(False)
    async with writing(db):
        row = await db.scalar(select(DeliveryLog).where(DeliveryLog.provider_id == provider_id[:64]).with_for_update())
        if row is None:
            return ProviderNews(False)
        if row.provider_status in PROVIDER_FINAL or row.provider_status == status:
            return ProviderNews(True)  # a retried or late callback: the final word stands, said once
        row.provider_status = status
        if status not in PROVIDER_FINAL:
            return ProviderNews(True)
        what = describe(row)
        if row.channel == "voice":
            return _call_ended(db, row, status, error_code, now, retry_in, answered_by)
        if status == "delivered":
            _note(db, row, "delivery_delivered", f"{what} was delivered.", now)
        else:
            why = f" (Twilio error {error_code})" if error_code else ""
            row.error = f"Twilio: {status}{why}"
            _note(db, row, "delivery_undelivered", f"{what} was not delivered: Twilio says {status}{why}.", now)
    return ProviderNews(True)


def _call_ended(
    db: AsyncSession,
    row: DeliveryLog,
    status: str,
    error_code: str,
    now: datetime.datetime,
    retry_in: datetime.timedelta,
    answered_by: str,
) -> ProviderNews:
    what = describe(row)
    if status == "completed" and answered_by.startswith(("machine", "fax")):
        # Twilio's machine detection: voicemail took the call (said here as well as by the key
        # webhook, which may not carry AnsweredBy).
        row.error = "Twilio: voicemail answered"
        _note(db, row, "delivery_unanswered", f"{what} reached voicemail; the chain goes on at its deadline.", now)
        return ProviderNews(True)
    if status == "failed":
        why = f" (Twilio error {error_code})" if error_code else ""
        row.error = f"Twilio: failed{why}"
        if row.attempts < VOICE_ATTEMPTS:
            # Provably never rang: placed once more. The new call gets its own CallSid and callbacks.
            row.status, row.retry_at, row.provider_status, row.provider_id = "retrying", now + retry_in, None, None
            row.due_at = row.retry_at
            _note(db, row, "delivery_retrying", f"{what} failed{why}; calling again in {_seconds(retry_in)}.", now)
            return ProviderNews(True, retry=row.id)
        row.status = "failed"
        _note(db, row, "delivery_failed", f"{what} failed again{why}; not called a third time.", now)
        return ProviderNews(True)
    note = call_outcome_note(what, status)
    if note is not None:
        row.error = f"Twilio: {status}"
        _note(db, row, "delivery_unanswered", note, now)
    return ProviderNews(True)


def _seconds(delta: datetime.timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


VOICE_ATTEMPTS = 2  # a call Twilio says failed is placed once more, never a third time
PROVIDER_FINAL = frozenset({"delivered", "undelivered", "failed"}) | CALL_FINAL
PROVIDER_PROGRESS = frozenset({"queued", "sending", "sent", "accepted"}) | CALL_PROGRESS
