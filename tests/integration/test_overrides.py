"""Overrides, hand-offs and swaps on both databases, with the real broker and the fake Slack."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import dramatiq
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog, OnCallSlot
from app.domain.roles import Role
from app.main import create_app
from app.services.errors import Conflict, Forbidden
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.overrides import decide_swap, edit_slot, propose_swap
from app.services.schedules import create_schedule, slot_at, slots_between
from app.services.tokens import issue_token
from tests.factories import fresh, make_team
from tests.fakes.servers import FakeServer
from tests.invariants import schedule_problems

ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "cat": Role.MEMBER, "vic": Role.VIEWER}


def drain(broker: dramatiq.Broker) -> None:
    """Wait until the app's embedded worker has handled every notification message."""
    broker.join("notifications")  # type: ignore[attr-defined]


@pytest.fixture
async def setup(integration_settings: Settings, db: AsyncSession) -> Any:
    team = await make_team(db, roles=ROLES)
    now = datetime.datetime.now(datetime.UTC)
    body = {
        "name": "Ops",
        "rotation": "daily",
        "timezone": "UTC",
        "handoff_time": "09:00",
        "starts_at": (now - datetime.timedelta(hours=2)).isoformat(),
        "members": [team["ann"].email, team["ben"].email, team["cat"].email],
        "escalation_to": team["owner"].email,
    }
    schedule = await create_schedule(db, team.workspace.id, body, now)
    tokens = {k: await issue_token(db, team.workspace.id, team[k].id) for k in ("owner", "ann", "ben", "vic")}
    async with AsyncTestClient(app=create_app(integration_settings)) as client:
        # The app runs the embedded mode: a real Dramatiq worker on the StubBroker in this process.
        yield (
            client,
            team,
            schedule,
            {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()},
            dramatiq.get_broker(),
        )


def holder_emails(rows: list[Any]) -> list[str]:
    return [user.email for _, user in rows]


