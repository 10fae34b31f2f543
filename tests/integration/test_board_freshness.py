"""Who's up and the "Currently on call" highlight are served from what a web process already built,
and never stale: the board version moves in the transaction of every change that can alter the board
(on both databases), a change shows at once, and a hand-off passing shows at once without any write —
in one process, and through two web processes on PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime
import re
import uuid
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Incident, Membership, OnCallSlot, UserProfile, Workspace
from app.domain.roles import Role
from app.main import create_app
from app.services.schedules import create_schedule, set_active, slot_at
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, make_team
from tests.processes import Stack
from tests.web import login

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.MEMBER}
ONCALL = "/api/v1/ws/acme/oncall"
HIGHLIGHT = {"HX-Request": "true", "HX-Target": "oncall-highlight"}


def daily(team: Team, name: str, now: datetime.datetime) -> dict[str, object]:
    return {
        "name": name,
        "rotation": "daily",
        "timezone": "UTC",
        "handoff_time": "09:00",
        "starts_at": (now - datetime.timedelta(days=2)).isoformat(),
        "members": [team["ann"].email, team["ben"].email],
        "escalation_to": team["owner"].email,
    }


async def version(db: AsyncSession, workspace_id: uuid.UUID) -> int:
    await db.commit()  # a fresh snapshot
    found = await db.scalar(select(Workspace.board_version).where(Workspace.id == workspace_id))
    assert found is not None
    return found


async def test_the_board_version_moves_with_each_change_that_can_alter_the_board(db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    workspace_id = team.workspace.id
    now = datetime.datetime.now(datetime.UTC)
    seen = [await version(db, workspace_id)]

    async def moved(why: str) -> None:
        seen.append(await version(db, workspace_id))
        assert seen[-1] > seen[-2], why

    schedule = await create_schedule(db, workspace_id, daily(team, "Ops", now), now)
    await moved("a schedule and its slots created")
    slot = await slot_at(db, schedule.id, now)
    assert slot is not None
    await db.execute(update(OnCallSlot).where(OnCallSlot.id == slot.id).values(user_id=team["cat"].id))
    await db.commit()
    await moved("a slot given to someone else")
    await set_active(db, workspace_id, schedule.id, False, now)
    await moved("a schedule paused")
    await db.execute(update(UserProfile).where(UserProfile.id == team["ben"].id).values(display_name="Benjamin"))
    await db.commit()
    await moved("a member renamed")
    await db.execute(update(Membership).where(Membership.user_id == team["ann"].id).values(role=Role.ADMIN.value))
    await db.commit()
    await moved("a membership changed")

    # What cannot change the board leaves the version alone: a login, an incident, a rolled-back edit.
    await db.execute(update(UserProfile).where(UserProfile.id == team["ben"].id).values(time_zone="Europe/Paris"))
    db.add(Incident(workspace_id=workspace_id, number=1, title="Disk full", severity="SEV3", status="triggered"))
    await db.commit()
    await db.execute(update(OnCallSlot).where(OnCallSlot.id == slot.id).values(user_id=team["ann"].id))
    await db.rollback()
    assert await version(db, workspace_id) == seen[-1]
    # Another workspace's changes are not this one's.
    other = await make_team(db, slug="other", roles=ROLES)
    await create_schedule(db, other.workspace.id, daily(other, "Theirs", now), now)
    assert await version(db, workspace_id) == seen[-1]


@pytest.fixture
async def served(settings: Settings, db: AsyncSession) -> Any:
    team = await make_team(db, roles=ROLES)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with (
        AsyncTestClient(app=create_app(settings)) as api,
        AsyncTestClient(app=create_app(settings)) as browser,
    ):
        api.headers["Authorization"] = f"Bearer {token}"
        await login(browser, team["ann"].email, PASSWORD)
        yield team, api, browser


async def holder(api: AsyncTestClient[Any], name: str = "Ops") -> str | None:
    answer = await api.get(ONCALL)
    assert answer.status_code == 200, answer.text
    found = [s for s in answer.json()["schedules"] if s["schedule"]["name"] == name]
    assert len(found) == 1, answer.json()
    primary = found[0]["primary"]
    return None if primary is None else str(primary["email"])


async def highlighted(browser: AsyncTestClient[Any]) -> str:
    answer = await browser.get("/ws/acme/oncall/", headers=HIGHLIGHT)
    assert answer.status_code == 200, answer.text
    assert 'id="oncall-highlight"' in answer.text
    return answer.text


async def test_a_change_and_a_passing_handoff_show_at_once(served: Any) -> None:
    team, api, browser = served
    created = await api.post("/api/v1/ws/acme/schedules", json=daily(team, "Ops", datetime.datetime.now(datetime.UTC)))
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    first = await holder(api)
    assert first in {team["ann"].email, team["ben"].email}
    assert await holder(api) == first  # served again, from what was built
    assert f'<span class="person">{"Ann" if first == team["ann"].email else "Ben"}</span>' in await highlighted(browser)

    # A change: Cat takes the current slot. The very next reads show her.
    current = (await api.get(f"/api/v1/ws/acme/schedules/{schedule_id}/oncall")).json()["slot"]
    moved = await api.patch(f"/api/v1/ws/acme/slots/{current['id']}", json={"user": team["cat"].email})
    assert moved.status_code == 200, moved.text
    assert await holder(api) == team["cat"].email
    assert '<span class="person">Cat</span>' in await highlighted(browser)

    # A hand-off two seconds from now: read (and kept) before it, shown without any write after it.
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
    handed = await api.post(
        f"/api/v1/ws/acme/schedules/{schedule_id}/handoff", json={"to": team["ben"].email, "at": at.isoformat()}
    )
    assert handed.status_code in (200, 201), handed.text
    assert await holder(api) == team["cat"].email
    assert '<span class="person">Cat</span>' in await highlighted(browser)
    await asyncio.sleep(max(0.0, (at - datetime.datetime.now(datetime.UTC)).total_seconds()) + 0.2)
    assert await holder(api) == team["ben"].email
    assert '<span class="person">Ben</span>' in await highlighted(browser)

    # Ben renames himself through his profile page: the highlight shows the new name at once.
    async with AsyncTestClient(app=browser.app) as ben:
        await login(ben, team["ben"].email, PASSWORD)
        page = await ben.get("/ws/acme/profile")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        saved = await ben.post(
            "/ws/acme/profile",
            data={"display_name": "Benedict", "time_zone": "UTC", "_csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
    assert '<span class="person">Benedict</span>' in await highlighted(browser)

    # A schedule renamed shows too.
    renamed = await api.patch(f"/api/v1/ws/acme/schedules/{schedule_id}", json={"name": "Ops primary"})
    assert renamed.status_code == 200, renamed.text
    assert await holder(api, "Ops primary") == team["ben"].email
    assert 'data-schedule="Ops primary"' in await highlighted(browser)


# ---------------------------------------------------------------- two web processes


@pytest.mark.slow
async def test_a_change_through_one_web_process_shows_through_another_at_once(stack: Stack, db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    now = datetime.datetime.now(datetime.UTC)
    schedule = await create_schedule(db, team.workspace.id, daily(team, "Ops", now), now)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    auth = {"Authorization": f"Bearer {token}"}
    first, second = stack.start_web(), stack.start_web()
    async with (
        httpx.AsyncClient(base_url=first, headers=auth) as one,
        httpx.AsyncClient(base_url=second, headers=auth) as two,
    ):

        async def primary(client: httpx.AsyncClient) -> str:
            answer = await client.get(ONCALL)
            assert answer.status_code == 200, answer.text
            (only,) = answer.json()["schedules"]
            return str(only["primary"]["email"])

        before = await primary(two)  # the second process keeps what it built
        assert await primary(two) == before
        for person in ("cat", "ann", "ben", "cat"):  # each change through one, read at once through the other
            slot = (await one.get(f"/api/v1/ws/acme/schedules/{schedule.id}/oncall")).json()["slot"]
            moved = await one.patch(f"/api/v1/ws/acme/slots/{slot['id']}", json={"user": team[person].email})
            assert moved.status_code == 200, moved.text
            assert await primary(two) == team[person].email
            assert await primary(one) == team[person].email
