"""No doubled calls, with production parts (tests/processes.py): `vigilo worker` processes on PostgreSQL,
a private Redis and the fake Twilio behind the real SDK, while workers are killed with kill -9 in the
middle of a call request and Redis is restarted and flushed with calls still waiting.

The promise (invariant 8, for calls): one call per page per person. A call request cut off by a dead
worker may have rung, so it is "unknown" and never placed again; a call whose wake-up was lost is
placed once by the sweeper, not before its time; and the chain moves on at its deadlines whatever
became of the calls.
"""

from __future__ import annotations

import asyncio
import datetime

import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Page
from app.domain.roles import Role
from app.domain.voice import MAX_VOICE_AFTER
from app.integrations.twilio_sms import VOICE_ANSWER_PATH
from app.services.accounts import set_paging_choice
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.policies import create_policy
from tests.factories import make_paging_schedule, make_team
from tests.fakes.servers import Failure, FakeServer, RecordedRequest, gather_url
from tests.integration.test_faults import (
    CHAIN,
    DEADLINE_SECONDS,
    POSITIONS,
    ROUNDS,
    Position,
    arrange_chain,
    chain_ended,
    deliveries_of,
    label,
    pages_of,
    texts_for,
    timeline_of,
    trigger_chain,
    wait_for_the_end,
    worker_ticked,
)
from tests.integration.test_paging_workers import ACK_DELAY_MINUTES, DELAY_MINUTES, eventually
from tests.processes import SCALE, Stack

pytestmark = pytest.mark.slow
CALLS = "/Calls.json"


async def _wait_for_duplicates() -> None:
    """Long enough for any second call to show: past the sweeper's grace, its "sending" grace and a step."""
    await asyncio.sleep(2 * DEADLINE_SECONDS)


def spoken(position: Position) -> str:
    """How a call says where its page stands: "<Say>Step 2 of 3, round 1 of 2; next: …"."""
    text = label(position)
    return f"<Say>{text[:1].upper()}{text[1:]};"


def calls_for(
    fake: FakeServer, number: str, incident_number: int, position: Position | None = None
) -> list[RecordedRequest]:
    """The call requests Twilio got for `number` about this incident (for one step of one round),
    told apart by what the call says (its TwiML)."""
    found = []
    for call in fake.calls(CALLS):
        twiml = call.form.get("Twiml", "")
        if call.form.get("To") != number or f"<Say>Incident {incident_number}: " not in twiml:
            continue
        if position is None or spoken(position) in twiml:
            found.append(call)
    return found


def answered_with(call: RecordedRequest) -> str:
    """The delivery row a call's key goes back to (the id at the end of its <Gather action>)."""
    url = gather_url(call.form.get("Twiml", ""))
    assert VOICE_ANSWER_PATH in url, url
    return url.rsplit("/", 1)[-1]


def position_of(page: Page) -> Position:
    assert page.round is not None and page.step is not None, "a page of the chain"
    return page.round, page.step


def page_at(pages: list[Page], position: Position) -> Page:
    [page] = [p for p in pages if (p.round, p.step) == position]
    return page


def sent_at(page: Page) -> datetime.datetime:
    assert page.sent_at is not None
    return page.sent_at


def rows_of(rows: list[DeliveryLog], page: Page) -> list[DeliveryLog]:
    return [row for row in rows if row.page_id == page.id]


def placed_note(phone: str) -> str:
    return f"Call to {phone} placed by Twilio."


def never_placed_again(message: str, phone: str) -> bool:
    """The timeline's word for a call cut off by a dead worker: it may have rung, and it is not placed again."""
    return (
        message.startswith(f"Call to {phone} ")
        and "mid-send" in message
        and "not placed again, so nobody is called twice" in message
    )


# ---------------------------------------------------------------- kill -9 mid-call request


