"""The PagerDuty bridge on both databases, through the real `pagerduty` client and a fake PagerDuty
on 127.0.0.1: connect (API and Settings → Integrations), a schedule that pages through PagerDuty,
the Events API v2 trigger/acknowledge/resolve as delivery rows, and PagerDuty's signed v3 webhooks
coming back (acknowledged, resolved) without echo. The embedded worker sends; delays are scaled."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog, IncidentResponder, TimelineEntry
from app.domain.roles import Role
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import Team, fresh, make_paging_schedule, make_team
from tests.fakes.servers import FakeServer, pagerduty_webhook, signed_pagerduty_post
from tests.integration.test_acks import until

SCALE = 0.05
STEP = 400  # minutes: twenty seconds here, longer than any test waits
ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}
ROUTING_KEY = "R0UTINGKEY" + "a" * 22
SECRET = "whsec-test-signing-secret"
API_KEY = "u+RESTAPIKEYxxxxxxxx"


@dataclass
class Bridge:
    client: AsyncTestClient[Any]
    team: Team
    settings: Settings
    schedule: Any
    auth: dict[str, str]
    db: AsyncSession
    pd: FakeServer
    slack: FakeServer
    service: dict[str, Any]

    @property
    def webhook_path(self) -> str:
        return "/" + str(self.service["webhook_url"]).split("/", 3)[3]

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        found = [c.json for c in self.pd.calls("/v2/enqueue")]
        return [e for e in found if action is None or e["event_action"] == action]

    async def declare(self, title: str = "Checkout failing", severity: str = "SEV1") -> Any:
        created = await self.client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": title, "severity": severity, "schedule_id": str(self.schedule.id)},
            headers=self.auth,
        )
        assert created.status_code == 201, created.text
        return created.json()

    async def incident(self, incident_id: str) -> Any:
        return (await self.client.get(f"/api/v1/ws/acme/incidents/{incident_id}", headers=self.auth)).json()

    async def webhook(self, body: dict[str, Any], secrets: list[str] | None = None) -> Any:
        raw, headers = signed_pagerduty_post(secrets or [SECRET], body)
        return await self.client.post(self.webhook_path, content=raw, headers=headers)


async def wait_for(check: Callable[[], bool], seconds: float = 10) -> None:
    async def wrapped() -> bool:
        return check()

    await until(wrapped, seconds)


async def timeline(db: AsyncSession) -> list[str]:
    session = await fresh(db)
    return [e.message for e in await session.scalars(select(TimelineEntry).order_by(TimelineEntry.id))]


Start = Callable[..., Awaitable[Bridge]]


@pytest.fixture
async def start(
    integration_settings: Settings, db: AsyncSession, fake_pagerduty: FakeServer, fake_slack: FakeServer
) -> AsyncIterator[Start]:
    async with contextlib.AsyncExitStack() as stack:

        async def start_app(api_key: str | None = API_KEY, **changes: Any) -> Bridge:
            settings = replace(integration_settings, seconds_per_delay_minute=SCALE, **changes)
            team = await make_team(db, "acme", ROLES)
            schedule = await make_paging_schedule(db, team, STEP)
            token = await issue_token(db, team.workspace.id, team["owner"].id)
            auth = {"Authorization": f"Bearer {token}"}
            client = await stack.enter_async_context(AsyncTestClient(app=create_app(settings)))
            body = {"label": "Payments PD", "routing_key": ROUTING_KEY, "signing_secret": SECRET}
            if api_key:
                body["api_key"] = api_key
            created = await client.post("/api/v1/ws/acme/pagerduty-services", json=body, headers=auth)
            assert created.status_code == 201, created.text
            policy = await client.post(
                "/api/v1/ws/acme/escalation-policies",
                json={
                    "name": "Through PagerDuty",
                    "steps": [{"delay_minutes": STEP, "targets": [{"pagerduty_service_id": created.json()["id"]}]}],
                },
                headers=auth,
            )
            assert policy.status_code == 201, policy.text
            changed = await client.patch(
                f"/api/v1/ws/acme/schedules/{schedule.id}",
                json={"escalation_policy_id": policy.json()["id"]},
                headers=auth,
            )
            assert changed.status_code == 200, changed.text
            return Bridge(client, team, settings, schedule, auth, db, fake_pagerduty, fake_slack, created.json())

        yield start_app


async def test_a_page_through_pagerduty_triggers_and_an_ack_there_comes_back(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    bridge.pd.directory["PANN1"] = bridge.team["ann"].email
    created = await bridge.declare()
    await wait_for(lambda: len(bridge.events("trigger")) == 1)
    trigger = bridge.events("trigger")[0]
    assert trigger["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] == created["id"]
    assert trigger["payload"]["summary"] == "INC-1 Checkout failing"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "acme"
    assert trigger["payload"]["custom_details"]["schedule"] == "Ops"
    assert trigger["payload"]["custom_details"]["on_call_in_vigilo"] == bridge.team["ann"].display_name
    assert trigger["links"][0]["href"].endswith(f"/ws/acme/incidents/{created['id']}")
    state = await bridge.incident(created["id"])
    assert [(p["user"], p["pagerduty_service"]["label"], p["status"]) for p in state["pages"]] == [
        (None, "Payments PD", "pending")
    ]
    await wait_for(lambda: len(bridge.slack.calls("chat.postMessage")) >= 1)
    assert "paging through PagerDuty" in bridge.slack.calls("chat.postMessage")[0].params["text"]
    assert bridge.slack.calls("conversations.open") == []  # no DM of Vigilo's own

    answer = await bridge.webhook(pagerduty_webhook("incident.acknowledged", created["id"], "PANN1", "Ann"))
    assert answer.status_code == 202, answer.text

    async def acked() -> bool:
        return bool((await bridge.incident(created["id"]))["status"] == "acknowledged")

    await until(acked)
    session = await fresh(db)
    responders = [(r.user_id, r.source) for r in await session.scalars(select(IncidentResponder))]
    assert responders == [(bridge.team["ann"].id, "pagerduty")]
    await wait_for(
        lambda: any("acknowledged INC-1" in c.params.get("text", "") for c in bridge.slack.calls("chat.postMessage"))
    )
    assert bridge.events("acknowledge") == []  # no echo

    resolved = await bridge.client.post(f"/api/v1/ws/acme/incidents/{created['id']}/resolve", headers=bridge.auth)
    assert resolved.status_code == 200, resolved.text
    await wait_for(lambda: len(bridge.events("resolve")) == 1)
    assert bridge.events("resolve")[0]["dedup_key"] == created["id"]


async def test_a_forged_or_replayed_webhook_changes_nothing(start: Start, db: AsyncSession) -> None:
    bridge = await start()
    created = await bridge.declare()
    body = pagerduty_webhook("incident.resolved", created["id"])
    forged = await bridge.webhook(body, ["not-the-secret"])
    assert forged.status_code == 401
    assert (await bridge.incident(created["id"]))["status"] == "triggered"
    rotated = await bridge.webhook(body, ["old-secret", SECRET])
    assert rotated.status_code == 202

    async def resolved() -> bool:
        return bool((await bridge.incident(created["id"]))["status"] == "resolved")

    await until(resolved)
    replay = await bridge.webhook(body)
    assert replay.status_code == 202 and replay.json()["duplicate"] is True
    unknown = await bridge.client.post("/integrations/pagerduty/nope", content=b"{}")
    assert unknown.status_code == 404
    session = await fresh(db)
    rejected = list(
        await session.scalars(
            select(DeliveryLog).where(DeliveryLog.channel == "pagerduty", DeliveryLog.status == "rejected")
        )
    )
    assert len(rejected) == 1
    assert bridge.events("resolve") == []  # the resolve came from PagerDuty: not sent back
    assert sum("resolved INC-1" in m for m in await timeline(db)) == 1
