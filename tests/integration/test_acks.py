"""Acknowledge and decline from Slack reactions, SMS replies and the web, on both databases, with the
embedded worker and the fake Slack and Twilio servers (signatures made by the SDKs' own helpers)."""

from __future__ import annotations

import asyncio
import datetime
import json
import time
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from litestar.testing import AsyncTestClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from app.config import Settings
from app.db.models import DeliveryLog, Incident, IncidentResponder
from app.domain.roles import Role
from app.main import create_app
from app.services.schedules import create_schedule
from app.services.tokens import issue_token
from tests.factories import fresh, make_paging_schedule, make_team
from tests.fakes.servers import FakeServer

SCALE = 0.05
DELAY = 80  # minutes: four seconds here (an ack must beat it even on a loaded 2-core machine)
SMS_URL = "http://testserver.local/integrations/twilio_sms/"  # the test settings' public URL


def slack_request(
    settings: Settings, payload: dict[str, Any], age: int = 0, secret: str | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret or settings.slack_signing_secret or "").generate_signature(
        timestamp=timestamp, body=body
    )
    return body, {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/json",
    }


def reaction(channel: str, ts: str, user: str, name: str, event_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
        "event": {
            "type": "reaction_added",
            "user": user,
            "reaction": name,
            "item": {"type": "message", "channel": channel, "ts": ts},
        },
    }


def sms_request(settings: Settings, params: dict[str, str], token: str | None = None) -> tuple[str, dict[str, str]]:
    url = settings.public_url + "/integrations/twilio_sms/"
    signature = RequestValidator(token or settings.twilio_auth_token or "").compute_signature(url, params)
    return urlencode(params), {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


async def until(check: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds * 20)):
        if await check():
            return
        await asyncio.sleep(0.05)
    assert await check()


@pytest.fixture
async def incident(integration_settings: Settings, db: AsyncSession, fake_slack: FakeServer) -> Any:
    settings = replace(integration_settings, seconds_per_delay_minute=SCALE)
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER})
    schedule = await make_paging_schedule(db, team, DELAY)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    auth = {"Authorization": f"Bearer {token}"}
    async with AsyncTestClient(app=create_app(settings)) as client:
        created = (
            await client.post(
                "/api/v1/ws/acme/incidents",
                json={"title": "API down", "severity": "SEV2", "schedule_id": str(schedule.id)},
                headers=auth,
            )
        ).json()

        async def posted() -> bool:
            return bool(await (await fresh(db)).scalar(select(Incident.slack_ts)))

        await until(posted)
        ts = await db.scalar(select(Incident.slack_ts))
        yield client, team, settings, created, ts, auth


