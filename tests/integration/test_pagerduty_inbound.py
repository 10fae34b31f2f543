"""PagerDuty's signed v3 webhooks coming back, on both databases, with the embedded worker (as in
tests/integration/test_pagerduty.py, whose `start` fixture builds the bridge): the signature on the raw
bytes (a fixed known vector), forged and replayed deliveries, acknowledged by a member found by the
PagerDuty user's email or by PagerDuty's agent, resolved, ignored events, malformed bodies, another
workspace's incident, no echo of our own acknowledge, and a recorded webhook whose wake-up was lost
(invariant 10). Delays are scaled (0.05 s a minute)."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.engine import create_engine
from app.db.models import DeliveryLog, Incident, IncidentResponder, Page
from app.domain.pagerduty import sign, signature_matches
from app.domain.roles import Role
from app.services import jobs
from app.services.deliveries import stalled_inbound
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.incidents import declare_incident
from app.services.pagerduty_inbound import handle_event
from app.tasks.periodic import _sweep_deliveries
from tests.factories import PASSWORD, fresh, make_paging_schedule, make_team
from tests.fakes.servers import Failure, FakeServer, pagerduty_webhook, signed_pagerduty_post
from tests.integration.test_acks import until
from tests.integration.test_pagerduty import SCALE, SECRET, Bridge, Start, start, timeline, wait_for
from tests.web import login, post_form

__all__ = ["start"]  # the fixture, imported for pytest

# ---------------------------------------------------------------- a fixed, known signature vector
# Computed once by hand, outside the app and the fakes, with Python's hmac module: the hex HMAC-SHA256
# of KNOWN_BODY keyed with KNOWN_SECRET.
KNOWN_SECRET = "whsec-test-signing-secret"
KNOWN_BODY = (
    b'{"event":{"id":"01KNOWNVECTOR00000000000001","event_type":"incident.annotated",'
    b'"resource_type":"incident","occurred_at":"2026-12-01T03:00:00.000Z","agent":null,'
    b'"data":{"id":"Q0KNOWN","type":"incident","number":7,"incident_key":"not-a-vigilo-incident"}}}'
)
KNOWN_SIGNATURE = "v1=1d7c5bba912bf8c742f74a88d443df8f81024074dba29ba4090f191918e5b3ec"
ONE_DIGIT_OFF = "v1=1d7c5bba912bf8c742f74a88d443df8f81024074dba29ba4090f191918e5b3ed"


def raw_headers(signature: str, event_id: str = "") -> dict[str, str]:
    return {"Content-Type": "application/json", "X-PagerDuty-Signature": signature, "X-Webhook-Id": event_id}


# ---------------------------------------------------------------- reading what happened


async def inbound_rows(db: AsyncSession) -> list[DeliveryLog]:
    session = await fresh(db)
    query = select(DeliveryLog).where(DeliveryLog.channel == "pagerduty", DeliveryLog.direction == "inbound")
    return list(await session.scalars(query.order_by(DeliveryLog.at)))


def event_key(bridge: Bridge, event_id: str) -> str:
    return f"{uuid.UUID(bridge.service['id']).hex[:12]}:{event_id}"


async def handled(bridge: Bridge, event_id: str, seconds: float = 10) -> DeliveryLog:
    """The inbound row of this event once the worker gave it an outcome."""
    key = event_key(bridge, event_id)

    async def done() -> bool:
        return any(r.external_id == key and r.status != "received" for r in await inbound_rows(bridge.db))

    await until(done, seconds)
    (row,) = [r for r in await inbound_rows(bridge.db) if r.external_id == key]
    return row


async def responders(db: AsyncSession) -> list[tuple[Any, str]]:
    session = await fresh(db)
    return [(r.user_id, r.source) for r in await session.scalars(select(IncidentResponder))]


async def outbound_actions(db: AsyncSession) -> list[str]:
    """The Events API actions Vigilo queued (rows are written in the transaction that decides them)."""
    session = await fresh(db)
    query = select(DeliveryLog).where(DeliveryLog.channel == "pagerduty", DeliveryLog.direction == "outbound")
    return [json.loads(r.summary)["action"] for r in await session.scalars(query.order_by(DeliveryLog.at))]


async def incident_row(db: AsyncSession, incident_id: str | uuid.UUID) -> Incident:
    session = await fresh(db)
    return await session.get_one(Incident, uuid.UUID(str(incident_id)))


def users_lookups(pd: FakeServer) -> list[Any]:
    return [c for c in pd.requests if c.method == "GET" and c.path.split("?")[0].startswith("/users/")]


def acknowledged_notes(messages: list[str]) -> list[str]:
    return [m for m in messages if "acknowledged INC-" in m]


def decisions(messages: list[str]) -> list[str]:
    """The timeline's acks, joins and resolves (not the notes on sends, which come as they come)."""
    return [m for m in messages if re.search(r"(acknowledged|joined|resolved) INC-", m)]


