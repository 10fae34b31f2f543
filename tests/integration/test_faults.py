"""Fault injection with production parts (tests/processes.py): workers killed with kill -9, the private
Redis restarted and flushed, PostgreSQL connections cut mid-page, and fake Slack and Twilio answering
500, 429 with Retry-After, or hanging past the send timeout.

Every fault plays out on an escalation policy of three steps with one repeat (the schedule, so Ann on
call; then Ben; then Cat), and after each the promises hold: the chain runs to its end exactly once,
every step fires once per round, nobody is texted twice for one page (invariant 8), and the
incident's timeline says each step once.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Incident, Page, PeriodicLease, TimelineEntry
from app.domain.roles import Role
from app.main import create_app
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.incidents import declare_incident
from app.services.policies import create_policy
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_paging_schedule, make_team
from tests.fakes.servers import Failure, FakeServer, RecordedRequest
from tests.integration.test_paging_workers import ACK_DELAY_MINUTES, DELAY_MINUTES, eventually, texts_to
from tests.processes import SCALE, SEND_TIMEOUT_SECONDS, Stack
from tests.web import login, post_form

pytestmark = pytest.mark.slow
DEADLINE_SECONDS = DELAY_MINUTES * SCALE  # how long each step waits for an acknowledgement
CHAIN = ("ann", "ben", "cat")  # who each step pages: first the schedule (Ann is on call), then people
ROUNDS = 2  # the chain runs once more after its last step (repeat 1)
POSITIONS = [(round_, step) for round_ in range(ROUNDS) for step in range(len(CHAIN))]
CHAIN_SECONDS = len(POSITIONS) * DEADLINE_SECONDS  # from the first page to "Nobody acknowledged"
Position = tuple[int, int]  # (round, step), both counted from 0


async def make_chain_policy(
    db: AsyncSession, team: Team, schedule: Any, name: str = "Three steps", first_delay: int = DELAY_MINUTES
) -> Any:
    """The policy `name`: Ops (so Ann, on call), then Ben, then Cat, each step waiting DELAY_MINUTES
    (the first `first_delay`), the whole chain repeated once."""
    targets = [{"schedule_id": str(schedule.id)}, {"user": team["ben"].email}, {"user": team["cat"].email}]
    delays = [first_delay] + [DELAY_MINUTES] * (len(targets) - 1)
    steps = [{"delay_minutes": delay, "targets": [target]} for delay, target in zip(delays, targets, strict=True)]
    return await create_policy(db, team.workspace.id, {"name": name, "repeat": ROUNDS - 1, "steps": steps})


async def arrange_chain(db: AsyncSession) -> tuple[Team, Any, Any, WorkspaceAccess]:
    """A team with Ann on call for Ops and the policy "Three steps" (make_chain_policy); everyone on
    it has a verified phone and Slack id."""
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, DELAY_MINUTES)
    policy = await make_chain_policy(db, team, schedule)
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    # A worker still starting on a busy machine would page the first step late, close to its deadline.
    await eventually(lambda: worker_ticked(db), seconds=60)
    return team, schedule, policy, owner


async def worker_ticked(db: AsyncSession) -> bool:
    """A worker process is up: it ran the periodic sweep (so it reads Redis and writes PostgreSQL)."""
    session = await fresh(db)
    return (
        await session.scalar(select(PeriodicLease.id).where(PeriodicLease.name == "paging.sweep_overdue")) is not None
    )


async def trigger_chain(
    db: AsyncSession, stack: Stack, owner: WorkspaceAccess, schedule: Any, policy: Any, title: str = "API down"
) -> Incident:
    now = datetime.datetime.now(datetime.UTC)
    return await declare_incident(
        db, owner, title, "SEV2", schedule.id, now, SCALE, stack.settings.public_url, policy_id=policy.id
    )


def label(position: Position) -> str:
    """How the timeline and the SMS name a step: "step 2 of 3, round 1 of 2"."""
    round_, step = position
    return f"step {step + 1} of {len(CHAIN)}, round {round_ + 1} of {ROUNDS}"


def texts_for(
    fake: FakeServer, number: str, incident_number: int, position: Position | None = None
) -> list[RecordedRequest]:
    """The SMS requests Twilio got for `number` about this incident (for one step of one round)."""
    calls = []
    for call in fake.calls("/Messages.json"):
        body = call.form.get("Body", "")
        if call.form.get("To") != number or f"INC-{incident_number} " not in body:
            continue
        if position is None or f"({label(position)};" in body:
            calls.append(call)
    return calls


async def pages_of(db: AsyncSession, incident_id: Any) -> list[Page]:
    session = await fresh(db)
    return list(
        await session.scalars(select(Page).where(Page.incident_id == incident_id).order_by(Page.round, Page.step))
    )


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


async def chain_ended(db: AsyncSession, incident_id: Any) -> bool:
    return any(kind == "nobody_acknowledged" for kind, _ in await timeline_of(db, incident_id))


async def wait_for_the_end(db: AsyncSession, incident_id: Any) -> None:
    """Until "Nobody acknowledged": the whole chain, with room for a slow, shared machine."""
    await eventually(lambda: chain_ended(db, incident_id), seconds=2 * CHAIN_SECONDS + 30)


async def assert_chain_ran_exactly_once(
    db: AsyncSession,
    team: Team,
    incident_id: Any,
    fake_twilio: FakeServer,
    *,
    unknown: Collection[Position] = (),
    refused: Mapping[Position, int] | None = None,
) -> None:
    """The chain ran to its end once: each step fired once a round (six pages), each page was texted
    once (each person twice, once a round), five timeouts escalated, and the timeline says each once.

    `unknown`: steps whose SMS was cut off or timed out: recorded "unknown" and never texted again.
    `refused`: steps whose SMS Twilio refused that many times (500, 429) before accepting it."""
    refused = refused or {}
    await asyncio.sleep(2 * DEADLINE_SECONDS)  # long enough for any duplicate to show
    session = await fresh(db)
    incident = await session.get_one(Incident, incident_id)
    number = incident.number
    timeline = await timeline_of(db, incident_id)
    ended = [message for kind, message in timeline if kind == "nobody_acknowledged"]
    assert ended == [f"Nobody acknowledged INC-{number} after 3 steps and 1 repeat."], ended
    assert incident.status == "triggered" and incident.escalation_due_at is None

    pages = await pages_of(db, incident_id)
    assert [(page.round, page.step) for page in pages] == POSITIONS, "each step once a round"
    sms_rows = await deliveries_of(db, incident_id, "sms")
    for page in pages:
        position = (page.round, page.step)
        person = team[CHAIN[page.step]]
        assert page.user_id == person.id, position
        assert page.status == "escalated", (position, page.status)
        rows = [row for row in sms_rows if row.page_id == page.id]
        assert [row.target for row in rows] == [person.phone], (position, "one SMS row a page")
        honest = "unknown" if position in unknown else "sent"
        assert rows[0].status == honest, (position, rows[0].status, rows[0].error)
        tries = refused.get(position, 0)
        calls = texts_for(fake_twilio, person.phone or "", number, position)
        # The refused tries, then one text: accepted, or (unknown) cut off and never sent again.
        answered = [call.response is not None for call in calls]
        assert answered == [False] * tries + [position not in unknown], (position, answered)
    for key in CHAIN:
        phone = team[key].phone or ""
        refusals = sum(n for (_, step), n in refused.items() if CHAIN[step] == key)
        texts = len(texts_for(fake_twilio, phone, number)) - refusals
        assert texts == ROUNDS, f"{key} texted {texts} times about INC-{number}, not once a round"

    paged = [message for kind, message in timeline if kind == "paged"]
    assert len(paged) == len(POSITIONS), paged
    for position in POSITIONS:
        name = team[CHAIN[position[1]]].display_name
        said = [m for m in paged if m.startswith(f"Paging {name} ") and m.endswith(f", {label(position)}.")]
        assert len(said) == 1, (position, paged)
    escalated = [message for kind, message in timeline if kind == "escalated"]
    timeouts = [f"No acknowledgement within {DELAY_MINUTES} min of {label(p)}." for p in POSITIONS[:-1]]
    assert sorted(escalated) == sorted(timeouts), escalated
    kinds = [kind for kind, _ in timeline]
    assert kinds.count("escalation_scheduled") == len(POSITIONS), kinds
    assert "skipped" not in kinds and "step_skipped" not in kinds, kinds


# ---------------------------------------------------------------- kill -9


async def test_worker_killed_with_a_step_pending_runs_the_chain_exactly_once(
    stack: Stack, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    team, schedule, policy, owner = await arrange_chain(db)
    incident = await trigger_chain(db, stack, owner, schedule, policy)

    async def first_step_paged() -> bool:
        rows = await deliveries_of(db, incident.id, "sms")
        return texts_to(fake_twilio, team["ann"].phone or "") == 1 and [r.status for r in rows] == ["sent"]

    await eventually(first_step_paged)
    stack.kill_workers()  # its delayed wake-up for the step's deadline dies with it
    await asyncio.sleep(DEADLINE_SECONDS + 1)  # the deadline passes with nobody running
    assert texts_to(fake_twilio, team["ben"].phone or "") == 0
    stack.start_worker()
    stack.start_worker()  # two workers racing for the same overdue step

    await wait_for_the_end(db, incident.id)
    await assert_chain_ran_exactly_once(db, team, incident.id, fake_twilio)


async def test_worker_killed_mid_send_is_never_resent_and_the_timeline_says_so(
    stack: Stack, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    """kill -9 while Twilio holds the SMS request: it may have gone out, so it is "unknown", never resent."""
    fake_twilio.fail_next(Failure(201, hang_seconds=10))
    team, schedule, policy, owner = await arrange_chain(db)
    incident = await trigger_chain(db, stack, owner, schedule, policy)

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
    await wait_for_the_end(db, incident.id)
    # The cut-off text of step 1 was never sent again; Ann's next text is round 2's own page.
    await assert_chain_ran_exactly_once(db, team, incident.id, fake_twilio, unknown={(0, 0)})
    notes = [message for kind, message in await timeline_of(db, incident.id) if kind == "delivery_unknown"]
    phone = team["ann"].phone
    sms_note = (
        f"SMS to {phone} may not have arrived (the worker stopped mid-send); not resent, so nobody gets it twice."
    )
    assert notes.count(sms_note) == 1, notes


# ---------------------------------------------------------------- Redis restarted and flushed


async def test_redis_restarted_and_flushed_loses_no_step(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    """Redis dies with a delayed wake-up queued. While it is down Ann acknowledges the first incident
    on the web and a second incident is declared (the web answers; the enqueue fails and is logged).
    Redis comes back empty (FLUSHALL): the first never escalates, the second runs its whole chain
    exactly once."""
    team, schedule, policy, owner = await arrange_chain(db)
    # The first incident's first step waits ten seconds: room on a busy machine for the text, the web
    # login and the ack, which must all come before its deadline.
    slow_start = await make_chain_policy(db, team, schedule, "Three steps, slow start", ACK_DELAY_MINUTES)
    first = await trigger_chain(db, stack, owner, schedule, slow_start, title="Before the outage")

    async def first_paged() -> bool:
        return texts_to(fake_twilio, team["ann"].phone or "") == 1

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
            json={
                "title": "During the outage",
                "severity": "SEV1",
                "schedule_id": str(schedule.id),
                "escalation_policy_id": str(policy.id),
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert declared.status_code == 201, declared.text  # the incident stands; its page waits in the database
    second_id = declared.json()["id"]
    await asyncio.sleep(1)
    stack.redis.start()
    stack.redis.flushall()

    await wait_for_the_end(db, second_id)
    await assert_chain_ran_exactly_once(db, team, second_id, fake_twilio)
    assert [(p.round, p.step, p.status) for p in await pages_of(db, first.id)] == [(0, 0, "acknowledged")]
    assert len(texts_for(fake_twilio, team["ann"].phone or "", first.number)) == 1
    assert texts_to(fake_twilio, team["ann"].phone or "") == 1 + ROUNDS  # one page each, none twice
    session = await fresh(db)
    second = await session.get(Incident, second_id)
    assert second is not None and second.slack_ts is not None  # its channel post went out too
    first_timeline = await timeline_of(db, first.id)
    assert any("Ann acknowledged" in note for _, note in first_timeline), first_timeline
    first_kinds = [kind for kind, _ in first_timeline]
    assert "escalated" not in first_kinds and "nobody_acknowledged" not in first_kinds, first_kinds


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
    """Web and worker connections are terminated again and again from the trigger to past the first
    step's deadline."""
    team, schedule, policy, _ = await arrange_chain(db)
    stack.start_worker()
    await fresh(db)  # hand the test's connection back to the pool (pre-ping replaces it if cut)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    await fresh(db)
    auth = {"Authorization": f"Bearer {token}"}
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        declared = await client.post(
            "/api/v1/ws/acme/incidents",
            json={
                "title": "Database flapping",
                "severity": "SEV1",
                "schedule_id": str(schedule.id),
                "escalation_policy_id": str(policy.id),
            },
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

        await wait_for_the_end(db, incident_id)
        listed = await client.get(f"/api/v1/ws/acme/incidents/{incident_id}", headers=auth)
        assert listed.status_code == 200  # the web process recovered its pool
    await assert_chain_ran_exactly_once(db, team, incident_id, fake_twilio)
    assert [r.status for r in await deliveries_of(db, incident_id, "sms")].count("pending") == 0


# ---------------------------------------------------------------- Slack and Twilio misbehaving


async def test_500_and_429_with_retry_after_are_retried_and_sent_once(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    team, schedule, policy, owner = await arrange_chain(db)

    def to_ann(request: Any) -> bool:  # only the first step's SMS: a slow machine may page step 2 meanwhile
        return request.form.get("To") == team["ann"].phone

    fake_twilio.fail_next(Failure(500, '{"code": 20500, "message": "Internal"}', when=to_ann))
    fake_twilio.fail_next(Failure(429, '{"code": 20429, "message": "Too many"}', {"Retry-After": "1"}, when=to_ann))
    fake_slack.fail_next(Failure(429, '{"ok": false, "error": "ratelimited"}', {"Retry-After": "1"}))
    started = time.monotonic()
    incident = await trigger_chain(db, stack, owner, schedule, policy)

    async def first_step_paged() -> bool:
        rows = await deliveries_of(db, incident.id, "sms")
        return [r.status for r in rows if r.target == team["ann"].phone] == ["sent"]

    await eventually(first_step_paged)
    assert time.monotonic() - started >= 2 + 1  # waited 2 s after the 500, then the 1 s Retry-After
    sms_calls = [c for c in fake_twilio.calls("/Messages.json") if c.form.get("To") == team["ann"].phone]
    assert len(sms_calls) == 3 and [c.response is not None for c in sms_calls] == [False, False, True]
    posts = fake_slack.calls("chat.postMessage")
    assert posts[0].response is None and posts[1].response is not None  # refused, then posted after 1 s
    assert posts[1].at - posts[0].at >= 1
    await wait_for_the_end(db, incident.id)
    await assert_chain_ran_exactly_once(db, team, incident.id, fake_twilio, refused={(0, 0): 2})
    notes = [m for kind, m in await timeline_of(db, incident.id) if kind.startswith("delivery_")]
    phone = team["ann"].phone
    assert notes.count(f"SMS to {phone} failed: Twilio answered 500; retrying in 2 s (attempt 1 of 5).") == 1
    assert notes.count(f"SMS to {phone} failed: rate limited (429); retrying in 1 s (attempt 2 of 5).") == 1
    assert notes.count(f"SMS to {phone} accepted by Twilio on attempt 3.") == 1
    slack_refused = "Slack post in the incident channel failed: rate limited (429); retrying in 1 s (attempt 1 of 5)."
    assert notes.count(slack_refused) == 1
    assert notes.count("Slack post in the incident channel posted on attempt 2.") == 1


async def test_a_send_that_hangs_past_the_timeout_is_unknown_and_never_resent(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    hang = Failure(201, "{}", hang_seconds=SEND_TIMEOUT_SECONDS + 2)
    fake_twilio.fail_next(hang)
    fake_slack.fail_next(Failure(200, '{"ok": true}', hang_seconds=SEND_TIMEOUT_SECONDS + 2))
    team, schedule, policy, owner = await arrange_chain(db)
    incident = await trigger_chain(db, stack, owner, schedule, policy)

    async def unknown() -> bool:
        sms = [r.status for r in await deliveries_of(db, incident.id, "sms") if r.target == team["ann"].phone]
        posts = [r.status for r in await deliveries_of(db, incident.id, "slack_post")]
        return sms == ["unknown"] and "unknown" in posts

    await eventually(unknown)
    await wait_for_the_end(db, incident.id)
    # The timed-out text may have arrived: never a second for that page; round 2 pages Ann anew.
    await assert_chain_ran_exactly_once(db, team, incident.id, fake_twilio, unknown={(0, 0)})
    notes = [m for kind, m in await timeline_of(db, incident.id) if kind == "delivery_unknown"]
    timed_out = [n for n in notes if n.startswith(f"SMS to {team['ann'].phone} may not have arrived (timed out")]
    assert len(timed_out) == 1, notes
    assert any(n.startswith("Slack post in the incident channel may not have arrived") for n in notes), notes