async def test_worker_killed_mid_call_request_never_calls_again_and_the_chain_moves_on(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    """kill -9 while Twilio holds the call request of step 1: the call may have rung, so it is
    "unknown" and never placed again, and Ben is paged at the step's deadline as if nothing happened."""
    team, schedule, policy, owner = await arrange_chain(db)
    ann = team["ann"].phone or ""
    await set_paging_choice(db, team["ann"].id, ["voice"], 0)  # Ann is paged by a call only

    def call_to_ann(request: RecordedRequest) -> bool:
        return request.path.split("?")[0].endswith(CALLS) and request.form.get("To") == ann

    # Held far longer than it takes to kill the worker (the SDK would give up after its send timeout).
    fake_twilio.fail_next(Failure(201, "{}", hang_seconds=10, when=call_to_ann))
    incident = await trigger_chain(db, stack, owner, schedule, policy)

    async def in_flight() -> bool:
        return len(fake_twilio.calls(CALLS)) == 1

    await eventually(in_flight)
    stack.kill_workers()
    [row] = await deliveries_of(db, incident.id, "voice")
    assert row.status == "sending", (row.status, row.error)  # the kill landed while Twilio held the request
    first_call = row.id
    stack.start_worker()

    async def settled() -> bool:  # the sweeper's word on the row a dead worker left "sending"
        return next(r for r in await deliveries_of(db, incident.id, "voice") if r.id == first_call).status != "sending"

    await eventually(settled, seconds=30)
    row = next(r for r in await deliveries_of(db, incident.id, "voice") if r.id == first_call)
    assert row.status == "unknown", (row.status, row.error, len(fake_twilio.calls(CALLS)))
    await wait_for_the_end(db, incident.id)
    await eventually(lambda: chain_ended(db, incident.id))
    await _wait_for_duplicates()

    pages = await pages_of(db, incident.id)
    assert [(page.round, page.step) for page in pages] == POSITIONS, "each step once a round"
    for page in pages:
        position = position_of(page)
        assert page.user_id == team[CHAIN[position[1]]].id and page.status == "escalated", position
    # The chain moved on at step 1's deadline, not held up by the call nobody knows the fate of.
    first, second = page_at(pages, (0, 0)), page_at(pages, (0, 1))
    assert first.deadline is not None
    late = (sent_at(second) - first.deadline).total_seconds()
    assert 0 <= late < 2 * DEADLINE_SECONDS, f"step 2 paged {late:.1f} s after step 1's deadline"
    assert len(texts_for(fake_twilio, team["ben"].phone or "", incident.number, (0, 1))) == 1

    # Exactly one call request for step 1: cut off, never placed again; round 2 pages Ann anew, once.
    voice = await deliveries_of(db, incident.id, "voice")
    assert [(r.target, r.status) for r in rows_of(voice, first)] == [(ann, "unknown")]
    cut_off = calls_for(fake_twilio, ann, incident.number, (0, 0))
    assert [call.response is None for call in cut_off] == [True], cut_off
    assert answered_with(cut_off[0]) == str(first_call)
    again = page_at(pages, (1, 0))
    [round_two] = rows_of(voice, again)
    assert round_two.status == "sent", (round_two.status, round_two.error)
    placed = calls_for(fake_twilio, ann, incident.number, (1, 0))
    assert [call.response is not None for call in placed] == [True], placed
    assert answered_with(placed[0]) == str(round_two.id)
    assert len(calls_for(fake_twilio, ann, incident.number)) == ROUNDS
    assert len(fake_twilio.calls(CALLS)) == ROUNDS, "only Ann is paged by a call"
    assert [r.page_id for r in voice].count(first.id) == 1 and len(voice) == ROUNDS
    assert not [r for r in await deliveries_of(db, incident.id, "sms") if r.target == ann], "Ann chose calls only"
    for key in ("ben", "cat"):  # texted once a page, as ever
        phone = team[key].phone or ""
        assert len(texts_for(fake_twilio, phone, incident.number)) == ROUNDS, key

    timeline = await timeline_of(db, incident.id)
    unknown = [message for kind, message in timeline if kind == "delivery_unknown"]
    assert len([m for m in unknown if never_placed_again(m, ann)]) == 1, unknown
    sent = [message for kind, message in timeline if kind == "delivery_sent"]
    assert sent.count(placed_note(ann)) == 1, sent  # round 2's call; step 1's was never said placed
    escalated = [message for kind, message in timeline if kind == "escalated"]
    assert f"No acknowledgement within {DELAY_MINUTES} min of {label((0, 0))}." in escalated, escalated


# ---------------------------------------------------------------- Redis restarted and flushed


def delayed_wakeups(stack: Stack) -> list[str]:
    """The delayed messages waiting in the private Redis (Dramatiq's delay queues), as stored."""
    client = redis.Redis.from_url(stack.redis.url)
    try:
        found: list[str] = []
        for key in client.scan_iter(match="*.DQ.msgs"):
            found += [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in client.hvals(key)]
        return found
    finally:
        client.close()


@pytest.mark.parametrize("workers_up", [False, True], ids=["workers-down", "workers-up"])
async def test_redis_flushed_with_calls_waiting_places_each_call_once_and_not_early(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer, workers_up: bool
) -> None:
    """Ann is texted, then called MAX_VOICE_AFTER minutes later; Ben, on the same step, is called at
    once; Cat, at step 2. Redis is killed, restarted and flushed before Ann's call is due.

    workers-down: the pages are made with the workers killed, so every wake-up (the call's delayed
    one too) lives only in Redis and is lost; the sweeper must find each row. workers-up: the worker
    has likely taken the call's delayed wake-up off Redis and holds it, so it and the sweeper may
    both reach the row. Either way each call is placed once, Ann's not before its time."""
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, DELAY_MINUTES)
    owner = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["owner"]), Role.OWNER)
    await set_paging_choice(db, team["ann"].id, ["sms", "voice"], MAX_VOICE_AFTER)
    await set_paging_choice(db, team["ben"].id, ["voice"], 0)
    await set_paging_choice(db, team["cat"].id, ["voice"], 0)
    # Step 1 waits ten seconds: room on a busy machine for a worker to start and the sweeper to place
    # the calls while the page is still open (a call after the text is skipped once the page is not).
    steps = [
        {"delay_minutes": ACK_DELAY_MINUTES, "targets": [{"user": team["ann"].email}, {"user": team["ben"].email}]},
        {"delay_minutes": DELAY_MINUTES, "targets": [{"user": team["cat"].email}]},
    ]
    policy = await create_policy(db, team.workspace.id, {"name": "Both, then Cat", "repeat": 0, "steps": steps})
    await eventually(lambda: worker_ticked(db), seconds=60)
    if not workers_up:
        stack.kill_workers()  # nobody takes the wake-ups off Redis: Redis alone holds them
    incident = await trigger_chain(db, stack, owner, schedule, policy)
    if workers_up:  # at once: the call is due a second after the page
        stack.redis.kill()
        stack.redis.start()
        stack.redis.flushall()

    pages = await pages_of(db, incident.id)
    ann_page = next(page for page in pages if page.user_id == team["ann"].id)
    due = sent_at(ann_page) + datetime.timedelta(seconds=MAX_VOICE_AFTER * SCALE)
    [ann_call] = [r for r in await deliveries_of(db, incident.id, "voice") if r.page_id == ann_page.id]
    if not workers_up:
        assert (ann_call.status, ann_call.retry_at) == ("pending", due)  # waits in the database, with its time
        assert any(str(ann_call.id) in message for message in delayed_wakeups(stack)), "its wake-up waits in Redis"
        stack.redis.kill()
        stack.redis.start()
        stack.redis.flushall()
        assert delayed_wakeups(stack) == []
        stack.start_worker()

    cat = team["cat"].phone or ""

    async def cat_called() -> bool:
        return len(calls_for(fake_twilio, cat, incident.number)) >= 1

    await eventually(cat_called, seconds=ACK_DELAY_MINUTES * SCALE + 40)
    await eventually(lambda: chain_ended(db, incident.id), seconds=2 * DEADLINE_SECONDS + 30)
    await _wait_for_duplicates()

    ann, ben = team["ann"].phone or "", team["ben"].phone or ""
    labels = {"ann": "step 1 of 2", "ben": "step 1 of 2", "cat": "step 2 of 2"}
    for key, phone in (("ann", ann), ("ben", ben), ("cat", cat)):
        calls = calls_for(fake_twilio, phone, incident.number)
        assert len(calls) == 1, f"{key} called {len(calls)} times about INC-{incident.number}"
        assert calls[0].response is not None
        assert f"<Say>{labels[key][:1].upper()}{labels[key][1:]}" in calls[0].form.get("Twiml", ""), key
    assert len(fake_twilio.calls(CALLS)) == 3
    (ann_called,) = calls_for(fake_twilio, ann, incident.number)
    assert ann_called.at >= due.timestamp(), f"Ann called {due.timestamp() - ann_called.at:.2f} s early"
    ann_texts = texts_for(fake_twilio, ann, incident.number)
    assert len(ann_texts) == 1 and ann_texts[0].at < ann_called.at, "one text, then the call"
    assert texts_for(fake_twilio, ben, incident.number) == [] and texts_for(fake_twilio, cat, incident.number) == []

    pages = await pages_of(db, incident.id)
    by_person = {(p.step, p.user_id) for p in pages}
    assert by_person == {(0, team["ann"].id), (0, team["ben"].id), (1, team["cat"].id)}, by_person
    assert len(pages) == 3
    voice = await deliveries_of(db, incident.id, "voice")
    assert sorted((r.target, r.status) for r in voice) == sorted([(ann, "sent"), (ben, "sent"), (cat, "sent")])
    for row in voice:
        assert answered_with(next(c for c in fake_twilio.calls(CALLS) if c.form.get("To") == row.target)) == str(row.id)
    sent = [message for kind, message in await timeline_of(db, incident.id) if kind == "delivery_sent"]
    for phone in (ann, ben, cat):
        assert sent.count(placed_note(phone)) == 1, sent


