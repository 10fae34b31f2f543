"""The On-call pages without a browser: the schedule form, the calendar and the admin actions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import OnCallSchedule
from app.domain.roles import Role
from app.main import create_app
from tests.factories import PASSWORD, Team, make_team
from tests.web import login, post_form, schedule_form

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.ADMIN, "vic": Role.VIEWER}
NEW = "/ws/acme/oncall/schedules/new"


def form(team: Team, **extra: str) -> dict[str, str]:
    return schedule_form([team["ann"].email, team["ben"].email, team["cat"].email], team["owner"].email, **extra)


@pytest.fixture
async def admin(settings: Settings, db: AsyncSession) -> Any:
    team = await make_team(db, roles=ROLES)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        yield client, team


async def test_admin_creates_a_schedule_and_sees_its_calendar(admin: Any) -> None:
    client, team = admin
    created = await post_form(client, NEW, form(team), from_page=NEW)
    assert created.status_code == 303, created.text
    calendar = await client.get(
        created.headers["location"] + "&weeks=8"
        if "?" in created.headers["location"]
        else created.headers["location"] + "?weeks=8"
    )
    assert calendar.status_code == 200
    names = re.findall(r'<td class="who">([^<]+)</td>', calendar.text)
    assert names[:4] == ["Ann", "Ben", "Cat", "Ann"]
    assert len(names) >= 8
    assert 'aria-current="true" data-slot-id' in calendar.text  # the slot covering now is highlighted
    assert "Extend rotation" in calendar.text
    assert "Regenerate from here" in calendar.text
    overview = await client.get("/ws/acme/oncall/")
    assert "Platform" in overview.text
    assert "Ann" in overview.text


async def test_a_bad_zone_is_shown_beside_the_field_and_nothing_is_saved(admin: Any, db: AsyncSession) -> None:
    client, team = admin
    response = await post_form(client, NEW, form(team, timezone="Europe/Atlantis", name="Keep me"), from_page=NEW)
    assert response.status_code == 422
    assert 'id="timezone-error"' in response.text
    assert "Europe/Atlantis is not an IANA time zone" in response.text
    assert 'value="Keep me"' in response.text
    assert 'value="Europe/Atlantis"' in response.text
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(OnCallSchedule)) == 0


async def test_member_rows_can_be_added_moved_and_removed(admin: Any) -> None:
    client, team = admin
    added = await post_form(client, NEW, form(team, action="add"), from_page=NEW)
    assert added.status_code == 200
    assert 'name="member_3"' in added.text
    moved = await post_form(client, NEW, form(team, action="up-1"), from_page=NEW)
    rows = re.findall(r'<select id="member_\d+" name="member_\d+">(.*?)</select>', moved.text, re.S)
    selected = [re.search(r'<option value="([^"]+)" selected>', row).group(1) for row in rows]  # type: ignore[union-attr]
    assert selected == [team["ben"].email, team["ann"].email, team["cat"].email]
    removed = await post_form(client, NEW, form(team, action="remove-0"), from_page=NEW)
    assert 'name="member_2"' not in removed.text


async def test_custom_rotation_needs_exactly_one_length(admin: Any) -> None:
    client, team = admin
    response = await post_form(client, NEW, form(team, rotation="custom"), from_page=NEW)
    assert response.status_code == 422
    assert 'id="shift_hours-error"' in response.text
    ok = await post_form(client, NEW, form(team, rotation="custom", shift_length="12"), from_page=NEW)
    assert ok.status_code == 303


async def test_calendar_pages_by_week_with_an_htmx_fragment(admin: Any) -> None:
    client, team = admin
    created = await post_form(client, NEW, form(team), from_page=NEW)
    url = created.headers["location"]
    fragment = await client.get(
        url + "?week=2030-01-07&weeks=1", headers={"HX-Request": "true", "HX-Target": "calendar"}
    )
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="calendar"')
    assert "<html" not in fragment.text
    assert "Week of Mon 07 Jan 2030" in fragment.text


async def test_admin_actions(admin: Any, db: AsyncSession) -> None:
    client, team = admin
    created = await post_form(client, NEW, form(team), from_page=NEW)
    url = created.headers["location"]
    extended = await post_form(client, url + "/extend", {}, from_page=url)
    assert "Extended" in (await client.get(extended.headers["location"])).text
    history = await post_form(client, url + "/regenerate", {"from": "2001-01-01T00:00"}, from_page=url)
    assert "history" in (await client.get(history.headers["location"])).text
    off = await post_form(client, url + "/active", {"active": "false"}, from_page=url)
    assert "Activate" in (await client.get(off.headers["location"])).text
    await db.commit()
    assert await db.scalar(select(OnCallSchedule.is_active)) is False
    gone = await post_form(client, url + "/delete", {}, from_page=url)
    assert gone.status_code == 303
    assert (await client.get(url)).status_code == 404


async def test_viewer_reads_but_cannot_manage(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    async with AsyncTestClient(app=create_app(settings)) as owner:
        await login(owner, "owner@acme.test", PASSWORD)
        url = (await post_form(owner, NEW, form(team), from_page=NEW)).headers["location"]
    async with AsyncTestClient(app=create_app(settings)) as viewer:
        await login(viewer, "vic@acme.test", PASSWORD)
        page = await viewer.get(url)
        assert page.status_code == 200
        assert "Extend rotation" not in page.text
        assert "New schedule" not in (await viewer.get("/ws/acme/oncall/")).text
        assert (await viewer.get(NEW)).status_code == 403
        refused = await post_form(viewer, url + "/delete", {}, from_page=url)
        assert refused.status_code == 403
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(OnCallSchedule)) == 1
