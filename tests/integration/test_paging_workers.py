"""Paging with production parts: PostgreSQL, a private Redis, `vigilo worker` processes, and the fake
Slack and Twilio servers reached through the real SDKs (tests/processes.py). Delays are scaled."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Incident, IncidentResponder, TimelineEntry
from app.db.transactions import writing
from app.domain.roles import Role
from app.main import create_app
from app.services import jobs
from app.services.deliveries import queue_delivery
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.incidents import declare_incident, resolve_incident
from app.services.schedules import set_active
from tests.factories import Team, fresh, make_paging_schedule, make_team
from tests.fakes.servers import Failure, FakeServer
from tests.integration.test_acks import reaction, slack_request, sms_request
from tests.processes import SCALE, Stack

pytestmark = pytest.mark.slow
DELAY_MINUTES = 40  # so escalation comes 4 s after the trigger
ACK_DELAY_MINUTES = 100  # 10 s: for the tests whose ack must beat the deadline


async def arrange(db: AsyncSession, stack: Stack) -> tuple[Team, Any, WorkspaceAccess]:
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, DELAY_MINUTES)
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    return team, schedule, owner


async def trigger(
    db: AsyncSession, stack: Stack, owner: WorkspaceAccess, schedule: Any, title: str = "API down"
) -> Any:
    return await declare_incident(
        db, owner, title, "SEV2", schedule.id, datetime.datetime.now(datetime.UTC), SCALE, stack.settings.public_url
    )


async def eventually(check: Any, seconds: float = 20) -> None:
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    assert await check()


def texts_to(fake: FakeServer, number: str) -> int:
    return sum(1 for call in fake.calls("/Messages.json") if call.form.get("To") == number)


async def test_trigger_then_one_escalation(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    team, schedule, owner = await arrange(db, stack)
    await trigger(db, stack, owner, schedule)

    async def primary_paged() -> bool:
        return texts_to(fake_twilio, team["ann"].phone or "") == 1 and len(fake_slack.calls("reactions.add")) == 2

    await eventually(primary_paged)
    (post, *_) = fake_slack.calls("chat.postMessage")
    assert f"<@{team['ann'].slack_user_id}>" in post.params["text"]

    async def backup_paged() -> bool:
        return texts_to(fake_twilio, team["ben"].phone or "") >= 1

    await eventually(backup_paged)
    await asyncio.sleep(2 * DELAY_MINUTES * SCALE)  # long enough for any duplicate to show
    assert texts_to(fake_twilio, team["ben"].phone or "") == 1


async def test_resolved_incident_never_escalates(stack: Stack, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team, schedule, owner = await arrange(db, stack)
    incident = await trigger(db, stack, owner, schedule)
    await resolve_incident(db, owner, incident.id, datetime.datetime.now(datetime.UTC))
    await asyncio.sleep(DELAY_MINUTES * SCALE + 3)
    assert texts_to(fake_twilio, team["ben"].phone or "") == 0
    session = await fresh(db)
    notes = [
        e.message for e in await session.scalars(select(TimelineEntry).where(TimelineEntry.incident_id == incident.id))
    ]
    assert not any(n.startswith(("No acknowledgement", "Paging Ben")) for n in notes), notes
    assert (await session.get_one(Incident, incident.id)).escalation_due_at is None


async def test_no_primary_pages_the_backup_at_once(stack: Stack, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team, schedule, owner = await arrange(db, stack)
    await set_active(db, team.workspace.id, schedule.id, False, datetime.datetime.now(datetime.UTC))
    await trigger(db, stack, owner, schedule)

    async def backup_paged() -> bool:
        return texts_to(fake_twilio, team["ben"].phone or "") == 1

    await eventually(backup_paged, seconds=10)
    assert texts_to(fake_twilio, team["ann"].phone or "") == 0


async def test_slack_ack_through_worker_processes_stops_escalation(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    # Ten seconds to the deadline: room for the post and the ack on a busy machine, then waited out.
    schedule = await make_paging_schedule(db, team, ACK_DELAY_MINUTES)
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    incident = await trigger(db, stack, owner, schedule)

    async def posted() -> bool:
        return bool(await (await fresh(db)).scalar(select(Incident.slack_ts).where(Incident.id == incident.id)))

    await eventually(posted)
    ts = await db.scalar(select(Incident.slack_ts).where(Incident.id == incident.id))
    event = reaction("C0INCIDENT", ts or "", team["ann"].slack_user_id or "", "white_check_mark", "EvWorker1")
    body, headers = slack_request(stack.settings, event)
    # A web process on Redis: it only verifies, records and enqueues; a worker process acts.
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        for _ in range(2):  # Slack retries: the second delivery changes nothing
            assert (await client.post("/integrations/slack/events", content=body, headers=headers)).status_code == 200

    async def acked() -> bool:
        session = await fresh(db)
        return [r.source for r in await session.scalars(select(IncidentResponder))] == ["slack"]

    await eventually(acked)
    await asyncio.sleep(ACK_DELAY_MINUTES * SCALE + 2)
    assert texts_to(fake_twilio, team["ben"].phone or "") == 0
    assert [r.source for r in await (await fresh(db)).scalars(select(IncidentResponder))] == ["slack"]


async def test_sms_ack_and_decline_through_worker_processes(
    stack: Stack, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    team, schedule, owner = await arrange(db, stack)
    first = await trigger(db, stack, owner, schedule, title="Disk full")
    second = await trigger(db, stack, owner, schedule, title="Queue stuck")
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        body, headers = sms_request(
            stack.settings, {"From": team["ann"].phone or "", "Body": f"  ack {first.number} ", "MessageSid": "SMw1"}
        )
        acked = await client.post("/integrations/twilio_sms/", content=body, headers=headers)
        assert f"Acknowledged INC-{first.number}. (Disk full)</Message>" in acked.text
        started = time.monotonic()
        body, headers = sms_request(
            stack.settings, {"From": team["ann"].phone or "", "Body": f"DECLINE {second.number}", "MessageSid": "SMw2"}
        )
        declined = await client.post("/integrations/twilio_sms/", content=body, headers=headers)
        assert "paging step 2 of 2: Ben" in declined.text

    async def backup_paged_once() -> bool:
        return texts_to(fake_twilio, team["ben"].phone or "") == 1

    await eventually(backup_paged_once)
    assert time.monotonic() - started < DELAY_MINUTES * SCALE  # at once, not at the deadline
    await asyncio.sleep(DELAY_MINUTES * SCALE + 2)
    assert texts_to(fake_twilio, team["ben"].phone or "") == 1  # the acked incident never escalated
    sources = [(r.incident_id, r.source) for r in await (await fresh(db)).scalars(select(IncidentResponder))]
    assert sources == [(first.id, "sms")]


async def test_the_bots_own_reaction_acks_nothing_through_worker_processes(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    team, schedule, owner = await arrange(db, stack)
    incident = await trigger(db, stack, owner, schedule)

    async def posted() -> bool:
        return bool(await (await fresh(db)).scalar(select(Incident.slack_ts).where(Incident.id == incident.id)))

    await eventually(posted)
    ts = await db.scalar(select(Incident.slack_ts).where(Incident.id == incident.id))
    body, headers = slack_request(
        stack.settings, reaction("C0INCIDENT", ts or "", "U0VIGILOBOT", "white_check_mark", "EvBotOwn")
    )
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        response = await client.post("/integrations/slack/events", content=body, headers=headers)
        assert response.status_code == 200

    async def handled() -> bool:
        row = await (await fresh(db)).scalar(select(DeliveryLog).where(DeliveryLog.external_id == "EvBotOwn"))
        return row is not None and row.status == "ignored"

    await eventually(handled)
    assert list(await (await fresh(db)).scalars(select(IncidentResponder))) == []

    async def escalated() -> bool:  # nothing was claimed, so the page escalates as usual
        return texts_to(fake_twilio, team["ben"].phone or "") == 1

    await eventually(escalated)


async def test_a_page_goes_out_ahead_of_a_backlog_of_other_messages(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    """300 reactions are waiting (each takes Slack 50 ms: 7 s of work for the worker's two threads)
    when an incident pages Ann: her text leaves at once, long before the backlog has drained."""
    team, schedule, owner = await arrange(db, stack)
    backlog = 300
    fake_slack.fail_next(
        Failure(200, '{"ok": true}', {"Content-Type": "application/json"}, 0.05, lambda r: "reactions.add" in r.path),
        backlog,
    )
    now = datetime.datetime.now(datetime.UTC)
    async with writing(db):
        rows = [
            queue_delivery(
                db,
                workspace_id=team.workspace.id,
                channel="slack_reaction",
                target=f"C0OLD {n}.0",
                text="eyes",
                now=now,
            )
            for n in range(backlog)
        ]
    await jobs.deliver([row.id for row in rows])

    async def backlog_started() -> bool:
        return len(fake_slack.calls("reactions.add")) >= 5

    await eventually(backlog_started)
    started = time.monotonic()
    await trigger(db, stack, owner, schedule)

    async def ann_texted() -> bool:
        return texts_to(fake_twilio, team["ann"].phone or "") == 1

    await eventually(ann_texted, seconds=10)
    took = time.monotonic() - started
    reacted = len(fake_slack.calls("reactions.add"))
    assert reacted < backlog * 0.6, f"the page waited behind the backlog ({reacted} reactions sent first)"
    assert took < 3, f"the page took {took:.1f} s to leave"