# ---------------------------------------------------------------- a whole chain by voice


async def test_a_whole_chain_by_voice_calls_once_a_page(
    stack: Stack, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    """Three steps, one repeat, everyone paged by a call (Ann by a call only, Ben by a text and a call
    at once, Cat by a text and a call MAX_VOICE_AFTER minutes later): each page gets exactly one call."""
    team, schedule, policy, owner = await arrange_chain(db)
    await set_paging_choice(db, team["ann"].id, ["voice"], 0)
    await set_paging_choice(db, team["ben"].id, ["sms", "voice"], 0)
    await set_paging_choice(db, team["cat"].id, ["sms", "voice"], MAX_VOICE_AFTER)
    ways = {
        "ann": "Slack and a call",
        "ben": "Slack, SMS and a call",
        "cat": f"Slack, SMS and a call (after {MAX_VOICE_AFTER} min)",
    }
    incident = await trigger_chain(db, stack, owner, schedule, policy)
    await wait_for_the_end(db, incident.id)
    await _wait_for_duplicates()

    pages = await pages_of(db, incident.id)
    assert [(page.round, page.step) for page in pages] == POSITIONS, "each step once a round"
    voice = await deliveries_of(db, incident.id, "voice")
    sms = await deliveries_of(db, incident.id, "sms")
    for page in pages:
        position = position_of(page)
        key = CHAIN[position[1]]
        phone = team[key].phone or ""
        assert page.user_id == team[key].id and page.status == "escalated", (position, page.status)
        rows = rows_of(voice, page)
        assert [(r.target, r.status) for r in rows] == [(phone, "sent")], (position, "one call row a page")
        calls = calls_for(fake_twilio, phone, incident.number, position)
        assert len(calls) == 1, f"{key} called {len(calls)} times for {label(position)}"
        assert calls[0].response is not None and answered_with(calls[0]) == str(rows[0].id), position
        texts = texts_for(fake_twilio, phone, incident.number, position)
        assert len(texts) == (0 if key == "ann" else 1), (position, "texts")
        assert len(rows_of(sms, page)) == len(texts), position
        if key == "cat":  # the call comes MAX_VOICE_AFTER minutes (scaled) after the text, not before
            assert calls[0].at >= sent_at(page).timestamp() + MAX_VOICE_AFTER * SCALE, position
            assert calls[0].at > texts[0].at, position
    for key in CHAIN:
        phone = team[key].phone or ""
        assert len(calls_for(fake_twilio, phone, incident.number)) == ROUNDS, f"{key} not called once a round"
    assert len(fake_twilio.calls(CALLS)) == len(POSITIONS), "one call a page, nobody called twice"
    assert len({answered_with(call) for call in fake_twilio.calls(CALLS)}) == len(POSITIONS)

    timeline = await timeline_of(db, incident.id)
    paged = [message for kind, message in timeline if kind == "paged"]
    assert len(paged) == len(POSITIONS), paged
    for position in POSITIONS:
        key = CHAIN[position[1]]
        said = [m for m in paged if m.startswith(f"Paging {team[key].display_name} ")]
        said = [m for m in said if m.endswith(f" by {ways[key]}, {label(position)}.")]
        assert len(said) == 1, (position, paged)
    sent = [message for kind, message in timeline if kind == "delivery_sent"]
    for key in CHAIN:
        assert sent.count(placed_note(team[key].phone or "")) == ROUNDS, sent
    kinds = [kind for kind, _ in timeline]
    assert "delivery_unknown" not in kinds and "delivery_skipped" not in kinds, kinds
    assert kinds.count("nobody_acknowledged") == 1, kinds