async def test_admin_override_relays_the_rotation_and_dms_both(
    setup: Any, db: AsyncSession, fake_slack: FakeServer
) -> None:
    client, team, schedule, auth, broker = setup
    now = datetime.datetime.now(datetime.UTC)
    tomorrow = now + datetime.timedelta(days=1)
    target = await slot_at(await fresh(db), schedule.id, tomorrow)
    assert target is not None
    previous = target.user_id
    response = await client.patch(
        f"/api/v1/ws/acme/slots/{target.id}", json={"user": team["owner"].email}, headers=auth["owner"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["is_override"] is True
    assert body["user"]["email"] == team["owner"].email
    assert (body["start"], body["end"]) == (target.start_time.isoformat(), target.end_time.isoformat())
    assert await schedule_problems(db, schedule.id, now, check_pattern_from=now) == []
    drain(broker)
    dms = {call.params["channel"] for call in fake_slack.calls("chat.postMessage")}
    previous_user = next(u for u in team.people.values() if u.id == previous)
    assert {"D" + team["owner"].slack_user_id[1:], "D" + previous_user.slack_user_id[1:]} == dms  # type: ignore[index]

    # Removing it gives the time back to the rotation.
    removed = await client.delete(f"/api/v1/ws/acme/slots/{body['id']}", headers=auth["owner"])
    assert removed.status_code == 204
    back = await slot_at(await fresh(db), schedule.id, tomorrow)
    assert back is not None
    assert (back.user_id, back.is_override) == (previous, False)
    assert await schedule_problems(db, schedule.id, now, check_pattern_from=now) == []


async def test_overlapping_override_is_409_naming_it(setup: Any, db: AsyncSession) -> None:
    client, team, schedule, auth, _ = setup
    now = datetime.datetime.now(datetime.UTC)
    first = await slot_at(await fresh(db), schedule.id, now + datetime.timedelta(days=1))
    assert first is not None
    made = (
        await client.patch(
            f"/api/v1/ws/acme/slots/{first.id}", json={"user": team["owner"].email}, headers=auth["owner"]
        )
    ).json()
    second = await slot_at(await fresh(db), schedule.id, now + datetime.timedelta(days=2))
    assert second is not None
    clash = await client.patch(
        f"/api/v1/ws/acme/slots/{second.id}",
        json={"start": made["start"], "end": second.end_time.isoformat()},
        headers=auth["owner"],
    )
    assert clash.status_code == 409
    assert made["id"] in clash.json()["detail"]
    # Shrinking the override hands the freed time back to the rotation.
    half = datetime.datetime.fromisoformat(made["start"]) + datetime.timedelta(hours=6)
    shrunk = await client.patch(
        f"/api/v1/ws/acme/slots/{made['id']}", json={"end": half.isoformat()}, headers=auth["owner"]
    )
    assert shrunk.status_code == 200
    after = await slot_at(await fresh(db), schedule.id, half + datetime.timedelta(hours=1))
    assert after is not None
    assert after.is_override is False
    assert await schedule_problems(db, schedule.id, now, check_pattern_from=now) == []


async def test_member_hands_off_their_current_shift(setup: Any, db: AsyncSession, fake_slack: FakeServer) -> None:
    client, team, schedule, _auth, broker = setup
    now = datetime.datetime.now(datetime.UTC)
    current = await slot_at(await fresh(db), schedule.id, now)
    assert current is not None
    holder = next(k for k in ("ann", "ben", "cat") if team[k].id == current.user_id)
    other = next(k for k in ("ann", "ben", "cat") if k != holder)
    token = await issue_token(db, team.workspace.id, team[holder].id)
    response = await client.post(
        f"/api/v1/ws/acme/schedules/{schedule.id}/handoff",
        json={"to": team[other].email},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    before, after = response.json()
    assert before["user"]["email"] == team[holder].email
    assert after["user"]["email"] == team[other].email
    assert after["is_override"] is True
    assert before["end"] == after["start"]
    assert after["end"] == current.end_time.isoformat()
    now_slot = await slot_at(await fresh(db), schedule.id, datetime.datetime.now(datetime.UTC))
    assert now_slot is not None
    assert now_slot.user_id == team[other].id
    drain(broker)
    texts = [call.params["text"] for call in fake_slack.calls("chat.postMessage")]
    assert len(texts) == 2
    assert any("You take over Ops" in t for t in texts)
    assert any("You handed Ops" in t for t in texts)


async def test_handoff_refusals_change_nothing(setup: Any, db: AsyncSession) -> None:
    client, team, schedule, auth, _ = setup
    now = datetime.datetime.now(datetime.UTC)
    current = await slot_at(await fresh(db), schedule.id, now)
    assert current is not None
    holder = next(u for u in team.people.values() if u.id == current.user_id)
    url = f"/api/v1/ws/acme/schedules/{schedule.id}/handoff"
    cases = [
        ({"to": holder.email}, 422, "to"),
        ({"to": team["vic"].email}, 422, "to"),
        ({"to": "nobody@nowhere.test"}, 422, "to"),
        ({"to": team["owner"].email, "at": (now + datetime.timedelta(weeks=20)).isoformat()}, 422, "at"),
        ({"to": team["owner"].email, "at": (now - datetime.timedelta(hours=1)).isoformat()}, 422, "at"),
    ]
    before = [
        (s.id, s.user_id, s.start_time, s.end_time)
        for s, _ in await slots_between(await fresh(db), schedule.id, now, now + datetime.timedelta(weeks=9))
    ]
    for body, status, field in cases:
        response = await client.post(url, json=body, headers=auth["owner"])
        assert response.status_code == status, (body, response.text)
        assert response.json()["errors"][0]["field"] == field
    await db.commit()
    after = [
        (s.id, s.user_id, s.start_time, s.end_time)
        for s, _ in await slots_between(await fresh(db), schedule.id, now, now + datetime.timedelta(weeks=9))
    ]
    assert after == before


async def test_members_only_touch_their_own_slots_and_viewers_nothing(setup: Any, db: AsyncSession) -> None:
    client, team, schedule, auth, _ = setup
    now = datetime.datetime.now(datetime.UTC)
    rows = await slots_between(
        await fresh(db), schedule.id, now + datetime.timedelta(days=1), now + datetime.timedelta(days=6)
    )
    not_anns = next(slot for slot, user in rows if user.id != team["ann"].id)
    refused = await client.patch(
        f"/api/v1/ws/acme/slots/{not_anns.id}", json={"user": team["ann"].email}, headers=auth["ann"]
    )
    assert refused.status_code == 403
    viewer = await client.patch(
        f"/api/v1/ws/acme/slots/{not_anns.id}", json={"user": team["ann"].email}, headers=auth["vic"]
    )
    assert viewer.status_code == 403
    anns = next(slot for slot, user in rows if user.id == team["ann"].id)
    mine = await client.patch(f"/api/v1/ws/acme/slots/{anns.id}", json={"user": team["ben"].email}, headers=auth["ann"])
    assert mine.status_code == 200
    past = await db.scalar(select(OnCallSlot).where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.end_time <= now))
    if past is not None:
        history = await client.patch(
            f"/api/v1/ws/acme/slots/{past.id}", json={"user": team["ben"].email}, headers=auth["owner"]
        )
        assert history.status_code == 422
    unknown = await client.patch(f"/api/v1/ws/acme/slots/{uuid.uuid4()}", json={}, headers=auth["owner"])
    assert unknown.status_code == 404


async def test_person_without_slack_is_skipped_in_the_delivery_log(
    setup: Any, db: AsyncSession, fake_slack: FakeServer
) -> None:
    client, team, schedule, auth, broker = setup
    owner = team["owner"]
    owner.slack_user_id = None
    db.add(owner)
    await db.commit()
    now = datetime.datetime.now(datetime.UTC)
    target = await slot_at(await fresh(db), schedule.id, now + datetime.timedelta(days=1))
    assert target is not None
    await client.patch(f"/api/v1/ws/acme/slots/{target.id}", json={"user": owner.email}, headers=auth["owner"])
    drain(broker)
    await db.commit()
    logs = {row.status: row for row in await db.scalars(select(DeliveryLog))}
    assert set(logs) == {"sent", "skipped"}
    assert "has no verified Slack id" in (logs["skipped"].error or "")
    assert len(fake_slack.calls("chat.postMessage")) == 1


async def test_swap_accepted_trades_both_slots(setup: Any, db: AsyncSession, fake_slack: FakeServer) -> None:

    _, team, schedule, _, broker = setup
    now = datetime.datetime.now(datetime.UTC)
    rows = await slots_between(
        await fresh(db), schedule.id, now + datetime.timedelta(days=1), now + datetime.timedelta(days=7)
    )
    ann_slot = next(slot for slot, user in rows if user.id == team["ann"].id and slot.start_time > now)
    ben_slot = next(slot for slot, user in rows if user.id == team["ben"].id and slot.start_time > now)

    ann, ben, cat = (
        WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team[key]), Role.MEMBER)
        for key in ("ann", "ben", "cat")
    )
    request_id = str((await propose_swap(db, ann, str(ann_slot.id), str(ben_slot.id), now)).id)
    with pytest.raises(Forbidden, match="Only the person asked"):
        await decide_swap(db, cat, request_id, True, now)
    await decide_swap(db, ben, request_id, True, now)
    first = await slot_at(await fresh(db), schedule.id, ann_slot.start_time)
    second = await slot_at(await fresh(db), schedule.id, ben_slot.start_time)
    assert first is not None
    assert second is not None
    assert (first.user_id, first.is_override) == (team["ben"].id, True)
    assert (second.user_id, second.is_override) == (team["ann"].id, True)
    assert await schedule_problems(db, schedule.id, now, check_pattern_from=now) == []
    drain(broker)
    assert len(fake_slack.calls("chat.postMessage")) == 4  # proposed and accepted, to both sides


async def test_swap_is_void_when_a_slot_changed(setup: Any, db: AsyncSession) -> None:

    _, team, schedule, _, _ = setup
    now = datetime.datetime.now(datetime.UTC)
    rows = await slots_between(
        await fresh(db), schedule.id, now + datetime.timedelta(days=1), now + datetime.timedelta(days=7)
    )
    ann_slot = next(slot for slot, user in rows if user.id == team["ann"].id and slot.start_time > now)
    ben_slot = next(slot for slot, user in rows if user.id == team["ben"].id and slot.start_time > now)
    ann = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["ann"]), Role.MEMBER)
    ben = WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team["ben"]), Role.MEMBER)
    request = await propose_swap(db, ann, str(ann_slot.id), str(ben_slot.id), now)
    await edit_slot(db, ben, ben_slot.id, {"user": team["cat"].email}, now)
    with pytest.raises(Conflict, match="void"):
        await decide_swap(db, ben, str(request.id), True, now)