# ---------------------------------------------------------------- 1. the signature


def test_the_app_signs_the_known_vector_as_computed_by_hand() -> None:
    assert sign(KNOWN_SECRET, KNOWN_BODY) == KNOWN_SIGNATURE
    assert signature_matches(KNOWN_SECRET, KNOWN_BODY, KNOWN_SIGNATURE)
    assert not signature_matches(KNOWN_SECRET, KNOWN_BODY, ONE_DIGIT_OFF)
    assert not signature_matches(KNOWN_SECRET, KNOWN_BODY + b" ", KNOWN_SIGNATURE)  # the raw bytes, exactly


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (f"v1=00,{KNOWN_SIGNATURE}", True),  # only the second of two matches (a rotation)
        (f"{ONE_DIGIT_OFF}, {KNOWN_SIGNATURE} ,v1=ff", True),  # the 2nd of three, spaces around it
        (f"{ONE_DIGIT_OFF},v1=abc", False),
        (KNOWN_SIGNATURE.removeprefix("v1="), False),  # the right hex without "v1="
        ("v0=" + KNOWN_SIGNATURE.removeprefix("v1="), False),  # another scheme's prefix
        (KNOWN_SIGNATURE.upper(), False),  # "V1=" is not "v1="
        ("", False),
        (",,,", False),
    ],
)
def test_signature_matches_any_one_of_the_comma_separated_v1_signatures(header: str, matches: bool) -> None:
    assert signature_matches(KNOWN_SECRET, KNOWN_BODY, header) is matches


def test_no_secret_matches_nothing() -> None:
    assert not signature_matches("", KNOWN_BODY, "v1=" + sign("", KNOWN_BODY).removeprefix("v1="))


async def test_the_known_vector_posted_raw_is_accepted_and_one_changed_digit_is_not(start: Start) -> None:
    bridge = await start()
    assert KNOWN_SECRET == SECRET  # the connection's signing secret
    off = await bridge.client.post(bridge.webhook_path, content=KNOWN_BODY, headers=raw_headers(ONE_DIGIT_OFF))
    assert off.status_code == 401, off.text
    assert await inbound_rows(bridge.db) != []  # the rejected one
    assert all(r.status == "rejected" for r in await inbound_rows(bridge.db))

    answer = await bridge.client.post(bridge.webhook_path, content=KNOWN_BODY, headers=raw_headers(KNOWN_SIGNATURE))
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"ok": True, "duplicate": False}
    row = await handled(bridge, "01KNOWNVECTOR00000000000001")
    assert (row.status, row.error) == ("ignored", "incident.annotated is not acted on")
    assert row.workspace_id == bridge.team.workspace.id


# ---------------------------------------------------------------- 2. forged


