"""The PagerDuty bridge with production parts: PostgreSQL, a private Redis and a `vigilo worker`
process (tests/processes.py), which reaches the fake PagerDuty through the real `pagerduty` client
because the Stack hands it VIGILO_PAGERDUTY_EVENTS_URL and VIGILO_PAGERDUTY_API_URL. The web side is
an AsyncTestClient on create_app(stack.settings): on Redis it only verifies, records and enqueues.
Delays are scaled (0.1 s a minute)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, Incident, IncidentResponder
from app.domain.roles import Role
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import Team, fresh, make_paging_schedule, make_team
from tests.fakes.servers import Failure, FakeServer, pagerduty_webhook, signed_pagerduty_post
from tests.integration.test_paging_workers import eventually
from tests.processes import Stack

pytestmark = pytest.mark.slow
STEP = 100  # minutes: ten seconds here, longer than the ack takes
ROUTING_KEY = "R0UTINGKEY" + "b" * 22
SECRET = "whsec-worker-signing-secret"
API_KEY = "u+WORKERRESTKEYxxxxx"


@dataclass
class Connected:
    client: AsyncTestClient[Any]
    team: Team
    auth: dict[str, str]
    service: dict[str, Any]
    pd: FakeServer

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        found = [c.json for c in self.pd.calls("/v2/enqueue")]
        return [e for e in found if action is None or e["event_action"] == action]

    async def declare(self, schedule_id: Any) -> dict[str, Any]:
        created = await self.client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "Checkout failing", "severity": "SEV1", "schedule_id": str(schedule_id)},
            headers=self.auth,
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body


@asynccontextmanager
async def connected(stack: Stack, db: AsyncSession, pd: FakeServer) -> AsyncIterator[tuple[Connected, Any]]:
    """acme with a PagerDuty connection (REST key included) that its schedule's only step pages."""
    team = await make_team(db, "acme", {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, STEP)
    auth = {"Authorization": f"Bearer {await issue_token(db, team.workspace.id, team['owner'].id)}"}
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        created = await client.post(
            "/api/v1/ws/acme/pagerduty-services",
            json={"label": "Payments PD", "routing_key": ROUTING_KEY, "signing_secret": SECRET, "api_key": API_KEY},
            headers=auth,
        )
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
        yield Connected(client, team, auth, created.json(), pd), schedule


async def until(check: Callable[[], Awaitable[bool]], stack: Stack, db: AsyncSession, pd: FakeServer) -> None:
    """`eventually`, saying on failure what the rows, the fake and the processes' log show."""
    try:
        await eventually(check)
    except AssertionError:
        session = await fresh(db)
        rows = await session.scalars(select(DeliveryLog).where(DeliveryLog.channel == "pagerduty"))
        found = [(r.direction, r.status, r.attempts, r.error) for r in rows]
        calls = [(c.method, c.path) for c in pd.requests]
        log = stack.log.read_text(errors="replace")[-3000:] if stack.log.exists() else ""
        raise AssertionError(f"rows {found}\ncalls {calls}\nlog:\n{log}") from None


async def outbound_rows(db: AsyncSession) -> list[DeliveryLog]:
    session = await fresh(db)
    query = select(DeliveryLog).where(DeliveryLog.channel == "pagerduty", DeliveryLog.direction == "outbound")
    return list(await session.scalars(query.order_by(DeliveryLog.at)))


async def test_trigger_ack_in_pagerduty_and_resolve_through_worker_processes(
    stack: Stack, db: AsyncSession, fake_pagerduty: FakeServer
) -> None:
    async with connected(stack, db, fake_pagerduty) as (bridge, schedule):
        fake_pagerduty.directory["PANN1"] = bridge.team["ann"].email
        created = await bridge.declare(schedule.id)

        async def triggered() -> bool:
            return len(bridge.events("trigger")) == 1

        await until(triggered, stack, db, fake_pagerduty)
        assert bridge.events("trigger")[0]["dedup_key"] == created["id"]
        assert bridge.events("trigger")[0]["routing_key"] == ROUTING_KEY

        body = pagerduty_webhook("incident.acknowledged", created["id"], "PANN1", "Ann")
        raw, headers = signed_pagerduty_post([SECRET], body)
        path = "/" + bridge.service["webhook_url"].split("/", 3)[3]
        answer = await bridge.client.post(path, content=raw, headers=headers)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"ok": True, "duplicate": False}

        async def acknowledged() -> bool:
            session = await fresh(db)
            incident = await session.get_one(Incident, uuid.UUID(created["id"]))
            return incident.status == "acknowledged"

        await until(acknowledged, stack, db, fake_pagerduty)
        session = await fresh(db)
        assert [(r.user_id, r.source) for r in await session.scalars(select(IncidentResponder))] == [
            (bridge.team["ann"].id, "pagerduty")
        ]
        row = await session.scalar(
            select(DeliveryLog).where(DeliveryLog.channel == "pagerduty", DeliveryLog.direction == "inbound")
        )
        assert row is not None and (row.status, row.error) == ("processed", "Acknowledged INC-1.")
        lookups = [c for c in fake_pagerduty.requests if c.method == "GET"]
        assert [c.path for c in lookups] == ["/users/PANN1"]  # by the worker process, with the REST key
        assert lookups[0].headers["authorization"] == f"Token token={API_KEY}"
        await asyncio.sleep(1.5)  # time for an echo to show, were there one
        assert bridge.events("acknowledge") == []

        resolved = await bridge.client.post(f"/api/v1/ws/acme/incidents/{created['id']}/resolve", headers=bridge.auth)
        assert resolved.status_code == 200, resolved.text

        async def resolve_sent() -> bool:
            return len(bridge.events("resolve")) == 1

        await until(resolve_sent, stack, db, fake_pagerduty)
        assert bridge.events("resolve")[0]["dedup_key"] == created["id"]
        await asyncio.sleep(1.5)
        assert [e["event_action"] for e in bridge.events()] == ["trigger", "resolve"]
        assert [(r.status, r.attempts) for r in await outbound_rows(db)] == [("sent", 1), ("sent", 1)]


async def test_a_rate_limited_trigger_is_sent_again_after_retry_after(
    stack: Stack, db: AsyncSession, fake_pagerduty: FakeServer
) -> None:
    def enqueue(request: Any) -> bool:
        return bool(request.path == "/v2/enqueue")

    fake_pagerduty.fail_next(
        Failure(
            429,
            '{"status": "throttle event", "message": "Requests for this service are arriving too quickly."}',
            {"Retry-After": "1", "Content-Type": "application/json"},
            when=enqueue,
        )
    )
    async with connected(stack, db, fake_pagerduty) as (bridge, schedule):
        await bridge.declare(schedule.id)

        async def sent() -> bool:
            rows = await outbound_rows(db)
            return len(rows) == 1 and rows[0].status == "sent"

        await until(sent, stack, db, fake_pagerduty)
        await asyncio.sleep(1.5)  # room for a third POST, were there one
        posts = fake_pagerduty.calls("/v2/enqueue")
        assert [p.json["event_action"] for p in posts] == ["trigger", "trigger"]
        assert posts[1].at - posts[0].at >= 0.9  # Retry-After was honoured
        (row,) = await outbound_rows(db)
        assert (row.status, row.attempts) == ("sent", 2)
