"""Invariant 12 end to end, on both databases: a role member changes only time they hold.

The attack: a member PATCHes their own future slot with an `end` weeks later (or a `start` before
it), taking time the rotation gives to others. Through the API, the slot dialog (HTMX) and the full
page the answer is a 403 that says why, no slot row changes and nobody is told of a change that did
not happen (no delivery_log row). What members may do (shorten, give part or all away, hand off)
still works, and admins and owners may still change any range.
"""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog, OnCallSchedule, OnCallSlot, UserProfile
from app.domain.roles import Role
from app.main import create_app
from app.services.schedules import create_schedule, slot_at
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_team
from tests.web import csrf_token, login

ROLES = {"owner": Role.OWNER, "admin": Role.ADMIN, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.MEMBER}
BEN_ZONE = "America/New_York"  # the forms read local times in the viewer's zone; not UTC on purpose
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
SIX_WEEKS = datetime.timedelta(weeks=6)
DAY = datetime.timedelta(days=1)
HOLD_ONLY = "You can only change time you hold"

Rows = tuple[list[tuple[Any, ...]], int]


@pytest.fixture
async def setup(settings: Settings, db: AsyncSession) -> Any:
    """A weekly rotation of ann, ben and cat (UTC, Mondays 09:00) started two hours ago; tokens for all."""
    team = await make_team(db, roles=ROLES)
    now = datetime.datetime.now(datetime.UTC)
    body = {
        "name": "Ops",
        "rotation": "weekly",
        "timezone": "UTC",
        "handoff_time": "09:00",
        "handoff_weekday": 0,
        "starts_at": (now - datetime.timedelta(hours=2)).isoformat(),
        "members": [team["ann"].email, team["ben"].email, team["cat"].email],
        "escalation_to": team["owner"].email,
    }
    schedule = await create_schedule(db, team.workspace.id, body, now)
    session = await fresh(db)
    (await session.get_one(UserProfile, team["ben"].id)).time_zone = BEN_ZONE
    await session.commit()
    tokens = {k: await issue_token(db, team.workspace.id, team[k].id) for k in ("owner", "admin", "ben")}
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client, team, schedule, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}


async def state(db: AsyncSession) -> Rows:
    """Every slot row as (id, user, start, end, is_override), and how many delivery rows there are."""
    session = await fresh(db)
    slots = (
        await session.execute(
            select(
                OnCallSlot.id, OnCallSlot.user_id, OnCallSlot.start_time, OnCallSlot.end_time, OnCallSlot.is_override
            ).order_by(OnCallSlot.schedule_id, OnCallSlot.start_time)
        )
    ).all()
    deliveries = await session.scalar(select(func.count()).select_from(DeliveryLog))
    await session.commit()
    return [tuple(row) for row in slots], int(deliveries or 0)


async def own_future_slot(db: AsyncSession, schedule: OnCallSchedule, team: Team, key: str) -> OnCallSlot:
    """The first whole slot of `key` starting more than a day from now (so time before it is future too)."""
    now = datetime.datetime.now(datetime.UTC)
    slot = await (await fresh(db)).scalar(
        select(OnCallSlot)
        .where(
            OnCallSlot.schedule_id == schedule.id,
            OnCallSlot.user_id == team[key].id,
            OnCallSlot.start_time > now + DAY,
        )
        .order_by(OnCallSlot.start_time)
        .limit(1)
    )
    assert slot is not None
    assert slot.end_time - slot.start_time == datetime.timedelta(weeks=1)
    return slot


async def holder(db: AsyncSession, schedule: OnCallSchedule, at: datetime.datetime) -> tuple[Any, bool]:
    slot = await slot_at(await fresh(db), schedule.id, at)
    assert slot is not None, f"nobody holds {at}"
    return slot.user_id, slot.is_override


def iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat()


def local(value: datetime.datetime, zone: str = BEN_ZONE) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime(LOCAL_INPUT)


def form_error(html: str, element_id: str) -> str:
    """The message the form shows in the element with this id (slot-start-error, slot-end-error)."""
    marker = f'id="{element_id}"'
    assert marker in html, f"no {element_id} on the page: {html[:3000]}"
    return html.split(marker, 1)[1].split(">", 1)[1].split("</p>", 1)[0]


