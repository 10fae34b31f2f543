"""Fault injection with production parts (tests/processes.py): workers killed with kill -9, the private
Redis restarted and flushed, PostgreSQL connections cut mid-page, and fake Slack and Twilio answering
500, 429 with Retry-After, or hanging past the send timeout.

After each fault the promises hold: every page escalates or is acknowledged exactly once, nobody is
texted twice for one page (invariant 8), and the incident's timeline says what happened.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Incident, Page, TimelineEntry
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh
from tests.fakes.servers import Failure, FakeServer
from tests.integration.test_paging_workers import DELAY_MINUTES, arrange, eventually, texts_to, trigger
from tests.processes import SCALE, SEND_TIMEOUT_SECONDS, Stack
from tests.web import login, post_form

pytestmark = pytest.mark.slow
DEADLINE_SECONDS = DELAY_MINUTES * SCALE


async def pages_of(db: AsyncSession, incident_id: Any) -> list[Page]:
    session = await fresh(db)
    return list(await session.scalars(select(Page).where(Page.incident_id == incident_id).order_by(Page.step)))


async def timeline_of(db: AsyncSession, incident_id: Any) -> list[tuple[str, str]]:
    session = await fresh(db)
    entries = await session.scalars(
        select(TimelineEntry).where(TimelineEntry.incident_id == incident_id).order_by(TimelineEntry.id)
    )
    return [(entry.kind, entry.message) for entry in entries]


async def deliveries_of(db: AsyncSession, incident_id: Any, channel: str) -> list[DeliveryLog]:
    session = await fresh(db)
    return list(
        await session.scalars(
            select(DeliveryLog).where(DeliveryLog.incident_id == incident_id, DeliveryLog.channel == channel)
        )
    )


async def escalated_once(db: AsyncSession, incident_id: Any) -> bool:
    return [page.status for page in await pages_of(db, incident_id)][:1] == ["escalated"]


async def assert_escalated_exactly_once(
    db: AsyncSession, team: Team, incident_id: Any, fake_twilio: FakeServer, texts_to_ben: int = 1
) -> None:
    """The primary's page escalated once, the backup was texted once, and the timeline says so once."""
    await asyncio.sleep(2 * DEADLINE_SECONDS)  # long enough for any duplicate to show
    pages = await pages_of(db, incident_id)
    assert [(page.step, page.status) for page in pages][:1] == [(0, "escalated")]
    assert [page.step for page in pages] == [0, 1], "one backup page, no second escalation"
    assert texts_to(fake_twilio, team["ben"].phone) == texts_to_ben
    kinds = [kind for kind, _ in await timeline_of(db, incident_id)]
    assert kinds.count("escalated") == 1, kinds


# ---------------------------------------------------------------- kill -9