async def responders(db: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    session = await fresh(db)
    return [(r.user_id, r.source) for r in await session.scalars(select(IncidentResponder))]


def texts_to(fake: FakeServer, number: str | None) -> int:
    return sum(1 for c in fake.calls("/Messages.json") if c.form.get("To") == number)


async def test_slack_reaction_acks_once_confirms_in_thread_and_stops_escalation(
    incident: Any, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    client, team, settings, created, ts, auth = incident
    event = reaction("C0INCIDENT", ts, team["ann"].slack_user_id, "white_check_mark", event_id="EvSAME")
    body, headers = slack_request(settings, event)
    first = await client.post("/integrations/slack/events", content=body, headers=headers)
    assert first.status_code == 200
    assert first.json()["duplicate"] is False
    again = await client.post("/integrations/slack/events", content=body, headers=headers)
    assert again.json()["duplicate"] is True

    async def acked() -> bool:
        return await responders(db) == [(team["ann"].id, "slack")]

    await until(acked)
    state = (await client.get(f"/api/v1/ws/acme/incidents/{created['id']}", headers=auth)).json()
    assert state["status"] == "acknowledged"
    assert [(r["user"]["email"], r["source"], r["role"]) for r in state["responders"]] == [
        (team["ann"].email, "slack", "responder")
    ]
    assert state["pages"][0]["status"] == "acknowledged"

    async def confirmed() -> bool:
        return any(
            c.params.get("thread_ts") == ts and "acknowledged INC-1 via Slack" in c.params.get("text", "")
            for c in fake_slack.calls("chat.postMessage")
        )

    await until(confirmed)
    await asyncio.sleep(DELAY * SCALE + 1)
    assert texts_to(fake_twilio, team["ben"].phone) == 0  # no escalation, ever
    assert await responders(db) == [(team["ann"].id, "slack")]


async def test_sms_ack_with_stray_spaces(incident: Any, db: AsyncSession) -> None:
    client, team, settings, _, _, _ = incident
    body, headers = sms_request(settings, {"From": team["ann"].phone, "Body": "  1a ", "MessageSid": "SM1"})
    response = await client.post("/integrations/twilio_sms/", content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Message>Vigilo, Acme: Acknowledged INC-1. (API down)</Message>" in response.text
    retry = await client.post("/integrations/twilio_sms/", content=body, headers=headers)
    assert "Acknowledged INC-1." in retry.text
    assert await responders(db) == [(team["ann"].id, "sms")]
    # Ben has no pending page: an SMS names only the sender's own pending pages, so nothing changes.
    body2, headers2 = sms_request(settings, {"From": team["ben"].phone, "Body": "ACK 1", "MessageSid": "SM2"})
    second = await client.post("/integrations/twilio_sms/", content=body2, headers=headers2)
    assert "you have no pending pages" in second.text
    body3, headers3 = sms_request(settings, {"From": team["ann"].phone, "Body": "ack 1", "MessageSid": "SM3"})
    assert (
        "you have no pending pages"
        in (await client.post("/integrations/twilio_sms/", content=body3, headers=headers3)).text
    )
    assert await responders(db) == [(team["ann"].id, "sms")]


async def test_decline_pages_the_backup_at_once(incident: Any, db: AsyncSession, fake_twilio: FakeServer) -> None:
    client, team, settings, created, _, auth = incident
    body, headers = sms_request(settings, {"From": team["ann"].phone, "Body": "DECLINE", "MessageSid": "SM9"})
    response = await client.post("/integrations/twilio_sms/", content=body, headers=headers)
    assert "Declined INC-1; paging step 2 of 2: Ben." in response.text

    async def backup_texted() -> bool:
        return texts_to(fake_twilio, team["ben"].phone) == 1

    await until(backup_texted, seconds=DELAY * SCALE / 2)  # well before the deadline
    state = (await client.get(f"/api/v1/ws/acme/incidents/{created['id']}", headers=auth)).json()
    assert [(p["step"], p["status"]) for p in state["pages"]] == [(0, "declined"), (1, "pending")]
    # A decline by someone without a pending page changes nothing.
    body2, headers2 = sms_request(settings, {"From": team["vic"].phone, "Body": "DECLINE 1", "MessageSid": "SM10"})
    assert (
        "you have no pending pages"
        in (await client.post("/integrations/twilio_sms/", content=body2, headers=headers2)).text
    )


async def test_forged_and_stale_webhooks_change_nothing(incident: Any, db: AsyncSession) -> None:
    client, team, settings, _, ts, _ = incident
    event = reaction("C0INCIDENT", ts, team["ann"].slack_user_id, "white_check_mark")
    forged_body, forged_headers = slack_request(settings, event, secret="not-the-secret")
    assert (
        await client.post("/integrations/slack/events", content=forged_body, headers=forged_headers)
    ).status_code == 401
    stale_body, stale_headers = slack_request(settings, event, age=6 * 60)
    assert (
        await client.post("/integrations/slack/events", content=stale_body, headers=stale_headers)
    ).status_code == 401
    assert (await client.post("/integrations/slack/events", content=forged_body)).status_code == 401
    sms_body, sms_headers = sms_request(
        settings, {"From": team["ann"].phone, "Body": "ACK 1", "MessageSid": "SMX"}, token="wrong"
    )
    assert (await client.post("/integrations/twilio_sms/", content=sms_body, headers=sms_headers)).status_code == 403
    await asyncio.sleep(0.5)
    assert await responders(db) == []
    session = await fresh(db)
    rejected = [r.channel for r in await session.scalars(select(DeliveryLog).where(DeliveryLog.status == "rejected"))]
    assert sorted(rejected) == ["slack", "slack", "slack", "sms"]


async def test_bot_reactions_other_messages_and_strangers_ack_nothing(incident: Any, db: AsyncSession) -> None:
    client, team, settings, _, ts, _ = incident
    for event in (
        reaction("C0INCIDENT", ts, "U0VIGILOBOT", "white_check_mark"),  # the bot adding its own buttons
        reaction("C0INCIDENT", "1.000001", team["ann"].slack_user_id, "white_check_mark"),  # another message
        reaction("C0INCIDENT", ts, "U0STRANGER", "white_check_mark"),  # not a workspace member
        reaction("C0INCIDENT", ts, team["ann"].slack_user_id, "eyes"),  # a reaction that means nothing
    ):
        body, headers = slack_request(settings, event)
        assert (await client.post("/integrations/slack/events", content=body, headers=headers)).status_code == 200

    async def all_handled() -> bool:
        session = await fresh(db)
        rows = list(await session.scalars(select(DeliveryLog).where(DeliveryLog.direction == "inbound")))
        return len(rows) == 4 and all(r.status == "ignored" for r in rows)

    await until(all_handled)
    assert await responders(db) == []


async def test_url_verification_answers_the_challenge(incident: Any) -> None:
    client, _, settings, _, _, _ = incident
    body, headers = slack_request(settings, {"type": "url_verification", "challenge": "abc123"})
    response = await client.post("/integrations/slack/events", content=body, headers=headers)
    assert response.json() == {"challenge": "abc123"}


async def test_web_buttons_ack_and_decline(incident: Any, db: AsyncSession, fake_twilio: FakeServer) -> None:
    from tests.factories import PASSWORD
    from tests.web import login, post_form

    client, team, _, created, _, _ = incident
    page_url = f"/ws/acme/incidents/{created['id']}"
    await login(client, "ann@acme.test", PASSWORD)
    page = await client.get(page_url)
    assert ">Acknowledge</button>" in page.text
    assert ">Decline</button>" in page.text
    declined = await post_form(client, page_url + "/decline", {}, from_page=page_url)
    assert "Declined INC-1" in (await client.get(declined.headers["location"])).text

    async def backup_texted() -> bool:
        return texts_to(fake_twilio, team["ben"].phone) == 1

    await until(backup_texted, seconds=DELAY * SCALE / 2)
    acked = await post_form(client, page_url + "/ack", {}, from_page=page_url)
    assert acked.status_code == 303
    assert await responders(db) == [(team["ann"].id, "web")]


async def test_sms_number_open_in_two_workspaces_asks_which(incident: Any, db: AsyncSession) -> None:
    from app.db.models import Membership
    from app.db.transactions import writing
    from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
    from app.services.incidents import declare_incident

    client, team, settings, _, _, _ = incident
    other = await make_team(db, slug="globex", roles={"boss": Role.OWNER})
    async with writing(db):
        db.add(Membership(workspace_id=other.workspace.id, user_id=team["ann"].id, role="member", is_active=True))
    now = datetime.datetime.now(datetime.UTC)
    schedule = await create_schedule(
        db,
        other.workspace.id,
        {
            "name": "G",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "00:00",
            "starts_at": (now - datetime.timedelta(hours=1)).isoformat(),
            "members": [team["ann"].email],
        },
        now,
    )
    boss = WorkspaceAccess(WorkspaceRef.of(other.workspace), UserRef.of(other["boss"]), Role.OWNER)
    await declare_incident(db, boss, "Globex down", "SEV1", schedule.id, now, SCALE, settings.public_url)
    body, headers = sms_request(settings, {"From": team["ann"].phone, "Body": "ACK 1", "MessageSid": "SMtwo"})
    response = await client.post("/integrations/twilio_sms/", content=body, headers=headers)
    assert "INC-1 is pending in 2 of your workspaces" in response.text
    assert "1A/1D: Acme INC-1 API down" in response.text
    assert "2A/2D: Globex INC-1 Globex down" in response.text
    assert await responders(db) == []
    body2, headers2 = sms_request(settings, {"From": "+19999999999", "Body": "ACK", "MessageSid": "SMunknown"})
    assert (
        "not verified on any account"
        in (await client.post("/integrations/twilio_sms/", content=body2, headers=headers2)).text
    )