async def test_a_forged_webhook_changes_nothing_and_is_shown_rejected(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    created = await bridge.declare()
    forged = await bridge.webhook(pagerduty_webhook("incident.acknowledged", created["id"], "PANN1"), ["wrong"])
    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert "X-PagerDuty-Signature" in forged.json()["detail"]
    unsigned = await bridge.client.post(bridge.webhook_path, content=b'{"event": {}}')
    assert unsigned.status_code == 401
    await asyncio.sleep(0.5)  # room for a worker to (wrongly) act
    assert (await bridge.incident(created["id"]))["status"] == "triggered"
    assert await responders(db) == []
    assert decisions(await timeline(db)) == []
    assert users_lookups(bridge.pd) == []
    rows = await inbound_rows(db)
    assert [(r.status, r.workspace_id, r.error, r.summary) for r in rows] == [
        ("rejected", bridge.team.workspace.id, "bad X-PagerDuty-Signature", ""),
        ("rejected", bridge.team.workspace.id, "bad X-PagerDuty-Signature", ""),
    ]

    await login(bridge.client, bridge.team["owner"].email, PASSWORD)
    page = await bridge.client.get("/ws/acme/settings/integrations")
    assert page.status_code == 200
    shown = re.findall(r'<tr class="delivery (\w+)">(.*?)</tr>', page.text, re.S)
    rejected = [body for status, body in shown if status == "rejected"]
    assert len(rejected) == 2
    assert "inbound pagerduty" in rejected[0]
    assert '<span class="badge">rejected</span>' in rejected[0]
    assert "bad X-PagerDuty-Signature" in rejected[0]


# ---------------------------------------------------------------- 3. replay


async def test_a_replayed_webhook_acts_once(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    # PagerDuty's user's email as PagerDuty spells it: the match ignores case.
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email.upper()
    created = await bridge.declare()
    body = pagerduty_webhook("incident.acknowledged", created["id"], "PANN1", "Ann")
    first, second = await asyncio.gather(bridge.webhook(body), bridge.webhook(body))  # a retry on the heels
    assert sorted(a.json()["duplicate"] for a in (first, second)) == [False, True]
    assert {first.status_code, second.status_code} == {202}
    row = await handled(bridge, body["event"]["id"])
    assert row.status == "processed"
    again = await bridge.webhook(body)  # and one more, long after it was handled
    assert again.status_code == 202
    assert again.json() == {"ok": True, "duplicate": True}
    await asyncio.sleep(0.5)
    assert await responders(db) == [(bridge.team["ann"].id, "pagerduty")]
    assert len(acknowledged_notes(await timeline(db))) == 1
    rows = await inbound_rows(db)
    assert [(r.status, r.external_id) for r in rows] == [("processed", event_key(bridge, body["event"]["id"]))]


class Interleaved:
    """A session that, when handle_event reads the incident, first lets `other` (another handling of
    the same row) run to its end: a PagerDuty retry on the heels of the first delivery, or the sweeper
    and a late wake-up, both reading the row while it is still "received"."""

    def __init__(self, db: AsyncSession, other: Callable[[], Awaitable[Any]]) -> None:
        self._db = db
        self._other: Callable[[], Awaitable[Any]] | None = other

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    async def get(self, model: Any, ident: Any, **options: Any) -> Any:
        if model is Incident and self._other is not None:
            other, self._other = self._other, None
            await other()
        return await self._db.get(model, ident, **options)


async def unhandled_row(bridge: Bridge, body: dict[str, Any]) -> uuid.UUID:
    """Post the webhook with its wake-up lost: the row is recorded and left "received"."""
    original = list(jobs._sender)
    jobs.install(lambda job, row_id, delay: None)
    try:
        assert (await bridge.webhook(body)).status_code == 202
    finally:
        jobs.install(original[0])
    (row,) = [r for r in await inbound_rows(bridge.db) if r.external_id == event_key(bridge, body["event"]["id"])]
    assert row.status == "received"
    return row.id


async def test_two_handlings_of_one_ack_keep_the_first_outcome(start: Start, db: AsyncSession) -> None:
    """The second handling must find the row handled and leave it; it must not overwrite what the first
    did ("processed: Acknowledged INC-1.") with "ignored: INC-1 is already acknowledged"."""
    bridge = await start()
    created = await bridge.declare()
    body = pagerduty_webhook("incident.acknowledged", created["id"], "PANN1", "Ann")
    row_id = await unhandled_row(bridge, body)
    ann = bridge.team["ann"].email
    engine = create_engine(bridge.settings.database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as first_db:
            now = datetime.datetime.now(datetime.UTC)
            first: list[str] = []

            async def first_handling() -> None:
                first.append(await handle_event(first_db, row_id, ann, now))

            async with async_sessionmaker(engine, expire_on_commit=False)() as second_db:
                second = await handle_event(
                    cast(AsyncSession, Interleaved(second_db, first_handling)), row_id, ann, now
                )
    finally:
        await engine.dispose()
    assert first == ["Acknowledged INC-1."]
    assert await responders(db) == [(bridge.team["ann"].id, "pagerduty")]
    assert len(acknowledged_notes(await timeline(db))) == 1
    (row,) = [r for r in await inbound_rows(db) if r.id == row_id]
    assert (row.status, row.error) == ("processed", "Acknowledged INC-1."), f"the second handling said {second!r}"


# ---------------------------------------------------------------- 4. acknowledged by a member


async def short_chain(bridge: Bridge, delay_minutes: int) -> None:
    """The schedule pages through PagerDuty first, then ben after `delay_minutes`."""
    policy = await bridge.client.post(
        "/api/v1/ws/acme/escalation-policies",
        json={
            "name": "PagerDuty, then Ben",
            "steps": [
                {"delay_minutes": delay_minutes, "targets": [{"pagerduty_service_id": bridge.service["id"]}]},
                {"delay_minutes": delay_minutes, "targets": [{"user": bridge.team["ben"].email}]},
            ],
        },
        headers=bridge.auth,
    )
    assert policy.status_code == 201, policy.text
    changed = await bridge.client.patch(
        f"/api/v1/ws/acme/schedules/{bridge.schedule.id}",
        json={"escalation_policy_id": policy.json()["id"]},
        headers=bridge.auth,
    )
    assert changed.status_code == 200, changed.text


def texts_to(twilio: FakeServer, number: str | None) -> int:
    return sum(1 for c in twilio.calls("/Messages.json") if c.form.get("To") == number)


async def test_an_ack_by_a_member_in_pagerduty_stops_the_chain(
    start: Start, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    bridge = await start()
    delay = 60  # three seconds at this scale: the ack comes well before
    await short_chain(bridge, delay)
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    created = await bridge.declare()
    control = await bridge.declare("Queue stuck")  # never acked: it does page ben, so silence means something
    deadline = (await incident_row(db, created["id"])).escalation_due_at
    assert deadline is not None

    async def posted() -> bool:
        return bool((await incident_row(db, created["id"])).slack_ts)

    await until(posted)
    await wait_for(lambda: len(bridge.events("trigger")) == 2)
    body = pagerduty_webhook("incident.acknowledged", created["id"], "PANN1", "Ann")
    assert (await bridge.webhook(body)).status_code == 202
    row = await handled(bridge, body["event"]["id"])
    assert (row.status, row.error) == ("processed", "Acknowledged INC-1.")
    assert (row.incident_id, row.workspace_id, row.target) == (
        uuid.UUID(created["id"]),
        bridge.team.workspace.id,
        "PagerDuty Payments PD",
    )
    acked = await incident_row(db, created["id"])
    assert acked.status == "acknowledged"
    assert acked.escalation_due_at is None  # the chain stops
    assert await responders(db) == [(bridge.team["ann"].id, "pagerduty")]
    (lookup,) = users_lookups(bridge.pd)
    assert lookup.path == "/users/PANN1"
    assert lookup.headers["authorization"] == "Token token=u+RESTAPIKEYxxxxxxxx"
    state = await bridge.incident(created["id"])
    assert [p["status"] for p in state["pages"]] == ["acknowledged"]  # PagerDuty's page was the one answered
    assert any("Ann acknowledged INC-1 via PagerDuty." in e["message"] for e in state["timeline"])

    def confirmed() -> bool:
        return any(
            "Ann acknowledged INC-1 via PagerDuty." in c.params.get("text", "")
            and c.params.get("thread_ts") == acked.slack_ts
            for c in bridge.slack.calls("chat.postMessage")
        )

    await wait_for(confirmed)

    # Wait past what would have been the deadline: the control incident pages ben, INC-1 never does.
    now = datetime.datetime.now(datetime.UTC)
    await asyncio.sleep(max(0.0, (deadline - now).total_seconds()) + 1.5)
    session = await fresh(db)
    bens = list(await session.scalars(select(Page).where(Page.user_id == bridge.team["ben"].id)))
    assert [p.incident_id for p in bens] == [uuid.UUID(control["id"])]
    await wait_for(lambda: texts_to(fake_twilio, bridge.team["ben"].phone) == 1)
    await asyncio.sleep(0.3)
    assert texts_to(fake_twilio, bridge.team["ben"].phone) == 1
    assert (await incident_row(db, created["id"])).status == "acknowledged"
    assert bridge.events("acknowledge") == []  # no echo
    assert await outbound_actions(db) == ["trigger", "trigger"]


# ---------------------------------------------------------------- 5. acknowledged by PagerDuty's agent


@pytest.mark.parametrize("lookup", ["no REST key", "user unknown to PagerDuty", "PagerDuty answers 500"])
async def test_an_ack_whose_agent_cannot_be_named_acks_all_the_same(
    start: Start, db: AsyncSession, lookup: str
) -> None:
    bridge = await start(api_key=None) if lookup == "no REST key" else await start()
    if lookup == "PagerDuty answers 500":
        bridge.pd.directory["PPAT1"] = bridge.team["ann"].email  # known, but PagerDuty fails to say so

        def is_lookup(request: Any) -> bool:
            return bool(request.method == "GET" and request.path.startswith("/users/"))

        bridge.pd.fail_next(Failure(500, '{"error": {"message": "oops"}}', when=is_lookup))
    created = await bridge.declare()
    body = pagerduty_webhook("incident.acknowledged", created["id"], "PPAT1", "Pat Pager")
    answer = await bridge.webhook(body)
    assert answer.status_code == 202
    row = await handled(bridge, body["event"]["id"])
    assert (row.status, row.error) == ("processed", "Acknowledged INC-1.")
    assert row.incident_id == uuid.UUID(created["id"])
    state = await bridge.incident(created["id"])
    assert state["status"] == "acknowledged"
    assert state["escalation_due_at"] is None
    assert state["responders"] == []
    assert await responders(db) == []
    notes = acknowledged_notes(await timeline(db))
    assert len(notes) == 1
    assert notes[0].startswith("Pat Pager acknowledged INC-1 in PagerDuty (Payments PD);")
    lookups = users_lookups(bridge.pd)
    if lookup == "no REST key":
        assert lookups == []
    else:
        assert [c.path for c in lookups] == ["/users/PPAT1"]
    await wait_for(
        lambda: any(
            "Pat Pager acknowledged INC-1" in c.params.get("text", "") for c in bridge.slack.calls("chat.postMessage")
        )
    )
    assert await outbound_actions(db) == ["trigger"]  # no acknowledge back to where it came from


# ---------------------------------------------------------------- 6. a viewer cannot ack


async def test_a_viewers_pagerduty_ack_names_them_but_makes_no_responder(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PVIC1"] = bridge.team["vic"].email
    created = await bridge.declare()
    body = pagerduty_webhook("incident.acknowledged", created["id"], "PVIC1", "Vic in PagerDuty")
    assert (await bridge.webhook(body)).status_code == 202
    row = await handled(bridge, body["event"]["id"])
    assert row.status == "processed"
    assert [c.path for c in users_lookups(bridge.pd)] == ["/users/PVIC1"]  # found, and still no responder
    assert await responders(db) == []
    assert (await bridge.incident(created["id"]))["status"] == "acknowledged"
    notes = acknowledged_notes(await timeline(db))
    assert len(notes) == 1 and notes[0].startswith("Vic in PagerDuty acknowledged INC-1 in PagerDuty (Payments PD)")
    assert await outbound_actions(db) == ["trigger"]


# ---------------------------------------------------------------- 7. resolved, and events not acted on


async def test_resolved_in_pagerduty_resolves_without_echo(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    created = await bridge.declare()
    await wait_for(lambda: len(bridge.events("trigger")) == 1)
    body = pagerduty_webhook("incident.resolved", created["id"], "PANN1", "Ann in PagerDuty")
    assert (await bridge.webhook(body)).status_code == 202
    row = await handled(bridge, body["event"]["id"])
    assert (row.status, row.incident_id) == ("processed", uuid.UUID(created["id"]))
    state = await bridge.incident(created["id"])
    assert state["status"] == "resolved"
    assert state["escalation_due_at"] is None
    assert [p["status"] for p in state["pages"]] == ["cancelled"]
    resolved = [m for m in await timeline(db) if "resolved INC-1" in m]
    assert resolved == ["Ann resolved INC-1 in PagerDuty (Payments PD). 1 pending page cancelled."]
    await wait_for(
        lambda: any("Ann resolved INC-1" in c.params.get("text", "") for c in bridge.slack.calls("chat.postMessage"))
    )
    assert await outbound_actions(db) == ["trigger"]
    assert bridge.events("resolve") == []

    again = pagerduty_webhook("incident.resolved", created["id"], "PANN1", "Ann in PagerDuty")  # a new event id
    assert (await bridge.webhook(again)).status_code == 202
    assert (await handled(bridge, again["event"]["id"])).status == "ignored"
    assert len([m for m in await timeline(db) if "resolved INC-1" in m]) == 1


async def test_other_event_types_are_recorded_and_ignored(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    created = await bridge.declare()
    for event_type in ("incident.priority_updated", "incident.annotated", "incident.unacknowledged", ""):
        body = pagerduty_webhook(event_type, created["id"], "PANN1", "Ann")
        answer = await bridge.webhook(body)
        assert answer.status_code == 202
        assert answer.json() == {"ok": True, "duplicate": False}
        row = await handled(bridge, body["event"]["id"])
        assert (row.status, row.error, row.workspace_id) == (
            "ignored",
            f"{event_type or 'an event'} is not acted on",
            bridge.team.workspace.id,
        )
    assert (await bridge.incident(created["id"]))["status"] == "triggered"
    assert decisions(await timeline(db)) == []
    assert await responders(db) == []
    assert await outbound_actions(db) == ["trigger"]


# ---------------------------------------------------------------- 8. malformed, unknown, another workspace's


async def test_malformed_bodies_and_an_unknown_connection(start: Start, db: AsyncSession) -> None:
    bridge = await start()

    async def signed(raw: bytes, event_id: str = "") -> Any:
        headers = raw_headers(sign(SECRET, raw), event_id)
        return await bridge.client.post(bridge.webhook_path, content=raw, headers=headers)

    for garbage in (b"not json", b'{"event": ', b"\xff\xfe{}", b""):
        answer = await signed(garbage)
        assert answer.status_code == 400, (garbage, answer.text)
        assert answer.json()["errors"][0]["field"] == "body"
    shapes: list[Any] = [{"messages": []}, [], {"event": "incident.acknowledged"}, {"event": None}]
    for shape in shapes:
        answer = await signed(json.dumps(shape).encode())
        assert answer.status_code == 422, (shape, answer.text)
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert problem["status"] == 422
        assert [e["field"] for e in problem["errors"]] == ["event"]
    no_id = await signed(json.dumps({"event": {"event_type": "incident.resolved"}}).encode())
    assert no_id.status_code == 422
    assert [e["field"] for e in no_id.json()["errors"]] == ["event.id"]
    from_header = await signed(json.dumps({"event": {"event_type": "incident.annotated"}}).encode(), "01FROMHEADER")
    assert from_header.status_code == 202  # the id PagerDuty also puts in X-Webhook-Id will do
    assert (await handled(bridge, "01FROMHEADER")).status == "ignored"

    body, headers = signed_pagerduty_post([SECRET], pagerduty_webhook("incident.resolved", str(uuid.uuid4())))
    for token in ("nope", "A" * 43, "x" * 200):
        unknown = await bridge.client.post(f"/integrations/pagerduty/{token}", content=body, headers=headers)
        assert unknown.status_code == 404, token
    # Nothing but the one well-formed event was recorded (malformed bodies are refused, not logged).
    assert [r.external_id for r in await inbound_rows(db)] == [event_key(bridge, "01FROMHEADER")]


async def test_a_key_naming_another_workspaces_incident_or_none_is_ignored(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    other = await make_team(db, "other", {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    other_schedule = await make_paging_schedule(db, other, 400)
    access = WorkspaceAccess(WorkspaceRef.of(other.workspace), UserRef.of(other["owner"]), Role.OWNER)
    theirs = await declare_incident(
        db, access, "Their outage", "SEV2", other_schedule.id, datetime.datetime.now(datetime.UTC), SCALE, "http://x"
    )
    ours = await bridge.declare()
    for key in (str(theirs.id), str(uuid.uuid4()), "not-a-uuid", None):
        for event_type in ("incident.acknowledged", "incident.resolved"):
            body = pagerduty_webhook(event_type, key, "PANN1", "Ann")
            assert (await bridge.webhook(body)).status_code == 202
            row = await handled(bridge, body["event"]["id"])
            assert row.status == "ignored", (key, event_type)
            assert row.error is not None and row.error.startswith(
                f"the alert's key ({key or 'none'}) names no incident"
            )
            assert row.workspace_id == bridge.team.workspace.id and row.incident_id is None
    after = await incident_row(db, theirs.id)
    assert (after.status, after.escalation_due_at is not None) == ("triggered", True)
    assert (await incident_row(db, ours["id"])).status == "triggered"
    assert await responders(db) == []
    assert await outbound_actions(db) == ["trigger"]


async def test_a_connection_that_did_not_page_the_incident_cannot_act_on_it(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    created = await bridge.declare()  # paged through "Payments PD" only
    billing = await bridge.client.post(
        "/api/v1/ws/acme/pagerduty-services",
        json={"label": "Billing PD", "routing_key": "B1LLINGKEY" + "c" * 22, "signing_secret": "whsec-billing"},
        headers=bridge.auth,
    )
    assert billing.status_code == 201, billing.text
    path = "/" + billing.json()["webhook_url"].split("/", 3)[3]
    for event_type in ("incident.acknowledged", "incident.resolved"):
        body = pagerduty_webhook(event_type, created["id"], "PANN1", "Ann")
        raw, headers = signed_pagerduty_post(["whsec-billing"], body)
        assert (await bridge.client.post(path, content=raw, headers=headers)).status_code == 202
        key = f"{uuid.UUID(billing.json()['id']).hex[:12]}:{body['event']['id']}"

        async def done(key: str = key) -> bool:
            return any(r.external_id == key and r.status != "received" for r in await inbound_rows(db))

        await until(done)
        (row,) = [r for r in await inbound_rows(db) if r.external_id == key]
        assert row.status == "ignored", (event_type, row.error)
    assert (await bridge.incident(created["id"]))["status"] == "triggered"
    assert await responders(db) == []
    assert await outbound_actions(db) == ["trigger"]


# ---------------------------------------------------------------- 9. our own acknowledge coming back


async def test_our_own_acknowledge_coming_back_is_ignored(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    bridge.pd.directory["PBEN1"] = bridge.team["ben"].email
    created = await bridge.declare()
    await wait_for(lambda: len(bridge.events("trigger")) == 1)
    # There is no acknowledge in the JSON API (app/routes/api/incidents.py): ann uses the web button.
    await login(bridge.client, bridge.team["ann"].email, PASSWORD)
    page = f"/ws/acme/incidents/{created['id']}"
    acked = await post_form(bridge.client, page + "/ack", {}, from_page=page)
    assert acked.status_code == 303, acked.text
    await wait_for(lambda: len(bridge.events("acknowledge")) == 1)
    assert bridge.events("acknowledge")[0]["dedup_key"] == created["id"]
    assert await responders(db) == [(bridge.team["ann"].id, "web")]

    service_agent = pagerduty_webhook("incident.acknowledged", created["id"], "PSVC001", "Payments PD")
    service_agent["event"]["agent"]["type"] = "service_reference"
    by_ben = pagerduty_webhook("incident.acknowledged", created["id"], "PBEN1", "Ben")
    by_ann = pagerduty_webhook("incident.acknowledged", created["id"], "PANN1", "Ann")
    for body in (service_agent, by_ben, by_ann):
        assert (await bridge.webhook(body)).status_code == 202
        row = await handled(bridge, body["event"]["id"])
        assert (row.status, row.error) == ("ignored", "INC-1 is already acknowledged"), body["event"]["agent"]
    await asyncio.sleep(0.5)
    assert await responders(db) == [(bridge.team["ann"].id, "web")]  # nobody joins by it
    assert len(acknowledged_notes(await timeline(db))) == 1
    assert await outbound_actions(db) == ["trigger", "acknowledge"]
    assert len(bridge.events("acknowledge")) == 1

    resolved_there = pagerduty_webhook("incident.resolved", created["id"], "PBEN1", "Ben")
    assert (await bridge.webhook(resolved_there)).status_code == 202
    assert (await handled(bridge, resolved_there["event"]["id"])).status == "processed"
    assert (await bridge.incident(created["id"]))["status"] == "resolved"
    assert await outbound_actions(db) == ["trigger", "acknowledge"]  # the resolve is not sent back
    assert bridge.events("resolve") == []


# ---------------------------------------------------------------- 10. recorded, never handled (invariant 10)


async def test_a_webhook_whose_wakeup_was_lost_is_handled_by_the_sweeper(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    created = await bridge.declare()
    await wait_for(lambda: len(bridge.events("trigger")) == 1)
    original = list(jobs._sender)
    assert original, "create_app installs the job sender"
    lost: list[str] = []

    def dropping(job: jobs.Job, row_id: str, delay: int | None) -> None:
        if job is jobs.Job.PAGERDUTY_EVENT:
            lost.append(row_id)
            raise ConnectionError("the broker went away")
        original[0](job, row_id, delay)

    body = pagerduty_webhook("incident.acknowledged", created["id"], "PANN1", "Ann")
    jobs.install(dropping)
    try:
        answer = await bridge.webhook(body)
    finally:
        jobs.install(original[0])
    assert answer.status_code == 202  # recorded: PagerDuty is not asked to retry
    (row,) = [r for r in await inbound_rows(db) if r.status != "rejected"]
    assert lost == [str(row.id)]
    assert row.status == "received"
    await asyncio.sleep(0.3)
    assert (await bridge.incident(created["id"]))["status"] == "triggered"

    now = datetime.datetime.now(datetime.UTC)
    grace = datetime.timedelta(seconds=30)
    assert await stalled_inbound(db, now, grace) == []  # too young to be called lost
    later = now + grace + datetime.timedelta(seconds=1)
    await _sweep_deliveries(db, later)  # the periodic job: wakes the pagerduty_event actor again
    assert (await handled(bridge, body["event"]["id"])).status == "processed"
    assert (await bridge.incident(created["id"]))["status"] == "acknowledged"
    assert await responders(db) == [(bridge.team["ann"].id, "pagerduty")]
    assert await stalled_inbound(db, later + grace * 3, grace) == []  # handled: never offered again
    assert await outbound_actions(db) == ["trigger"]


async def test_stalled_inbound_offers_a_recorded_pagerduty_row(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    created = await bridge.declare()
    row_id = await unhandled_row(bridge, pagerduty_webhook("incident.resolved", created["id"], None))
    now = datetime.datetime.now(datetime.UTC)
    grace = datetime.timedelta(seconds=30)
    assert await stalled_inbound(db, now + grace + datetime.timedelta(seconds=1), grace) == [(row_id, "pagerduty")]
    assert await stalled_inbound(db, now + grace + datetime.timedelta(seconds=2), grace) == []  # stamped


async def test_a_retry_of_a_webhook_recorded_but_never_handled_is_handled(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    created = await bridge.declare()
    body = pagerduty_webhook("incident.acknowledged", created["id"], "PANN1", "Ann")
    await unhandled_row(bridge, body)
    retry = await bridge.webhook(body)  # PagerDuty's retry: the same event id
    assert retry.status_code == 202
    assert retry.json() == {"ok": True, "duplicate": True}
    assert (await handled(bridge, body["event"]["id"])).status == "processed"
    assert await responders(db) == [(bridge.team["ann"].id, "pagerduty")]
