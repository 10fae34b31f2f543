"""The pager watching itself, with real processes: a `vigilo serve` and `vigilo worker` on PostgreSQL
and a private Redis (tests/processes.py). /healthz/engine turns 503 when the worker is killed and the
tick stops, and 200 when a worker is back; /metrics on the web process counts a page the worker sent
(the processes share their metrics through PROMETHEUS_MULTIPROC_DIR); a heartbeat monitor whose pings
stop opens one incident through the worker's tick, and a ping resolves it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Incident, Page
from app.domain.roles import Role
from app.services.tokens import issue_token
from tests.factories import fresh, make_paging_schedule, make_team
from tests.fakes.servers import FakeServer
from tests.integration.test_paging_workers import eventually, texts_to
from tests.processes import SCALE, TICK_SECONDS, Stack

pytestmark = pytest.mark.slow
STEP = 600  # minutes: a minute here, so the backup is never paged while a test runs


async def engine(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    answer = await client.get("/healthz/engine")
    return answer.status_code, answer.json()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus exposition (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


async def until(check: Callable[[], Awaitable[bool]], stack: Stack, seconds: float = 20) -> None:
    try:
        await eventually(check, seconds=seconds)
    except AssertionError:
        log = stack.log.read_text(errors="replace")[-3000:] if stack.log.exists() else ""
        raise AssertionError(f"processes log:\n{log}") from None


async def test_the_engine_is_failing_while_no_worker_ticks_and_well_when_one_is_back(
    stack: Stack, db: AsyncSession
) -> None:
    web = stack.start_web()
    async with httpx.AsyncClient(base_url=web, timeout=10) as client:

        async def healthy() -> bool:
            return (await engine(client))[0] == 200

        await until(healthy, stack)
        _, body = await engine(client)
        assert body["status"] == "ok" and body["troubles"] == []
        assert body["workers"]["required"] is True and body["workers"]["seen_last_minute"] >= 1
        assert body["redis"] == {"ok": True} and body["database"] == {"ok": True}
        assert body["tick"]["age_seconds"] <= 3 * TICK_SECONDS

        stack.kill_workers()  # kill -9: the tick stops with it

        async def failing() -> bool:
            return (await engine(client))[0] == 503

        await until(failing, stack, seconds=3 * TICK_SECONDS + 10)
        _, body = await engine(client)
        assert body["status"] == "failing"
        [trouble] = body["troubles"]
        assert trouble["check"] == "tick", body
        assert trouble["message"].startswith("The periodic tick has not run for "), trouble
        assert body["tick"]["age_seconds"] > 3 * TICK_SECONDS

        stack.start_worker()
        await until(healthy, stack, seconds=30)


async def test_metrics_count_a_page_the_worker_sent(
    stack: Stack, db: AsyncSession, fake_twilio: FakeServer, fake_slack: FakeServer
) -> None:
    team = await make_team(db, "acme", {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, STEP)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    web = stack.start_web()
    async with httpx.AsyncClient(base_url=web, timeout=10) as client:
        before = (await client.get("/metrics")).text
        declared = await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "Checkout down", "severity": "SEV1", "schedule_id": str(schedule.id)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert declared.status_code == 201, declared.text

        async def texted() -> bool:
            return texts_to(fake_twilio, team["ann"].phone or "") == 1

        await until(texted, stack)

        async def counted() -> bool:  # the SMS counted, and a tick run since (pages now leave before one)
            text = (await client.get("/metrics")).text
            ticks = sample(text, "vigilo_tick_duration_seconds_count") > sample(
                before, "vigilo_tick_duration_seconds_count"
            )
            return ticks and sample(text, "vigilo_deliveries_total", channel="sms", outcome="sent") >= 1

        await until(counted, stack, seconds=10)
        after = (await client.get("/metrics")).text
    # Sent by the worker process, counted by the web process's /metrics: one SMS more, its latency seen.
    sent = ("vigilo_deliveries_total", {"channel": "sms", "outcome": "sent"})
    assert sample(after, sent[0], **sent[1]) - sample(before, sent[0], **sent[1]) == 1
    latency = ("vigilo_delivery_latency_seconds_count", {"channel": "sms"})
    assert sample(after, latency[0], **latency[1]) - sample(before, latency[0], **latency[1]) == 1
    assert sample(after, "vigilo_tick_duration_seconds_count") > sample(before, "vigilo_tick_duration_seconds_count")
    declared_path = {"path": "/api/v1/ws/{slug}/incidents", "method": "POST", "status_code": "201"}
    assert sample(after, "vigilo_http_requests_total", **declared_path) == 1, [
        line for line in after.splitlines() if line.startswith("vigilo_http_requests_total")
    ]
    assert sample(after, "vigilo_engine_healthy") == 1


async def test_a_missed_heartbeat_opens_one_incident_through_the_worker_and_a_ping_resolves_it(
    stack: Stack, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    team = await make_team(db, "acme", {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, STEP)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    web = stack.start_web()
    interval = 20  # minutes: 2 s at SCALE
    async with httpx.AsyncClient(base_url=web, timeout=10) as client:
        created = await client.post(
            "/api/v1/ws/acme/heartbeats",
            json={"name": "Nightly backup", "interval_minutes": interval, "schedule_id": str(schedule.id)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        ping = httpx.URL(created.json()["ping_url"]).path

        async def opened() -> bool:
            session = await fresh(db)
            found = list(await session.scalars(select(Incident)))
            await session.commit()
            return len(found) == 1

        await until(opened, stack, seconds=interval * SCALE + 10)

        async def paged() -> bool:
            return texts_to(fake_twilio, team["ann"].phone or "") == 1

        await until(paged, stack)
        await asyncio.sleep(3 * TICK_SECONDS)  # missed for three more ticks: still the one incident
        session = await fresh(db)
        [incident] = list(await session.scalars(select(Incident)))
        assert incident.title == "Heartbeat missed: Nightly backup" and incident.status == "triggered"
        await session.commit()

        answer = await client.post(ping)
        assert answer.json() == {"ok": True, "monitor": "Nightly backup", "resolved": f"INC-{incident.number}"}
    session = await fresh(db)
    assert (await session.get_one(Incident, incident.id)).status == "resolved"
    pages = list(await session.scalars(select(Page.status).where(Page.incident_id == incident.id)))
    assert pages == ["cancelled"]
    await session.commit()
