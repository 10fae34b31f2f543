"""Smoke: the calendar feed, My shifts and the timeline render (the lead's first check)."""

from __future__ import annotations

import contextlib

import icalendar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.domain.roles import Role
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import PASSWORD, make_paging_schedule, make_team
from tests.web import login, post_form


async def test_feed_my_shifts_and_timeline_render(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, "acme", {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, 15)
    token = await issue_token(db, team.workspace.id, team["ann"].id)
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(AsyncTestClient(app=create_app(settings)))
        auth = {"Authorization": f"Bearer {token}"}
        created = await client.post("/api/v1/ws/acme/calendar-feeds", json={}, headers=auth)
        assert created.status_code == 201, created.text
        url = created.json()["url"]
        assert created.json()["webcal_url"].startswith("webcal://")
        feed = await client.get("/" + url.split("/", 3)[3])
        assert feed.status_code == 200, feed.text
        cal = icalendar.Calendar.from_ical(feed.content)
        events = list(cal.walk("VEVENT"))
        assert events and all("Ops" in str(e["SUMMARY"]) for e in events)
        shifts = await client.get("/api/v1/ws/acme/me/shifts", headers=auth)
        assert shifts.status_code == 200 and shifts.json(), shifts.text
        await login(client, team["ann"].email, PASSWORD)
        page = await client.get("/ws/acme/my-shifts/")
        assert page.status_code == 200, page.text
        assert "tl-bar" in page.text and "Hand off" in page.text
        sched = await client.get(f"/ws/acme/oncall/schedules/{schedule.id}?span=4")
        assert sched.status_code == 200 and "tl-now" in sched.text, sched.text
        board = await client.get("/ws/acme/oncall/")
        assert board.status_code == 200
        made = await post_form(
            client, "/ws/acme/settings/feeds", {"schedule_id": str(schedule.id)}, from_page="/ws/acme/settings/"
        )
        assert made.status_code == 200 and "new-feed-url" in made.text, made.text
        revoked = await client.delete(f"/api/v1/ws/acme/calendar-feeds/{created.json()['id']}", headers=auth)
        assert revoked.status_code == 204
        assert (await client.get("/" + url.split("/", 3)[3])).status_code == 404