async def test_worker_killed_with_a_page_pending_escalates_exactly_once(
    stack: Stack, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    team, schedule, owner = await arrange(db, stack)
    incident = await trigger(db, stack, owner, schedule)

    async def primary_paged() -> bool:
        return texts_to(fake_twilio, team["ann"].phone) == 1

    await eventually(primary_paged)
    stack.kill_workers()  # its delayed wake-up for the deadline dies with it
    await asyncio.sleep(DEADLINE_SECONDS + 1)  # the deadline passes with nobody running
    assert texts_to(fake_twilio, team["ben"].phone) == 0
    stack.start_worker()
    stack.start_worker()  # two workers racing for the same overdue page

    async def escalated() -> bool:
        return await escalated_once(db, incident.id) and texts_to(fake_twilio, team["ben"].phone) >= 1

    await eventually(escalated, seconds=30)
    await assert_escalated_exactly_once(db, team, incident.id, fake_twilio)
    assert texts_to(fake_twilio, team["ann"].phone) == 1


async def test_worker_killed_mid_send_is_never_resent_and_the_timeline_says_so(
    stack: Stack, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    """kill -9 while Twilio holds the SMS request: it may have gone out, so it is "unknown", never resent."""
    fake_twilio.fail_next(Failure(201, hang_seconds=10))
    team, schedule, owner = await arrange(db, stack)
    incident = await trigger(db, stack, owner, schedule)

    async def in_flight() -> bool:
        return len(fake_twilio.calls("/Messages.json")) == 1

    await eventually(in_flight)
    stack.kill_workers()
    [row] = await deliveries_of(db, incident.id, "sms")
    assert row.status == "sending"
    stack.start_worker()

    async def given_up() -> bool:
        return [r.status for r in await deliveries_of(db, incident.id, "sms") if r.target == team["ann"].phone] == [
            "unknown"
        ]

    await eventually(given_up, seconds=30)
    await eventually(lambda: escalated_once(db, incident.id), seconds=20)
    await assert_escalated_exactly_once(db, team, incident.id, fake_twilio)
    assert texts_to(fake_twilio, team["ann"].phone) == 1  # the one cut off, not a second
    notes = [message for kind, message in await timeline_of(db, incident.id) if kind == "delivery_unknown"]
    phone = team["ann"].phone
    sms_note = (
        f"SMS to {phone} may not have arrived (the worker stopped mid-send); not resent, so nobody gets it twice."
    )
    assert sms_note in notes, notes


# ---------------------------------------------------------------- Redis restarted and flushed


async def test_redis_restarted_and_flushed_loses_no_page(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    """Redis dies with a delayed wake-up queued. While it is down the primary acknowledges the first
    incident on the web and a second incident is declared (the web answers; the enqueue fails and is
    logged). Redis comes back empty (FLUSHALL): the first never escalates, the second is paged and
    escalates exactly once."""
    team, schedule, owner = await arrange(db, stack)
    first = await trigger(db, stack, owner, schedule, title="Before the outage")

    async def first_paged() -> bool:
        return texts_to(fake_twilio, team["ann"].phone) == 1

    await eventually(first_paged)
    stack.redis.kill()
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        await login(client, team["ann"].email, PASSWORD)
        acked = await post_form(
            client, f"/ws/acme/incidents/{first.id}/ack", {}, from_page=f"/ws/acme/incidents/{first.id}"
        )
        assert acked.status_code == 303, acked.text
        declared = await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "During the outage", "severity": "SEV1", "schedule_id": str(schedule.id)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert declared.status_code == 201, declared.text  # the incident stands; its page waits in the database
    second_id = declared.json()["id"]
    await asyncio.sleep(1)
    stack.redis.start()
    stack.redis.flushall()

    async def second_escalated() -> bool:
        return await escalated_once(db, second_id) and texts_to(fake_twilio, team["ben"].phone) >= 1

    await eventually(second_escalated, seconds=40)
    await assert_escalated_exactly_once(db, team, second_id, fake_twilio)
    assert [page.status for page in await pages_of(db, first.id)] == ["acknowledged"]
    assert texts_to(fake_twilio, team["ann"].phone) == 2  # one page each, none twice
    session = await fresh(db)
    second = await session.get(Incident, second_id)
    assert second is not None and second.slack_ts is not None  # its channel post went out too
    first_notes = [message for _, message in await timeline_of(db, first.id)]
    assert any("Ann acknowledged" in note for note in first_notes), first_notes


# ---------------------------------------------------------------- PostgreSQL connections cut


@contextmanager
def cutting_connections(database_url: str, every: float = 0.25) -> Iterator[list[int]]:
    """pg_terminate_backend on every other connection to the database, every `every` seconds."""
    url = make_url(database_url)
    conninfo = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    stop = threading.Event()
    cut: list[int] = []

    def run() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (url.database,),
                ).fetchall()
                cut.append(sum(1 for (done,) in rows if done))
                stop.wait(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield cut
    finally:
        stop.set()
        thread.join(timeout=10)


async def test_database_connections_cut_mid_page(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    """Web and worker connections are terminated again and again from the trigger to past the deadline."""
    team, schedule, _ = await arrange(db, stack)
    stack.start_worker()
    await fresh(db)  # hand the test's connection back to the pool (pre-ping replaces it if cut)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    await fresh(db)
    auth = {"Authorization": f"Bearer {token}"}
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        declared = await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "Database flapping", "severity": "SEV1", "schedule_id": str(schedule.id)},
            headers=auth,
        )
        assert declared.status_code == 201, declared.text
        incident_id = declared.json()["id"]
        with cutting_connections(stack.settings.database_url) as cut:
            # From the trigger to past the deadline, every connection of web and workers keeps dropping.
            while sum(1 for n in cut if n) < 10:
                response = await client.get(f"/api/v1/ws/acme/incidents/{incident_id}", headers=auth)
                assert response.status_code in (200, 500)  # a read may lose its connection mid-flight
                await asyncio.sleep(0.1)
            await asyncio.sleep(DEADLINE_SECONDS + 1)

        async def escalated() -> bool:
            return await escalated_once(db, incident_id) and texts_to(fake_twilio, team["ben"].phone) >= 1

        await eventually(escalated, seconds=40)
        listed = await client.get(f"/api/v1/ws/acme/incidents/{incident_id}", headers=auth)
        assert listed.status_code == 200  # the web process recovered its pool
    await assert_escalated_exactly_once(db, team, incident_id, fake_twilio)
    assert texts_to(fake_twilio, team["ann"].phone) == 1
    assert [r.status for r in await deliveries_of(db, incident_id, "sms")].count("pending") == 0


# ---------------------------------------------------------------- Slack and Twilio misbehaving


async def test_500_and_429_with_retry_after_are_retried_and_sent_once(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    team, schedule, owner = await arrange(db, stack)

    def to_ann(request: Any) -> bool:  # only the primary's SMS: a slow machine may page the backup meanwhile
        return request.form.get("To") == team["ann"].phone

    fake_twilio.fail_next(Failure(500, '{"code": 20500, "message": "Internal"}', when=to_ann))
    fake_twilio.fail_next(Failure(429, '{"code": 20429, "message": "Too many"}', {"Retry-After": "1"}, when=to_ann))
    fake_slack.fail_next(Failure(429, '{"ok": false, "error": "ratelimited"}', {"Retry-After": "1"}))
    started = time.monotonic()
    incident = await trigger(db, stack, owner, schedule)

    async def primary_paged() -> bool:
        rows = await deliveries_of(db, incident.id, "sms")
        return [r.status for r in rows if r.target == team["ann"].phone] == ["sent"]

    await eventually(primary_paged)
    assert time.monotonic() - started >= 2 + 1  # waited 2 s after the 500, then the 1 s Retry-After
    sms_calls = [c for c in fake_twilio.calls("/Messages.json") if c.form.get("To") == team["ann"].phone]
    assert len(sms_calls) == 3 and [c.response is not None for c in sms_calls] == [False, False, True]
    posts = fake_slack.calls("chat.postMessage")
    assert posts[0].response is None and posts[1].response is not None  # refused, then posted after 1 s
    assert posts[1].at - posts[0].at >= 1
    await eventually(lambda: escalated_once(db, incident.id))
    await assert_escalated_exactly_once(db, team, incident.id, fake_twilio)
    notes = [m for kind, m in await timeline_of(db, incident.id) if kind.startswith("delivery_")]
    phone = team["ann"].phone
    assert f"SMS to {phone} failed: Twilio answered 500; retrying in 2 s (attempt 1 of 5)." in notes
    assert f"SMS to {phone} failed: rate limited (429); retrying in 1 s (attempt 2 of 5)." in notes
    assert f"SMS to {phone} accepted by Twilio on attempt 3." in notes
    assert "Slack post in the incident channel failed: rate limited (429); retrying in 1 s (attempt 1 of 5)." in notes
    assert "Slack post in the incident channel posted on attempt 2." in notes


async def test_a_send_that_hangs_past_the_timeout_is_unknown_and_never_resent(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    hang = Failure(201, "{}", hang_seconds=SEND_TIMEOUT_SECONDS + 2)
    fake_twilio.fail_next(hang)
    fake_slack.fail_next(Failure(200, '{"ok": true}', hang_seconds=SEND_TIMEOUT_SECONDS + 2))
    team, schedule, owner = await arrange(db, stack)
    incident = await trigger(db, stack, owner, schedule)

    async def unknown() -> bool:
        sms = [r.status for r in await deliveries_of(db, incident.id, "sms") if r.target == team["ann"].phone]
        posts = [r.status for r in await deliveries_of(db, incident.id, "slack_post")]
        return sms == ["unknown"] and "unknown" in posts

    await eventually(unknown)
    await eventually(lambda: escalated_once(db, incident.id))
    await assert_escalated_exactly_once(db, team, incident.id, fake_twilio)
    assert texts_to(fake_twilio, team["ann"].phone) == 1  # the timed-out one may have arrived: never a second
    notes = [m for kind, m in await timeline_of(db, incident.id) if kind == "delivery_unknown"]
    assert any(n.startswith(f"SMS to {team['ann'].phone} may not have arrived (timed out") for n in notes), notes
    assert any(n.startswith("Slack post in the incident channel may not have arrived") for n in notes), notes
