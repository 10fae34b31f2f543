"""Alert sources on both databases: the alert-sources API, and what Alertmanager, Grafana and generic
notifications do to incidents (open, group, re-fire, resolve or note), maintenance, the rate limit
and each bad input."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import AlertGroup, DeliveryLog, Incident, Page, TimelineEntry
from app.domain.roles import Role
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import Team, fresh, make_paging_schedule, make_team

ROLES = {"owner": Role.OWNER, "admin": Role.ADMIN, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}
API = "/api/v1/ws/acme"
SOURCES = API + "/alert-sources"
URL = re.compile(r"^http://testserver\.local(/integrations/alerts/[A-Za-z0-9_-]{16,})$")


def alertmanager(status: str = "firing", alerts: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    alerts = alerts if alerts is not None else [firing("api-1")]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "vigilo",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
        **extra,
    }


def firing(instance: str, status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighLatency", "severity": "critical", "instance": instance},
        "annotations": {},
        "startsAt": "2026-12-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example:9090/graph?g0.expr=latency%7Binstance%3D%22{instance}%22%7D",
        "fingerprint": f"fp-{instance}",
    }


@dataclass
class Api:
    client: AsyncTestClient[Any]
    team: Team
    settings: Settings
    auth: dict[str, str]
    schedule_id: str

    async def source(self, kind: str = "alertmanager", **extra: Any) -> tuple[dict[str, Any], str]:
        body = {"name": f"Prometheus {kind}", "kind": kind, "schedule_id": self.schedule_id, **extra}
        created = await self.client.post(SOURCES, json=body, headers=self.auth)
        assert created.status_code == 201, created.text
        data = created.json()
        match = URL.match(data["url"])
        assert match, data["url"]
        return data, match.group(1)

    async def send(self, path: str, body: Any, status: int = 202) -> dict[str, Any]:
        answer = await self.client.post(path, json=body)
        assert answer.status_code == status, answer.text
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
async def api(integration_settings: Settings, db: AsyncSession) -> AsyncIterator[Api]:
    team = await make_team(db, "acme", ROLES)
    schedule = await make_paging_schedule(db, team, delay_minutes=15)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(integration_settings)) as client:
        yield Api(client, team, integration_settings, {"Authorization": f"Bearer {token}"}, str(schedule.id))


async def incidents(db: AsyncSession) -> list[Incident]:
    session = await fresh(db)
    found = list(await session.scalars(select(Incident).order_by(Incident.number)))
    await session.commit()
    return found


async def timeline(db: AsyncSession, incident: Incident) -> list[str]:
    session = await fresh(db)
    found = list(
        await session.scalars(
            select(TimelineEntry.message).where(TimelineEntry.incident_id == incident.id).order_by(TimelineEntry.at)
        )
    )
    await session.commit()
    return found


async def test_a_group_opens_one_incident_adds_to_it_and_resolves_it(api: Api, db: AsyncSession) -> None:
    _, path = await api.source()
    opened = await api.send(path, alertmanager())
    assert opened["outcome"] == "opened INC-1"
    [incident] = await incidents(db)
    assert incident.severity == "SEV1"  # critical → SEV1 by the default map
    assert incident.title == "HighLatency"
    session = await fresh(db)
    pages = list(await session.scalars(select(Page).where(Page.incident_id == incident.id)))
    await session.commit()
    assert [p.user_id for p in pages] == [api.team["ann"].id]

    second = await api.send(path, alertmanager(alerts=[firing("api-1"), firing("api-2")]))
    assert second["outcome"].startswith("added to INC-1: 2 alerts firing; new: HighLatency (instance=api-2)")
    same = await api.send(path, alertmanager(alerts=[firing("api-1"), firing("api-2")]))
    assert same["outcome"] == "added to INC-1: 2 alerts firing, no change"
    assert len(await incidents(db)) == 1

    resolved = await api.send(
        path, alertmanager("resolved", alerts=[firing("api-1", "resolved"), firing("api-2", "resolved")])
    )
    assert resolved["outcome"] == "resolved INC-1"
    [incident] = await incidents(db)
    assert incident.status == "resolved"
    notes = await timeline(db, incident)
    assert any("opened INC-1 (SEV1) on Ops" in n for n in notes), notes
    assert any("new: HighLatency (instance=api-2)" in n for n in notes), notes

    again = await api.send(path, alertmanager())
    assert again["outcome"] == "opened INC-2"


async def test_bad_input(api: Api, db: AsyncSession) -> None:
    _, path = await api.source()
    assert (await api.client.post("/integrations/alerts/nope-not-a-token", json=alertmanager())).status_code == 404
    bad = await api.client.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400, bad.text
    wrong = copy.deepcopy(alertmanager())
    wrong["alerts"][0]["labels"] = ["x"]
    answer = await api.client.post(path, json=wrong)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "alerts[0].labels"
    big = await api.client.post(path, content=b"[" + b" " * (1024 * 1024) + b"]", headers={"content-type": "application/json"})
    assert big.status_code == 413, big.text
    assert await incidents(db) == []
