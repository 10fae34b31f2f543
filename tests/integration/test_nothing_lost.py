"""Nothing lost (DESIGN.md invariants 9 and 10), with production parts where the fault needs them:

- an inbound SMS or Slack ack whose handling loses its database connection (pg_terminate_backend while it
  waits on the incident lock) is handled by the provider's retry, exactly once;
- on SQLite, a write lock held past busy_timeout answers 503 and changes nothing; the retry acknowledges;
- a retry whose first delivery was recorded but never handled is handled, never "already handled";
- the incident post's ts is stored with its "sent", even while connections are cut: reactions once;
- on-call DMs are rows written with the change: Redis down during a hand-off delays them, never drops them;
- `vigilo worker` stops within 10 s of SIGTERM with a send in hand, and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog, Incident, IncidentResponder, OnCallSlot, Page
from app.domain.roles import Role
from app.main import create_app
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.inbound import record_inbound, sms_summary
from app.services.overrides import hand_off
from tests.factories import fresh, make_paging_schedule, make_team
from tests.fakes.servers import Failure, FakeServer
from tests.integration.test_acks import reaction, slack_request, sms_request
from tests.integration.test_faults import cutting_connections, deliveries_of
from tests.integration.test_paging_workers import arrange, eventually, texts_to, trigger
from tests.processes import Stack

SMS = "/integrations/twilio_sms/"


def _conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def holding_incident_lock(database_url: str, incident_id: Any) -> Iterator[psycopg.Connection[Any]]:
    """Another transaction holds the incident row (as a slow ack would), until the block ends."""
    with psycopg.connect(_conninfo(database_url)) as conn:
        conn.execute("SELECT id FROM incident WHERE id = %s FOR UPDATE", (incident_id,))
        try:
            yield conn
        finally:
            conn.rollback()


def cut_the_waiter(database_url: str, seconds: float = 20) -> int:
    """pg_terminate_backend on the connection waiting for a row lock: its unit of work dies mid-way."""
    deadline = time.monotonic() + seconds
    database = make_url(database_url).database
    with psycopg.connect(_conninfo(database_url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
            if row is not None:
                conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("nothing waited on the incident lock")


def post_raw(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def arrange_slow(db: AsyncSession) -> tuple[Any, Any, WorkspaceAccess]:
    """Like test_paging_workers.arrange, with the escalation a minute away (at the test scale), so the
    backup is never paged while a test holds and cuts connections; only the ack matters here."""
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, 600)
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    return team, schedule, owner


async def settled_post(db: AsyncSession, fake_slack: FakeServer, incident_id: Any) -> str:
    """Wait until the incident's post is out, its ts stored and both reactions added: after that no
    worker touches the incident row, so the only one waiting on its lock is the request under test."""

    async def posted() -> bool:
        ts = await (await fresh(db)).scalar(select(Incident.slack_ts).where(Incident.id == incident_id))
        return bool(ts) and len(fake_slack.calls("reactions.add")) >= 2

    await eventually(posted, seconds=30)
    ts = await (await fresh(db)).scalar(select(Incident.slack_ts).where(Incident.id == incident_id))
    await fresh(db)
    return ts or ""


async def responders(db: AsyncSession) -> list[tuple[Any, str]]:
    session = await fresh(db)
    return [(r.user_id, r.source) for r in await session.scalars(select(IncidentResponder))]


async def page_pending(db: AsyncSession, incident_id: Any) -> bool:
    session = await fresh(db)
    return [p.status for p in await session.scalars(select(Page).where(Page.incident_id == incident_id))] == ["pending"]


# ---------------------------------------------------------------- inbound cut mid-handling (PostgreSQL)


@pytest.mark.slow
async def test_sms_ack_cut_mid_handling_is_acknowledged_once_by_twilios_retry(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    team, schedule, owner = await arrange_slow(db)
    incident = await trigger(db, stack, owner, schedule)
    web = stack.start_web()
    await settled_post(db, fake_slack, incident.id)
    body, headers = sms_request(stack.settings, {"From": team["ann"].phone or "", "Body": "1A", "MessageSid": "SMcut1"})
    with holding_incident_lock(stack.settings.database_url, incident.id):
        first: dict[str, Any] = {}
        request = threading.Thread(target=lambda: first.update(answer=post_raw(web + SMS, body, headers)))
        request.start()
        cut_the_waiter(stack.settings.database_url)
        request.join(timeout=30)
    status, _ = first["answer"]
    assert status == 503  # the database went away mid-handling: Twilio is asked to try again
    assert await responders(db) == []
    status, text = post_raw(web + SMS, body, headers)  # Twilio's retry, same MessageSid
    assert status == 200
    assert "Acknowledged INC-1." in text
    status, text = post_raw(web + SMS, body, headers)  # and once more: the first outcome, nothing redone
    assert "Acknowledged INC-1." in text
    assert await responders(db) == [(team["ann"].id, "sms")]
    [row] = list(
        await (await fresh(db)).scalars(
            select(DeliveryLog).where(DeliveryLog.channel == "sms", DeliveryLog.direction == "inbound")
        )
    )
    assert row.status == "processed"
    [page] = list(await (await fresh(db)).scalars(select(Page).where(Page.incident_id == incident.id)))
    assert page.status == "acknowledged"  # the escalation's wake-up will find nothing to do
    assert texts_to(fake_twilio, team["ben"].phone or "") == 0


@pytest.mark.slow
async def test_slack_ack_cut_mid_handling_is_acknowledged_once(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    team, schedule, owner = await arrange_slow(db)
    incident = await trigger(db, stack, owner, schedule)
    ts = await settled_post(db, fake_slack, incident.id)
    event = reaction("C0INCIDENT", ts, team["ann"].slack_user_id or "", "white_check_mark", "EvCut1")
    body, headers = slack_request(stack.settings, event)
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        with holding_incident_lock(stack.settings.database_url, incident.id):
            assert (await client.post("/integrations/slack/events", content=body, headers=headers)).status_code == 200
            await asyncio.to_thread(cut_the_waiter, stack.settings.database_url)  # the worker's ack dies
        assert await responders(db) == []
        # Slack's retry of the same event: handled, since the first has no outcome yet.
        assert (await client.post("/integrations/slack/events", content=body, headers=headers)).status_code == 200

    async def acked() -> bool:
        return await responders(db) == [(team["ann"].id, "slack")]

    await eventually(acked, seconds=30)
    await asyncio.sleep(2)  # long enough for a second handling to show
    assert await responders(db) == [(team["ann"].id, "slack")]
    assert texts_to(fake_twilio, team["ben"].phone or "") == 0
    [row] = await (await fresh(db)).scalars(select(DeliveryLog).where(DeliveryLog.external_id == "EvCut1"))
    assert row.status == "processed"


# ---------------------------------------------------------------- inbound, both databases


async def test_a_retry_of_an_sms_recorded_but_never_handled_is_handled(
    integration_settings: Settings, db: AsyncSession
) -> None:
    """The first delivery was recorded and then its request died: the retry acts, never "already handled"."""
    settings = replace(integration_settings, seconds_per_delay_minute=0.05)
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, 40)
    async with AsyncTestClient(app=create_app(settings)) as client:
        owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
        from app.services.incidents import declare_incident

        now = datetime.datetime.now(datetime.UTC)
        incident = await declare_incident(db, owner, "Disk full", "SEV2", schedule.id, now, 0.05, settings.public_url)
        params = {"From": team["ann"].phone or "", "Body": "1A", "MessageSid": "SMhalf"}
        await record_inbound(db, "sms", "SMhalf", sms_summary(params["From"], params["Body"]), now)
        body, headers = sms_request(settings, params)
        retry = await client.post(SMS, content=body, headers=headers)
        assert retry.status_code == 200
        assert "Vigilo, Acme: Acknowledged INC-1. (Disk full)" in retry.text
        again = await client.post(SMS, content=body, headers=headers)
        assert "Vigilo, Acme: Acknowledged INC-1. (Disk full)" in again.text
    assert await responders(db) == [(team["ann"].id, "sms")]
    assert not await page_pending(db, incident.id)


@pytest.mark.slow
async def test_sqlite_write_lock_past_busy_timeout_answers_503_then_the_retry_acknowledges(
    integration_settings: Settings, db: AsyncSession
) -> None:
    if "sqlite" not in integration_settings.database_url:
        pytest.skip("SQLite's single writer lock")
    settings = replace(integration_settings, seconds_per_delay_minute=0.05)
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, 40)
    from app.services.incidents import declare_incident

    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    now = datetime.datetime.now(datetime.UTC)
    incident = await declare_incident(db, owner, "Disk full", "SEV2", schedule.id, now, 0.05, settings.public_url)
    await fresh(db)
    path = make_url(settings.database_url).database or ""
    params = {"From": team["ann"].phone or "", "Body": "1A", "MessageSid": "SMlocked"}
    body, headers = sms_request(settings, params)
    async with AsyncTestClient(app=create_app(settings), timeout=60) as client:
        blocker = sqlite3.connect(path, timeout=1, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the one write lock past busy_timeout
        try:
            locked = await client.post(SMS, content=body, headers=headers)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert locked.status_code == 503
        assert locked.headers.get("retry-after") == "5"
        assert await responders(db) == []
        retry = await client.post(SMS, content=body, headers=headers)
        assert retry.status_code == 200
        assert "Acknowledged INC-1." in retry.text
    assert await responders(db) == [(team["ann"].id, "sms")]
    assert not await page_pending(db, incident.id)


# ---------------------------------------------------------------- the Slack post and its ts


@pytest.mark.slow
async def test_the_post_ts_is_kept_while_connections_are_cut_and_reactions_go_on_once(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    fake_slack.fail_next(Failure(200, "", hang_seconds=1.5))  # conversations or the post: held while we cut
    team, schedule, owner = await arrange(db, stack)
    await fresh(db)
    incident = await trigger(db, stack, owner, schedule)
    await fresh(db)
    with cutting_connections(stack.settings.database_url, every=0.3):
        await asyncio.sleep(4)  # the post's outcome is being written while every connection keeps dropping

    async def posted_and_reacted() -> bool:
        session = await fresh(db)
        ts = await session.scalar(select(Incident.slack_ts).where(Incident.id == incident.id))
        return bool(ts) and len(fake_slack.calls("reactions.add")) == 2

    await eventually(posted_and_reacted, seconds=30)
    session = await fresh(db)
    ts = await session.scalar(select(Incident.slack_ts).where(Incident.id == incident.id))
    posted = [c.response for c in fake_slack.calls("chat.postMessage") if c.response and not c.params.get("thread_ts")]
    assert ts in [p["ts"] for p in posted]
    reactions = fake_slack.calls("reactions.add")
    assert sorted(c.params["name"] for c in reactions) == ["white_check_mark", "x"]
    assert {c.params["timestamp"] for c in reactions} == {ts}
    # And the ✅ on that post acknowledges.
    event = reaction("C0INCIDENT", ts or "", team["ann"].slack_user_id or "", "white_check_mark", "EvAfterCut")
    body, headers = slack_request(stack.settings, event)
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        assert (await client.post("/integrations/slack/events", content=body, headers=headers)).status_code == 200

    async def acked() -> bool:
        return await responders(db) == [(team["ann"].id, "slack")]

    await eventually(acked)
    await asyncio.sleep(2)
    assert len(fake_slack.calls("reactions.add")) == 2


# ---------------------------------------------------------------- on-call DMs are rows


@pytest.mark.slow
async def test_redis_down_during_a_handoff_delays_both_dms_and_loses_neither(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer
) -> None:
    team, schedule, _ = await arrange(db, stack)
    await fresh(db)
    stack.redis.kill()
    ann = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["ann"]), Role.MEMBER)
    now = datetime.datetime.now(datetime.UTC)
    await hand_off(db, ann, schedule.id, team["ben"].email, None, now)  # the change stands; the DMs wait
    rows = list(await (await fresh(db)).scalars(select(DeliveryLog).where(DeliveryLog.channel == "slack")))
    assert sorted(r.target for r in rows) == sorted([team["ann"].slack_user_id, team["ben"].slack_user_id])
    assert {r.status for r in rows} == {"pending"}
    await asyncio.sleep(1)
    stack.redis.start()

    def dms_to(user: str) -> int:
        return sum(1 for c in fake_slack.calls("conversations.open") if c.params.get("users") == user)

    async def both_told() -> bool:
        return dms_to(team["ann"].slack_user_id or "") == 1 and dms_to(team["ben"].slack_user_id or "") == 1

    await eventually(both_told, seconds=40)
    await asyncio.sleep(3)  # long enough for a duplicate to show
    assert dms_to(team["ann"].slack_user_id or "") == 1
    assert dms_to(team["ben"].slack_user_id or "") == 1
    assert {
        r.status for r in await (await fresh(db)).scalars(select(DeliveryLog).where(DeliveryLog.channel == "slack"))
    } == {"sent"}
    session = await fresh(db)
    holder = await session.scalar(
        select(OnCallSlot.user_id).where(
            OnCallSlot.schedule_id == schedule.id, OnCallSlot.start_time <= now, OnCallSlot.end_time > now
        )
    )
    assert holder == team["ben"].id


# ---------------------------------------------------------------- SIGTERM


@pytest.mark.slow
async def test_worker_stops_within_10_s_of_sigterm_and_nothing_is_sent_twice(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    fake_twilio.fail_next(Failure(201, "{}", hang_seconds=30))  # the worker holds an SMS send in hand
    team, schedule, owner = await arrange(db, stack)
    incident = await trigger(db, stack, owner, schedule)

    async def in_flight() -> bool:
        return len(fake_twilio.calls("/Messages.json")) == 1

    await eventually(in_flight)
    [worker] = stack.workers
    started = time.monotonic()
    os.killpg(worker.pid, signal.SIGTERM)
    await asyncio.to_thread(worker.wait, 15)
    assert time.monotonic() - started < 10
    stack.workers.clear()
    stack.start_worker()

    async def settled() -> bool:
        rows = await deliveries_of(db, incident.id, "sms")
        return [r.status for r in rows if r.target == team["ann"].phone] == ["unknown"]

    await eventually(settled, seconds=30)
    await asyncio.sleep(2)
    assert texts_to(fake_twilio, team["ann"].phone or "") == 1  # cut off mid-send: never a second
    posts = [c for c in fake_slack.calls("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(posts) == 1  # the channel post went out once
