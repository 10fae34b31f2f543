"""Deliveries on both databases: the sweeper,: what a lost wake-up left behind is resent, given up on, or
marked unknown, and the incident's timeline says which."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, TimelineEntry
from app.db.transactions import writing
from app.domain.overrides import Event
from app.domain.roles import Role
from app.integrations.slack import Outcome, SendResult, retry_after_seconds
from app.services.deliveries import Outgoing, queue_delivery, send_logged, stalled_inbound, sweep_stalled
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.inbound import record_inbound
from app.services.incidents import declare_incident
from app.services.notifications import add_event_messages
from tests.factories import fresh, make_paging_schedule, make_team, reload

GRACE = datetime.timedelta(seconds=30)
SENDING_GRACE = datetime.timedelta(seconds=40)


async def test_sweeper_resends_gives_up_and_marks_unknown(db: AsyncSession) -> None:
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, 15)
    now = datetime.datetime.now(datetime.UTC)
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    incident = await declare_incident(db, owner, "Disk full", "SEV2", schedule.id, now, 60, "http://x")
    later = now + datetime.timedelta(minutes=2)

    def row(number: int, status: str, at: datetime.datetime, retry_at: datetime.datetime | None = None) -> DeliveryLog:
        queued = queue_delivery(
            db,
            workspace_id=team.workspace.id,
            channel="sms",
            target=f"+1555000{number:04d}",
            text=status,
            now=at,
            incident_id=incident.id,
        )
        queued.status, queued.retry_at = status, retry_at
        return queued

    async with writing(db):
        for existing in await db.scalars(select(DeliveryLog)):
            existing.status = "sent"  # the trigger's own messages went out
        lost = row(1, "pending", later - datetime.timedelta(minutes=1))
        fresh_row = row(2, "pending", later - datetime.timedelta(seconds=5))
        due = row(3, "retrying", later - datetime.timedelta(minutes=1), retry_at=later - datetime.timedelta(minutes=1))
        waiting = row(4, "retrying", later, retry_at=later + datetime.timedelta(seconds=50))
        cut_off = row(5, "sending", later - datetime.timedelta(minutes=1))
        in_flight = row(6, "sending", later - datetime.timedelta(seconds=10))
        stale = row(7, "pending", later - datetime.timedelta(hours=2))
    ids = {name: r.id for name, r in locals().items() if isinstance(r, DeliveryLog)}

    resend = await sweep_stalled(db, later, GRACE, SENDING_GRACE)
    assert set(resend) == {ids["lost"], ids["due"]}
    session = await fresh(db)
    status = {r.id: r.status for r in await session.scalars(select(DeliveryLog))}
    assert status[ids["fresh_row"]] == "pending" and status[ids["waiting"]] == "retrying"
    assert status[ids["cut_off"]] == "unknown" and status[ids["in_flight"]] == "sending"
    assert status[ids["stale"]] == "failed"
    notes = [e.message for e in await session.scalars(select(TimelineEntry).order_by(TimelineEntry.id))]
    assert (
        "SMS to +15550000005 may not have arrived (the worker stopped mid-send); not resent, so nobody gets it twice."
        in notes
    )
    assert "SMS to +15550000007 was not sent within an hour; dropped rather than sent late." in notes
    # Offered rows are stamped: the next sweep offers them again only once the grace has passed again
    # (sending twice is harmless anyway: the send locks the row and re-checks its status).
    assert await sweep_stalled(db, later + datetime.timedelta(seconds=1), GRACE, SENDING_GRACE) == []
    again = await sweep_stalled(db, later + GRACE, GRACE, SENDING_GRACE)
    assert set(again) == {ids["lost"], ids["due"], ids["fresh_row"]}  # the fresh one is overdue by now too


async def test_a_stale_wake_up_does_not_resend_before_retry_after(db: AsyncSession) -> None:
    team = await make_team(db)
    now = datetime.datetime.now(datetime.UTC)
    async with writing(db):
        row = queue_delivery(
            db, workspace_id=team.workspace.id, channel="sms", target="+15550000001", text="page", now=now
        )
        row.status, row.attempts, row.retry_at = "retrying", 1, now + datetime.timedelta(seconds=30)
    sent: list[Outgoing] = []

    async def send(out: Outgoing) -> SendResult:
        sent.append(out)
        return SendResult(Outcome.SENT)

    early = await send_logged(db, row.id, send, now + datetime.timedelta(seconds=5))
    assert early.done and sent == []  # the Retry-After is honoured: the message due at retry_at sends it
    on_time = await send_logged(db, row.id, send, now + datetime.timedelta(seconds=30))
    assert on_time.done and len(sent) == 1
    assert (await reload(db, DeliveryLog, row.id)).status == "sent"


async def test_an_event_job_run_twice_queues_each_dm_once(db: AsyncSession) -> None:
    team = await make_team(db)
    now = datetime.datetime.now(datetime.UTC)
    payload = {
        "workspace_id": str(team.workspace.id),
        "previous_user": str(team["member"].id),
        "user": str(team["admin"].id),
        "actor": str(team["owner"].id),
        "at": now.isoformat(),
        "until": (now + datetime.timedelta(hours=8)).isoformat(),
    }
    event = Event("oncall.handoff", payload)
    async with writing(db):
        first = await add_event_messages(db, [event], now)
    async with writing(db):
        again = await add_event_messages(db, [event], now)  # the same event told twice
    assert len(first) == 2 and again == first
    rows = list(await (await fresh(db)).scalars(select(DeliveryLog).where(DeliveryLog.channel == "slack")))
    assert len(rows) == 2


async def test_a_slack_event_left_unhandled_is_offered_again(db: AsyncSession) -> None:
    now = datetime.datetime.now(datetime.UTC)
    received = await record_inbound(db, "slack", "EvLost", '{"type": "event_callback"}', now)
    assert await stalled_inbound(db, now + datetime.timedelta(seconds=1), GRACE) == []
    assert await stalled_inbound(db, now + GRACE, GRACE) == [(received.row_id, "slack")]
    assert await stalled_inbound(db, now + GRACE, GRACE) == []  # stamped: not again until the grace passes


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("5", 5.0),
        ("0", 1.0),
        ("-3", 1.0),
        ("3600", 60.0),
        ("nan", 1.0),
        ("inf", 1.0),
        (None, 1.0),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 1.0),
    ],
)
def test_retry_after_is_bounded(raw: object, seconds: float) -> None:
    assert retry_after_seconds(raw) == seconds


async def test_a_refused_page_says_why_in_the_timeline(db: AsyncSession) -> None:
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, 15)
    now = datetime.datetime.now(datetime.UTC)
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    incident = await declare_incident(db, owner, "Disk full", "SEV2", schedule.id, now, 60, "http://x")
    session = await fresh(db)
    sms = await session.scalar(select(DeliveryLog).where(DeliveryLog.channel == "sms"))
    assert sms is not None and sms.status == "pending"

    async def refuse(out: Outgoing) -> SendResult:
        return SendResult(Outcome.PERMANENT, "Twilio refused (400): not a mobile number.")

    attempt = await send_logged(db, sms.id, refuse, now)
    assert attempt.done and (await reload(db, DeliveryLog, sms.id)).status == "failed"
    notes = [e.message for e in await (await fresh(db)).scalars(select(TimelineEntry).order_by(TimelineEntry.id))]
    assert notes[-1] == f"SMS to {team['ann'].phone} failed after 1 attempt: Twilio refused (400): not a mobile number."
    assert incident.id == sms.incident_id
