"""Paging in the embedded mode (StubBroker worker in the web process), with the fake Slack and Twilio
driven by the real SDKs. Delays are scaled: a minute of escalation delay lasts 0.05 s here."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import replace
from typing import Any

import dramatiq
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.domain.roles import Role
from app.main import create_app
from app.services.schedules import set_active
from app.services.tokens import issue_token
from tests.factories import make_paging_schedule, make_team
from tests.fakes.servers import FakeServer

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}


@pytest.fixture
async def paging(integration_settings: Settings, db: AsyncSession) -> Any:
    settings = replace(integration_settings, seconds_per_delay_minute=0.05)
    team = await make_team(db, roles=ROLES)
    schedule = await make_paging_schedule(db, team, 20)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client, team, schedule, {"Authorization": f"Bearer {token}"}


async def wait_for(predicate: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds * 20)):
        if predicate():
            return
        await asyncio.sleep(0.05)


async def incident(client: Any, auth: dict[str, str], incident_id: str) -> dict[str, Any]:
    return (await client.get(f"/api/v1/ws/acme/incidents/{incident_id}", headers=auth)).json()  # type: ignore[no-any-return]


async def test_trigger_pages_primary_then_escalates_once(
    paging: Any, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    client, team, schedule, auth = paging
    created = await client.post(
        "/api/v1/ws/acme/incidents",
        json={"title": "API down", "severity": "SEV2", "schedule_id": str(schedule.id)},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["number"] == 1
    assert body["status"] == "triggered"
    assert [(p["user"]["email"], p["step"], p["status"]) for p in body["pages"]] == [(team["ann"].email, 0, "pending")]
    assert [e["kind"] for e in body["timeline"]] == ["declared", "paged", "escalation_scheduled"]
    await wait_for(lambda: len(fake_slack.calls("reactions.add")) == 2 and fake_twilio.calls("/Messages.json"))
    (post, *_) = fake_slack.calls("chat.postMessage")
    assert post.params["channel"] == "C0INCIDENT"
    assert f"<@{team['ann'].slack_user_id}>" in post.params["text"]
    assert {c.params["name"] for c in fake_slack.calls("reactions.add")} == {"white_check_mark", "x"}
    (sms,) = fake_twilio.calls("/Messages.json")
    assert sms.form["To"] == team["ann"].phone
    assert sms.form["Body"].startswith("[Vigilo Acme] INC-1 SEV2 API down (step 1 of 2; next: Ben at ")
    assert sms.form["Body"].endswith("). Reply 1A to acknowledge, 1D to decline.")

    # No ack: after the (scaled) delay the backup is paged, once.
    await wait_for(lambda: len(fake_twilio.calls("/Messages.json")) >= 2, seconds=15)
    await asyncio.sleep(0.5)
    texts = [c.form["To"] for c in fake_twilio.calls("/Messages.json")]
    assert texts.count(team["ben"].phone) == 1
    final = await incident(client, auth, body["id"])
    # The backup's own step lasts a second too: on a busy machine it may have run out by now.
    assert [p["step"] for p in final["pages"]] == [0, 1]
    assert final["pages"][0]["status"] == "escalated"
    assert final["pages"][1]["status"] in {"pending", "escalated"}
    assert [e["message"] for e in final["timeline"] if e["kind"] == "escalated"] == [
        "No acknowledgement within 20 min of step 1 of 2."
    ]


async def test_resolved_incident_never_escalates(paging: Any, fake_twilio: FakeServer) -> None:
    client, team, schedule, auth = paging
    body = (
        await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "Disk", "severity": "SEV3", "schedule_id": str(schedule.id)},
            headers=auth,
        )
    ).json()
    resolved = await client.post(f"/api/v1/ws/acme/incidents/{body['id']}/resolve", headers=auth)
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["pages"][0]["status"] == "cancelled"
    await asyncio.sleep(2.5)
    dramatiq.get_broker().join("paging")  # type: ignore[attr-defined]
    assert [c.form["To"] for c in fake_twilio.calls("/Messages.json")] == [team["ann"].phone]
    final = await incident(client, auth, body["id"])
    assert final["escalation_due_at"] is None
    kinds = [e["kind"] for e in final["timeline"] if not e["kind"].startswith("delivery")]
    assert kinds == ["declared", "paged", "escalation_scheduled", "resolved"], kinds


async def test_no_primary_pages_the_backup_at_once(paging: Any, db: AsyncSession, fake_twilio: FakeServer) -> None:
    client, team, schedule, auth = paging
    await set_active(db, team.workspace.id, schedule.id, False, datetime.datetime.now(datetime.UTC))
    body = (
        await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "DB", "severity": "SEV1", "schedule_id": str(schedule.id)},
            headers=auth,
        )
    ).json()
    assert [(p["user"]["email"], p["step"]) for p in body["pages"]] == [(team["ben"].email, 1)]
    assert "Step 1 of 2: Ops is inactive; skipped." in [e["message"] for e in body["timeline"]]
    await wait_for(lambda: fake_twilio.calls("/Messages.json"))
    assert next(c.form["To"] for c in fake_twilio.calls("/Messages.json")) == team["ben"].phone


async def test_bad_input_names_the_field(paging: Any) -> None:
    client, _, _schedule, auth = paging
    bad = await client.post(
        "/api/v1/ws/acme/incidents", json={"title": "", "severity": "SEV9", "schedule_id": "nope"}, headers=auth
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"title", "severity", "schedule_id"}
