"""The On-call page and its live parts on both databases: the right people at a given now, gaps,
inactive schedules and the viewer's own shift; the same content with and without JavaScript."""

from __future__ import annotations

import datetime
import re
import uuid

from litestar.testing import AsyncTestClient
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import OnCallSlot, Workspace
from app.domain.roles import Role
from app.main import create_app
from app.services.board import load_board, own_duty
from app.services.identity import WorkspaceRef
from app.services.schedules import create_schedule, set_active, slot_at
from tests.factories import PASSWORD, Team, make_team
from tests.web import login

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}
NOW = datetime.datetime(2026, 7, 1, 10, 0, tzinfo=datetime.UTC)  # a Wednesday


async def board_ref(db: AsyncSession, workspace_id: uuid.UUID) -> WorkspaceRef:
    """The workspace as a request reads it with its login: with the board version of this moment."""
    await db.commit()
    return WorkspaceRef.of(await db.get_one(Workspace, workspace_id, populate_existing=True))


def daily(team: Team, name: str, members: list[str], start: str = "2026-06-29T09:00:00+00:00") -> dict[str, object]:
    return {
        "name": name,
        "rotation": "daily",
        "timezone": "UTC",
        "handoff_time": "09:00",
        "starts_at": start,
        "members": [team[m].email for m in members],
        "escalation_to": team["owner"].email,
    }


