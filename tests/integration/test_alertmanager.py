"""A real client: Debian's `prometheus-alertmanager` (tests/alertmanager.py) with one webhook receiver
pointing at a `vigilo serve` process, alerts posted to Alertmanager's own API, and a `vigilo worker`
process paging through the fake Slack and Twilio (tests/processes.py), on PostgreSQL and a private
Redis. Alertmanager groups by alertname and waits one second before it sends, so the incident opens,
pages the primary, takes a second alert of the group without a second incident, and resolves once
the alerts end, in seconds."""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AlertGroup, DeliveryLog
from app.domain.roles import Role
from app.services.tokens import issue_token
from tests.alertmanager import Alertmanager, alert, binary
from tests.factories import fresh, make_paging_schedule, make_team
from tests.fakes.servers import FakeServer
from tests.integration.test_alert_sources import incidents, timeline
from tests.integration.test_paging_workers import eventually, texts_to
from tests.processes import Stack

pytestmark = pytest.mark.slow
STEP = 600  # minutes: a minute here, so Ben is never paged while the test runs
LABELS = {"alertname": "HighLatency", "severity": "critical", "job": "checkout"}
SUMMARY = "Checkout latency above 2 s"


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Callable[[str], Alertmanager]]:
    """Starts an Alertmanager whose receiver posts to the given URL; skipped where the binary is
    missing (failed under CI, which must run it); whatever it started is killed at teardown."""
    binary()
    started: list[Alertmanager] = []

    def start(webhook_url: str) -> Alertmanager:
        manager = Alertmanager(tmp_path, webhook_url)
        started.append(manager)
        manager.start()
        return manager

    yield start
    for manager in started:
        manager.stop()


def instance(name: str, starts_at: datetime.datetime, ended: bool = False) -> dict[str, Any]:
    return alert(
        {**LABELS, "instance": name},
        starts_at,
        {"summary": SUMMARY},
        ended=ended,
        generator_url=f"http://prometheus.example:9090/graph?g0.expr=latency%7Binstance%3D%22{name}%22%7D",
    )


async def alert_rows(db: AsyncSession) -> list[DeliveryLog]:
    session = await fresh(db)
    found = list(
        await session.scalars(select(DeliveryLog).where(DeliveryLog.channel == "alert").order_by(DeliveryLog.at))
    )
    await session.commit()
    return found


async def until(check: Callable[[], Awaitable[bool]], db: AsyncSession, stack: Stack, manager: Alertmanager) -> None:
    """`eventually`, saying on failure what the rows, Alertmanager and the processes show."""
    try:
        await eventually(check, seconds=15)
    except AssertionError:
        rows = [(r.status, r.error) for r in await alert_rows(db)]
        found = [(i.number, i.status, i.title) for i in await incidents(db)]
        log = stack.log.read_text(errors="replace")[-3000:] if stack.log.exists() else ""
        raise AssertionError(
            f"alert rows {rows}\nincidents {found}\nalertmanager holds {manager.alerts()}\n"
            f"alertmanager log:\n{manager.tail()}\nprocesses log:\n{log}"
        ) from None


async def test_alertmanager_opens_pages_groups_and_resolves_one_incident(
    stack: Stack,
    db: AsyncSession,
    fake_slack: FakeServer,
    fake_twilio: FakeServer,
    alertmanager: Callable[[str], Alertmanager],
) -> None:
    team = await make_team(db, "acme", {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, STEP)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    web = stack.start_web()
    async with httpx.AsyncClient(timeout=10) as client:
        created = await client.post(
            f"{web}/api/v1/ws/acme/alert-sources",
            json={"name": "Prometheus", "kind": "alertmanager", "schedule_id": str(schedule.id)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert created.status_code == 201, created.text
    # The URL is on the public URL; Alertmanager reaches the web process at its own address.
    manager = alertmanager(web + urllib.parse.urlsplit(created.json()["url"]).path)
    ann, ben = team["ann"], team["ben"]
    started = datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    # The first alert: after group_wait, one incident, and the primary paged.
    manager.post(instance("api-1", started))

    async def paged() -> bool:
        return texts_to(fake_twilio, ann.phone or "") == 1

    await until(paged, db, stack, manager)
    [incident] = await incidents(db)
    assert (incident.title, incident.severity, incident.status) == (SUMMARY, "SEV1", "triggered")  # critical → SEV1
    [sms] = [c for c in fake_twilio.calls("/Messages.json") if c.form.get("To") == ann.phone]
    assert SUMMARY in sms.form["Body"], sms.form
    assert any(f"<@{ann.slack_user_id}>" in c.params.get("text", "") for c in fake_slack.calls("chat.postMessage"))

    # A second alert of the group (another instance): added to the same incident.
    manager.post(instance("api-2", started + datetime.timedelta(seconds=5)))

    async def added() -> bool:
        return len(await alert_rows(db)) >= 2

    await until(added, db, stack, manager)
    [same] = await incidents(db)
    assert same.id == incident.id and same.status == "triggered"
    notes = await timeline(db, incident)
    assert any("new: HighLatency (instance=api-2)" in n for n in notes), "\n".join(notes)

    # Both end: Alertmanager sends the group resolved, and the incident resolves.
    manager.post(instance("api-1", started, ended=True), instance("api-2", started, ended=True))

    async def resolved() -> bool:
        return [i.status for i in await incidents(db)] == ["resolved"]

    await until(resolved, db, stack, manager)
    notes = await timeline(db, incident)
    assert any(n.startswith("Prometheus (Alertmanager) opened INC-1 (SEV1) on Ops") for n in notes), "\n".join(notes)
    assert "1 alert firing: HighLatency." in notes, "\n".join(notes)
    assert "Prometheus (Alertmanager): 2 alerts firing; new: HighLatency (instance=api-2)." in notes, "\n".join(notes)
    closing = "Prometheus (Alertmanager) resolved INC-1: every alert of the group resolved. 1 pending page cancelled."
    assert closing in notes, "\n".join(notes)  # Ann's page, unacknowledged, escalates no more

    # Each notification Alertmanager sent is one row, naming what it did to INC-1.
    rows = await alert_rows(db)
    assert [(r.direction, r.status, r.incident_id) for r in rows] == [("inbound", "processed", incident.id)] * 3
    assert [r.error for r in rows] == [
        "opened INC-1",
        "added to INC-1: 2 alerts firing; new: HighLatency (instance=api-2)",
        "resolved INC-1",
    ]
    session = await fresh(db)
    group = await session.scalar(select(AlertGroup).where(AlertGroup.incident_id == incident.id))
    assert group is not None
    assert group.group_key == '{}:{alertname="HighLatency"}' and not group.is_open
    assert group.links[0] == ["Alertmanager", manager.url]
    assert ["HighLatency (instance=api-2)", instance("api-2", started)["generatorURL"]] in group.links
    await session.commit()
    # Paged once, for the one incident; the backup never.
    assert (texts_to(fake_twilio, ann.phone or ""), texts_to(fake_twilio, ben.phone or "")) == (1, 0)