async def submit(client: AsyncTestClient[Any], path: str, data: dict[str, str], htmx: bool) -> Any:
    token = client.cookies.get("vigilo_csrf") or await csrf_token(client, "/ws/acme/profile/")
    headers = {"HX-Request": "true"} if htmx else {}
    return await client.post(path, data={**data, "_csrf_token": token}, headers=headers, follow_redirects=False)


# ---------------------------------------------------------------- the attack, refused


@pytest.mark.parametrize(
    ("bound", "shift"),
    [("end", SIX_WEEKS), ("start", -DAY / 2)],
    ids=["end-six-weeks-later", "start-half-a-day-earlier"],
)
async def test_member_cannot_widen_own_slot_through_the_api(
    setup: Any, db: AsyncSession, bound: str, shift: datetime.timedelta
) -> None:
    client, team, schedule, auth = setup
    slot = await own_future_slot(db, schedule, team, "ben")
    edge = slot.end_time if bound == "end" else slot.start_time
    before = await state(db)
    for extra in ({}, {"user": team["cat"].email}, {"user": team["ben"].email}):
        response = await client.patch(
            f"/api/v1/ws/acme/slots/{slot.id}", json={bound: iso(edge + shift), **extra}, headers=auth["ben"]
        )
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == 403
        assert HOLD_ONLY in problem["detail"]
        assert problem["errors"] == [{"field": bound, "message": problem["detail"]}]
        assert edge.astimezone(datetime.UTC).strftime("%a %d %b %H:%M UTC") in problem["detail"]
        assert await state(db) == before  # no slot changed, nobody was told anything


async def test_member_cannot_touch_someone_elses_slot_or_hand_it_off(setup: Any, db: AsyncSession) -> None:
    client, team, schedule, auth = setup
    theirs = await own_future_slot(db, schedule, team, "cat")
    before = await state(db)
    edit = await client.patch(
        f"/api/v1/ws/acme/slots/{theirs.id}", json={"user": team["ben"].email}, headers=auth["ben"]
    )
    assert edit.status_code == 403, edit.text
    assert edit.json()["errors"] == [{"field": "slot", "message": edit.json()["detail"]}]
    handoff = await client.post(
        f"/api/v1/ws/acme/schedules/{schedule.id}/handoff",
        json={"to": team["ben"].email, "at": iso(theirs.start_time + DAY)},
        headers=auth["ben"],
    )
    assert handoff.status_code == 403, handoff.text
    assert "only change slots they hold" in handoff.json()["detail"]
    assert await state(db) == before


@pytest.mark.parametrize("htmx", [True, False], ids=["dialog", "full-page"])
@pytest.mark.parametrize(
    ("bound", "shift"), [("end", SIX_WEEKS), ("start", -DAY / 2)], ids=["end-later", "start-earlier"]
)
async def test_member_cannot_widen_own_slot_through_the_form(
    setup: Any, db: AsyncSession, htmx: bool, bound: str, shift: datetime.timedelta
) -> None:
    client, team, schedule, _ = setup
    await login(client, team["ben"].email, PASSWORD)
    slot = await own_future_slot(db, schedule, team, "ben")
    form = {"user": team["ben"].email, "start": local(slot.start_time), "end": local(slot.end_time)}
    form[bound] = local((slot.end_time if bound == "end" else slot.start_time) + shift)
    before = await state(db)
    response = await submit(client, f"/ws/acme/oncall/slots/{slot.id}", form, htmx)
    assert response.status_code == 403, response.text[:3000]
    assert response.headers["content-type"].startswith("text/html")
    # The dialog (a fragment) or the page (a whole document) comes back with the form as typed.
    assert ("<html" in response.text.lower()) is not htmx
    assert HOLD_ONLY in form_error(response.text, f"slot-{bound}-error")
    # What was typed stays in the form: the date and the 24-hour time fields.
    assert f'value="{form[bound][:10]}"' in response.text
    assert f'value="{form[bound][11:16]}"' in response.text
    assert await state(db) == before


# ---------------------------------------------------------------- what members and admins may still do


