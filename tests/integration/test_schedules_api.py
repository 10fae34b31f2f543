"""The schedules API on both databases: the contract, the roles, and bad input that changes nothing."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import OnCallSchedule, OnCallSlot
from app.domain.roles import Role
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import Team, make_team

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.ADMIN, "vic": Role.VIEWER}


def body(team: Team, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Platform — primary",
        "rotation": "weekly",
        "timezone": "Europe/Berlin",
        "handoff_time": "09:00",
        "handoff_weekday": 0,
        "members": [team["ann"].email, team["ben"].email, team["cat"].email],
        "escalation_to": team["owner"].email,
        **extra,
    }


@pytest.fixture
async def api(settings: Settings, db: AsyncSession) -> Any:
    team = await make_team(db, roles=ROLES)
    tokens = {key: await issue_token(db, team.workspace.id, team[key].id) for key in ("owner", "ann", "vic")}
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client, team, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}


async def test_create_read_and_who_is_on_call(api: Any) -> None:
    client, team, auth = api
    created = await client.post("/api/v1/ws/acme/schedules", json=body(team), headers=auth["owner"])
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["id"]
    assert [m["email"] for m in schedule["members"]] == [team[k].email for k in ("ann", "ben", "cat")]
    assert schedule["escalation_to"]["email"] == team["owner"].email
    assert schedule["escalation_delay_minutes"] == 15

    listed = await client.get("/api/v1/ws/acme/schedules", headers=auth["vic"])
    assert [s["id"] for s in listed.json()] == [schedule["id"]]

    oncall = (await client.get(f"/api/v1/ws/acme/schedules/{schedule['id']}/oncall", headers=auth["vic"])).json()
    assert oncall["primary"]["email"] == team["ann"].email
    assert oncall["schedule"] == {"id": schedule["id"], "name": "Platform — primary", "is_active": True}
    assert oncall["escalation_to"]["email"] == team["owner"].email
    start = datetime.datetime.fromisoformat(oncall["slot"]["start"])
    assert start.utcoffset() == datetime.timedelta(0)

    every = (await client.get("/api/v1/ws/acme/oncall", headers=auth["ann"])).json()
    assert [s["primary"]["email"] for s in every["schedules"]] == [team["ann"].email]

    window_start = datetime.datetime.now(datetime.UTC)
    window_end = window_start + datetime.timedelta(weeks=8)
    slots = await client.get(
        f"/api/v1/ws/acme/schedules/{schedule['id']}/slots",
        params={"start": window_start.isoformat(), "end": window_end.isoformat()},
        headers=auth["vic"],
    )
    assert slots.status_code == 200
    rows = slots.json()
    assert len(rows) in {8, 9}
    assert [r["user"]["email"] for r in rows[:4]] == [team[k].email for k in ("ann", "ben", "cat", "ann")]
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(rows))


async def test_patch_extend_regenerate_and_delete(api: Any, db: AsyncSession) -> None:
    client, team, auth = api
    schedule = (await client.post("/api/v1/ws/acme/schedules", json=body(team), headers=auth["owner"])).json()
    url = f"/api/v1/ws/acme/schedules/{schedule['id']}"
    unchanged = await client.post(url + "/regenerate", json={}, headers=auth["owner"])
    assert unchanged.json() == {"slots_written": 0}
    patched = await client.patch(
        url, json={"members": [team["ben"].email], "escalation_delay_minutes": 30}, headers=auth["owner"]
    )
    assert patched.status_code == 200, patched.text
    assert [m["email"] for m in patched.json()["members"]] == [team["ben"].email]
    assert patched.json()["escalation_delay_minutes"] == 30
    assert (await client.post(url + "/extend", headers=auth["owner"])).json() == {"slots_written": 0}
    # The edit waits for the next boundary; "regenerate from here" applies it to the current slot too.
    assert (await client.get(url + "/oncall", headers=auth["owner"])).json()["primary"]["email"] == team["ann"].email
    regenerated = await client.post(url + "/regenerate", json={}, headers=auth["owner"])
    assert regenerated.json() == {"slots_written": 1}
    assert (await client.get(url + "/oncall", headers=auth["owner"])).json()["primary"]["email"] == team["ben"].email
    deleted = await client.delete(url, headers=auth["owner"])
    assert deleted.status_code == 204
    assert (await client.get(url, headers=auth["owner"])).status_code == 404
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(OnCallSlot)) == 0


async def test_viewers_and_members_cannot_write(api: Any) -> None:
    client, team, auth = api
    for who in ("vic", "ann"):
        response = await client.post("/api/v1/ws/acme/schedules", json=body(team), headers=auth[who])
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"handoff_time": "9:00am"}, "handoff_time"),
        ({"handoff_weekday": 7}, "handoff_weekday"),
        ({"members": []}, "members"),
        ({"members": ["vic@acme.test"]}, "members"),
        ({"members": ["stranger@else.test"]}, "members"),
        ({"escalation_to": "vic@acme.test"}, "escalation_to"),
        ({"escalation_delay_minutes": 0}, "escalation_delay_minutes"),
        ({"escalation_delay_minutes": 1441}, "escalation_delay_minutes"),
        ({"rotation": "custom"}, "shift_hours"),
        ({"rotation": "custom", "shift_hours": 12, "shift_days": 2}, "shift_hours"),
        ({"rotation": "hourly"}, "rotation"),
        ({"starts_at": "2026-13-01T09:00"}, "starts_at"),
        ({"starts_at": "2026-12-01T09:00"}, "starts_at"),
    ],
)
async def test_bad_fields_are_422_naming_the_field(
    api: Any, db: AsyncSession, changes: dict[str, Any], field: str
) -> None:
    client, team, auth = api
    response = await client.post("/api/v1/ws/acme/schedules", json=body(team, **changes), headers=auth["owner"])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(OnCallSchedule)) == 0


async def test_windows_and_ids(api: Any) -> None:
    client, team, auth = api
    schedule = (await client.post("/api/v1/ws/acme/schedules", json=body(team), headers=auth["owner"])).json()
    url = f"/api/v1/ws/acme/schedules/{schedule['id']}"
    backwards = await client.get(
        url + "/slots", params={"start": "2026-12-10T00:00:00Z", "end": "2026-12-01T00:00:00Z"}, headers=auth["vic"]
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "end"
    assert (await client.get(url + "/oncall", params={"at": "yesterday"}, headers=auth["vic"])).status_code == 422
    history = await client.post(url + "/regenerate", json={"from": "2020-01-01T00:00:00Z"}, headers=auth["owner"])
    assert history.status_code == 422
    assert history.json()["errors"][0]["field"] == "from"
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        assert (await client.get(f"/api/v1/ws/acme/schedules/{bad}", headers=auth["vic"])).status_code == 404