async def test_board_at_a_given_now(db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    await create_schedule(db, team.workspace.id, daily(team, "Ops", ["ann", "ben"]), NOW)
    gap = await create_schedule(db, team.workspace.id, daily(team, "Gappy", ["ben"]), NOW)
    off = await create_schedule(db, team.workspace.id, daily(team, "Off", ["ann"]), NOW)
    await set_active(db, team.workspace.id, off.id, False, NOW)
    current = await slot_at(db, gap.id, NOW)
    assert current is not None
    await db.execute(delete(OnCallSlot).where(OnCallSlot.id == current.id))
    await db.commit()

    page = await load_board(db, await board_ref(db, team.workspace.id), team["ben"].id, NOW)
    board = page.board
    by_name = {s.schedule.name: s for s in board.statuses}
    # Day 0 (Mon 29th) ann, day 1 ben, day 2 (Wed 1st, 09:00 on) ann.
    assert by_name["Ops"].current is not None
    assert page.people[by_name["Ops"].current.user_id].display_name == team["ann"].display_name
    assert by_name["Ops"].next_handoff is not None
    assert by_name["Ops"].next_handoff.at == datetime.datetime(2026, 7, 2, 9, 0, tzinfo=datetime.UTC)
    assert (by_name["Gappy"].problem, by_name["Gappy"].gap_until) == (
        "gap",
        datetime.datetime(2026, 7, 2, 9, 0, tzinfo=datetime.UTC),
    )
    assert by_name["Off"].problem == "inactive"
    assert [s.schedule.name for s in board.highlight] == ["Ops"]
    assert board.viewer_on_call == ()

    tomorrow = NOW + datetime.timedelta(days=1)
    as_ben = await load_board(db, await board_ref(db, team.workspace.id), team["ben"].id, tomorrow)
    assert [s.schedule.name for s in as_ben.board.viewer_on_call] == ["Gappy", "Ops"]
    duty = await own_duty(db, team.workspace.id, team["ben"].id, NOW)
    assert duty.current == []
    assert duty.upcoming is not None
    assert duty.upcoming[1].start_time == datetime.datetime(2026, 7, 2, 9, 0, tzinfo=datetime.UTC)


async def test_page_and_fragments_show_the_same_people(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    now = datetime.datetime.now(datetime.UTC)
    start = (now - datetime.timedelta(hours=1)).isoformat()
    await create_schedule(db, team.workspace.id, daily(team, "Ops", ["ben", "ann"], start=start), now)
    off = await create_schedule(db, team.workspace.id, daily(team, "Off", ["ann"], start=start), now)
    await set_active(db, team.workspace.id, off.id, False, now)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "ben@acme.test", PASSWORD)
        page = await client.get("/ws/acme/oncall/")
        assert page.status_code == 200
        assert "You are on call for" in page.text
        highlight = page.text.split('id="oncall-highlight"')[1].split("</section>")[0]
        assert re.search(
            r'data-schedule="Ops">\s*<span class="schedule">Ops</span>\s*<span class="person">Ben</span>', highlight
        )
        assert "Off" not in highlight
        assert "Off is inactive" in page.text
        assert 'hx-trigger="load delay:' in page.text and "oncall-changed from:body" in page.text

        fragment = await client.get("/ws/acme/oncall/", headers={"HX-Request": "true", "HX-Target": "oncall-highlight"})
        assert fragment.text.lstrip().startswith('<section id="oncall-highlight"')
        assert "<html" not in fragment.text
        assert "Ben" in fragment.text
        rows = await client.get("/ws/acme/oncall/", headers={"HX-Request": "true", "HX-Target": "oncall-rows"})
        assert rows.text.lstrip().startswith('<section id="oncall-rows"')
        # A viewer sees the warning but not the fix.
        home = await client.get("/ws/acme/")
        assert "You are on call for" in home.text
    async with AsyncTestClient(app=create_app(settings)) as viewer:
        await login(viewer, "vic@acme.test", PASSWORD)
        page = await viewer.get("/ws/acme/oncall/")
        assert "Off is inactive" in page.text
        assert ">Activate</button>" not in page.text
        assert "You have no on-call shifts coming up." in (await viewer.get("/ws/acme/")).text


async def test_admin_fix_from_the_page_triggers_a_refresh(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    now = datetime.datetime.now(datetime.UTC)
    off = await create_schedule(db, team.workspace.id, daily(team, "Off", ["ann"], start=now.isoformat()), now)
    await set_active(db, team.workspace.id, off.id, False, now)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        page = await client.get("/ws/acme/oncall/")
        assert ">Activate</button>" in page.text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        response = await client.post(
            f"/ws/acme/oncall/schedules/{off.id}/active",
            data={"active": "true", "_csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 204
        assert response.headers["hx-trigger"] == "oncall-changed"
        assert "Off is inactive" not in (await client.get("/ws/acme/oncall/")).text


async def test_the_schedule_list_shows_fifty_and_says_what_more_there_is(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, roles=ROLES)
    now = datetime.datetime.now(datetime.UTC)
    start = (now - datetime.timedelta(hours=1)).isoformat()
    for n in range(53):
        created = await create_schedule(db, team.workspace.id, daily(team, f"S{n:02d}", ["ann"], start=start), now)
        if n >= 51:  # two of the three past the first page have a problem
            await set_active(db, team.workspace.id, created.id, False, now)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "ben@acme.test", PASSWORD)
        page = await client.get("/ws/acme/oncall/")
        rows = page.text.split('id="oncall-rows"')[1].split("</section>")[0]
        assert re.findall(r'<tr data-schedule="(S\d\d)"', rows) == [f"S{n:02d}" for n in range(50)]
        assert "Show more schedules (3 more, 2 with a problem)" in re.sub(r"\s+", " ", rows)
        assert (
            len(
                re.findall(r'data-schedule="S\d\d"', page.text.split('id="oncall-highlight"')[1].split("</section>")[0])
            )
            == 51
        )
        more = await client.get("/ws/acme/oncall/?rows=100", headers={"HX-Request": "true", "HX-Target": "oncall-rows"})
        assert re.findall(r'<tr data-schedule="(S\d\d)"', more.text) == [f"S{n:02d}" for n in range(53)]
        assert "Show more schedules" not in more.text
        # The link loads the whole page with more rows, and the live poller keeps asking for as many.
        link = re.search(r'<a href="([^"]+)" hx-boost="false">Show more schedules', rows)
        assert link is not None and "rows=100" in link.group(1)
        wider = await client.get(link.group(1).replace("&amp;", "&"))
        assert len(re.findall(r'<tr data-schedule="S\d\d"', wider.text)) == 53
        assert re.search(r'id="oncall-poller"[^>]*rows=100', wider.text)
        assert "S52 is inactive" in more.text