async def test_member_shortens_own_slot(setup: Any, db: AsyncSession) -> None:
    client, team, schedule, auth = setup
    slot = await own_future_slot(db, schedule, team, "ben")
    _, deliveries = await state(db)
    new_end = slot.end_time - 2 * DAY
    response = await client.patch(f"/api/v1/ws/acme/slots/{slot.id}", json={"end": iso(new_end)}, headers=auth["ben"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == team["ben"].email
    assert datetime.datetime.fromisoformat(body["start"]) == slot.start_time
    assert datetime.datetime.fromisoformat(body["end"]) == new_end
    assert await holder(db, schedule, slot.start_time + DAY) == (team["ben"].id, True)
    assert (await state(db))[1] >= deliveries  # an allowed change may tell people; it never loses rows


async def test_member_gives_second_half_of_own_slot_to_another(setup: Any, db: AsyncSession) -> None:
    client, team, schedule, auth = setup
    slot = await own_future_slot(db, schedule, team, "ben")
    _, deliveries = await state(db)
    middle = slot.start_time + (slot.end_time - slot.start_time) / 2
    response = await client.patch(
        f"/api/v1/ws/acme/slots/{slot.id}",
        json={"start": iso(middle), "user": team["cat"].email},
        headers=auth["ben"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == team["cat"].email
    assert datetime.datetime.fromisoformat(body["start"]) == middle
    assert datetime.datetime.fromisoformat(body["end"]) == slot.end_time
    assert await holder(db, schedule, middle + datetime.timedelta(hours=1)) == (team["cat"].id, True)
    assert (await holder(db, schedule, slot.end_time - datetime.timedelta(minutes=1)))[0] == team["cat"].id
    assert (await holder(db, schedule, middle - datetime.timedelta(hours=1)))[0] == team["ben"].id
    assert (await state(db))[1] > deliveries  # cat and ben are told


async def test_member_gives_whole_own_slot_through_the_dialog(setup: Any, db: AsyncSession) -> None:
    client, team, schedule, _ = setup
    await login(client, team["ben"].email, PASSWORD)
    slot = await own_future_slot(db, schedule, team, "ben")
    form = {"user": team["cat"].email, "start": local(slot.start_time), "end": local(slot.end_time)}
    response = await submit(client, f"/ws/acme/oncall/slots/{slot.id}", form, htmx=True)
    assert response.status_code == 200, response.text[:3000]
    assert "HX-Trigger" in response.headers
    assert await holder(db, schedule, slot.start_time + DAY) == (team["cat"].id, True)


async def test_member_hands_off_own_slot(setup: Any, db: AsyncSession) -> None:
    client, team, schedule, auth = setup
    slot = await own_future_slot(db, schedule, team, "ben")
    at = slot.start_time + 3 * DAY
    response = await client.post(
        f"/api/v1/ws/acme/schedules/{schedule.id}/handoff",
        json={"to": team["ann"].email, "at": iso(at)},
        headers=auth["ben"],
    )
    assert response.status_code == 200, response.text
    before, after = response.json()
    assert before["user"]["email"] == team["ben"].email
    assert after["user"]["email"] == team["ann"].email
    assert datetime.datetime.fromisoformat(after["start"]) == at
    assert datetime.datetime.fromisoformat(after["end"]) == slot.end_time
    assert await holder(db, schedule, at + datetime.timedelta(hours=1)) == (team["ann"].id, True)
    assert (await holder(db, schedule, at - datetime.timedelta(hours=1)))[0] == team["ben"].id


@pytest.mark.parametrize("actor", ["admin", "owner"])
async def test_admin_and_owner_extend_a_members_slot_far(setup: Any, db: AsyncSession, actor: str) -> None:
    client, team, schedule, auth = setup
    slot = await own_future_slot(db, schedule, team, "ben")
    new_start, new_end = slot.start_time - DAY / 2, slot.end_time + SIX_WEEKS
    response = await client.patch(
        f"/api/v1/ws/acme/slots/{slot.id}",
        json={"start": iso(new_start), "end": iso(new_end)},
        headers=auth[actor],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == team["ben"].email
    assert datetime.datetime.fromisoformat(body["start"]) == new_start
    assert datetime.datetime.fromisoformat(body["end"]) == new_end
    for at in (new_start, slot.end_time + datetime.timedelta(weeks=3), new_end - datetime.timedelta(minutes=1)):
        assert await holder(db, schedule, at) == (team["ben"].id, True)
