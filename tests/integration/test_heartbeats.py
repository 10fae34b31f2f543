"""Heartbeat monitors on both databases: the heartbeats API, a missed ping opening one incident on
the monitor's target, the next ping resolving it, a person resolving it while the pings stay away,
two ticks at once, deleting a monitor, and the schedule a monitor pages being kept."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.engine import create_engine
from app.db.models import HeartbeatMonitor, Incident, Page
from app.services.heartbeats import PING_PATH, create_monitor, open_late
from app.services.paging import Pace
from tests.factories import fresh, make_paging_schedule, make_team
from tests.integration import test_alert_sources as alert_sources
from tests.integration.test_alert_sources import (
    API,
    INCIDENTS,
    ROLES,
    Api,
    count,
    fields,
    incidents,
    is_postgres,
    problem,
    timeline,
)

api = alert_sources.api  # the workspace "acme", its people, the schedule Ops (ann on call) and the owner's token

HEARTBEATS = API + "/heartbeats"
POLICIES = API + "/escalation-policies"
PING_URL = re.compile(r"^http://testserver\.local(/integrations/heartbeats/([A-Za-z0-9_-]{32,}))$")
MINUTES = 5  # the interval of the monitors below
SECOND = datetime.timedelta(seconds=1)
LISTED = {
    "id",
    "name",
    "interval_minutes",
    "schedule_id",
    "escalation_policy_id",
    "last_ping_at",
    "due_at",
    "state",
    "incident_id",
}


def pace(settings: Settings) -> Pace:
    """What the app and the tick use: a configured minute lasts `seconds_per_delay_minute`."""
    return Pace(settings.seconds_per_delay_minute, settings.public_url, settings.secret_key)


def every(settings: Settings, minutes: int = MINUTES) -> datetime.timedelta:
    return datetime.timedelta(seconds=minutes * settings.seconds_per_delay_minute)


def when(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if value is not None else None


async def add(api: Api, name: str = "Nightly backup", **extra: Any) -> tuple[dict[str, Any], str]:
    """A monitor added through the API: its answer and its ping URL's path."""
    body = {"name": name, "interval_minutes": MINUTES, "schedule_id": api.schedule_id, **extra}
    created = await api.client.post(HEARTBEATS, json=body, headers=api.auth)
    assert created.status_code == 201, created.text
    data = created.json()
    match = PING_URL.match(data["ping_url"])
    assert match, data["ping_url"]
    return data, match.group(1)


async def added_at(api: Api, db: AsyncSession, at: datetime.datetime, name: str = "Nightly backup") -> tuple[str, str]:
    """A monitor added at `at` (its first ping due one interval later): its id and ping path."""
    body = {"name": name, "interval_minutes": MINUTES, "schedule_id": api.schedule_id}
    monitor, token = await create_monitor(db, api.team.workspace.id, body, at, pace(api.settings))
    return str(monitor.id), PING_PATH + token


def an_interval_and_a_minute_ago(api: Api) -> datetime.datetime:
    """When a monitor was added whose first ping is a minute late now."""
    return datetime.datetime.now(datetime.UTC) - every(api.settings) - datetime.timedelta(minutes=1)


async def listed(api: Api, auth: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    answer = await api.client.get(HEARTBEATS, headers=auth or api.auth)
    assert answer.status_code == 200, answer.text
    return {m["name"]: m for m in answer.json()}


async def late(api: Api, db: AsyncSession, at: datetime.datetime) -> int:
    """The tick's job at `at`: how many incidents it opened."""
    return await open_late(db, at, pace(api.settings))


async def pinged(api: Api, path: str, method: str = "GET") -> dict[str, Any]:
    answer = await api.client.request(method, path)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def pages_of(db: AsyncSession, incident: Incident) -> list[tuple[uuid.UUID | None, str]]:
    session = await fresh(db)
    found = list(await session.scalars(select(Page).where(Page.incident_id == incident.id)))
    await session.commit()
    return [(p.user_id, p.status) for p in found]


async def new_policy(api: Api, name: str = "Platform") -> str:
    answer = await api.client.post(
        POLICIES,
        json={
            "name": name,
            "repeat": 0,
            "steps": [{"delay_minutes": 5, "targets": [{"schedule_id": api.schedule_id}]}],
        },
        headers=api.auth,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the API


async def test_a_monitor_is_added_with_its_ping_url_shown_once_and_its_token_stored_hashed(
    api: Api, db: AsyncSession
) -> None:
    before = datetime.datetime.now(datetime.UTC)
    created, path = await add(api)
    after = datetime.datetime.now(datetime.UTC)
    assert set(created) == {"id", "name", "interval_minutes", "ping_url", "last_ping_at"}
    assert (created["name"], created["interval_minutes"], created["last_ping_at"]) == ("Nightly backup", MINUTES, None)
    token = path.rsplit("/", 1)[1]

    session = await fresh(db)
    row = await session.get_one(HeartbeatMonitor, uuid.UUID(created["id"]))
    await session.commit()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    for attribute in sa_inspect(HeartbeatMonitor).column_attrs:
        assert token not in str(getattr(row, attribute.key)), attribute.key

    answer = await api.client.get(HEARTBEATS, headers=api.auth)
    assert answer.status_code == 200, answer.text
    assert token not in answer.text
    assert PING_PATH not in answer.text
    [shown] = answer.json()
    assert set(shown) == LISTED
    assert shown["id"] == created["id"]
    assert (shown["schedule_id"], shown["escalation_policy_id"]) == (api.schedule_id, None)
    assert (shown["state"], shown["last_ping_at"], shown["incident_id"]) == ("waiting for its first ping", None, None)
    # The first ping is due one interval (scaled by the pace) after it was added.
    due = when(shown["due_at"])
    assert due is not None
    assert before + every(api.settings) - SECOND <= due <= after + every(api.settings) + SECOND

    by_policy, _ = await add(api, "Through a policy", schedule_id=None, escalation_policy_id=await new_policy(api))
    policy_row = (await listed(api))["Through a policy"]
    assert policy_row["id"] == by_policy["id"]
    assert policy_row["schedule_id"] is None
    assert policy_row["escalation_policy_id"] is not None
    tidy, _ = await add(api, "  Weekly   report ", interval_minutes=44640)
    assert (tidy["name"], tidy["interval_minutes"]) == ("Weekly report", 44640)
    assert sorted(await listed(api)) == ["Nightly backup", "Through a policy", "Weekly report"]


async def test_the_interval_is_scaled_by_the_pace(api: Api, db: AsyncSession) -> None:
    start = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)
    quick = Pace(0.5, api.settings.public_url, api.settings.secret_key)  # a "minute" of half a second
    body = {"name": "Fast", "interval_minutes": MINUTES, "schedule_id": api.schedule_id}
    monitor, _ = await create_monitor(db, api.team.workspace.id, body, start, quick)
    assert monitor.due_at == start + datetime.timedelta(seconds=MINUTES * 0.5)
    assert await open_late(db, start + datetime.timedelta(seconds=2.4), quick) == 0
    assert await open_late(db, start + datetime.timedelta(seconds=2.6), quick) == 1


async def test_adding_a_monitor_checks_every_field_and_a_refused_one_adds_nothing(api: Api, db: AsyncSession) -> None:
    await add(api)  # "Nightly backup"
    other = await make_team(db, "globex", ROLES)
    foreign = await make_paging_schedule(db, other, delay_minutes=5)
    policy_id = await new_policy(api)

    good = {"name": "Checks", "interval_minutes": MINUTES, "schedule_id": api.schedule_id}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "name": ""}, "name"),
        ({**good, "name": "   "}, "name"),
        ({**good, "name": "n" * 121}, "name"),
        ({**good, "name": "back\u0000up"}, "name"),
        ({**good, "name": "Nightly backup"}, "name"),  # taken
        ({**good, "name": " Nightly   backup  "}, "name"),  # the same name, once tidied
        ({**good, "interval_minutes": 0}, "interval_minutes"),
        ({**good, "interval_minutes": -5}, "interval_minutes"),
        ({**good, "interval_minutes": 44641}, "interval_minutes"),  # over 31 days
        ({**good, "interval_minutes": True}, "interval_minutes"),
        ({**good, "interval_minutes": 1.5}, "interval_minutes"),
        ({**good, "interval_minutes": None}, "interval_minutes"),
        ({**good, "schedule_id": None}, "schedule_id"),  # neither target
        ({**good, "escalation_policy_id": policy_id}, "schedule_id"),  # both targets
        ({**good, "schedule_id": str(foreign.id)}, "schedule_id"),  # another workspace's
        ({**good, "schedule_id": str(uuid.uuid4())}, "schedule_id"),
        ({**good, "schedule_id": "not-a-uuid"}, "schedule_id"),
        ({**good, "schedule_id": None, "escalation_policy_id": str(uuid.uuid4())}, "escalation_policy_id"),
        ({**good, "token": "mine"}, "token"),  # not a field
        ({"interval_minutes": MINUTES, "schedule_id": api.schedule_id}, "name"),  # no name
        ({"name": "Checks", "schedule_id": api.schedule_id}, "interval_minutes"),  # no interval
    ]
    for body, field in cases:
        answer = await api.client.post(HEARTBEATS, json=body, headers=api.auth)
        assert set(fields(answer)) == {field}, (body, answer.text)
    # Every field is checked at once.
    several = await api.client.post(
        HEARTBEATS, json={"name": "", "interval_minutes": 0, "schedule_id": str(foreign.id)}, headers=api.auth
    )
    assert set(fields(several)) == {"name", "interval_minutes", "schedule_id"}
    assert await count(db, HeartbeatMonitor) == 1
    assert list(await listed(api)) == ["Nightly backup"]


async def test_only_admins_manage_monitors_and_only_their_workspaces(api: Api, db: AsyncSession) -> None:
    mine, path = await add(api)
    url = f"{HEARTBEATS}/{mine['id']}"
    good = {"name": "Mine", "interval_minutes": MINUTES, "schedule_id": api.schedule_id}
    for who in ("ann", "vic"):
        auth = await api.bearer(db, who)
        problem(await api.client.get(HEARTBEATS, headers=auth), 403)
        problem(await api.client.post(HEARTBEATS, json=good, headers=auth), 403)
        problem(await api.client.delete(url, headers=auth), 403)
    admin = await api.bearer(db, "admin")
    assert list(await listed(api, admin)) == ["Nightly backup"]
    assert await count(db, HeartbeatMonitor) == 1

    other = await make_team(db, "globex", ROLES)
    their_schedule = await make_paging_schedule(db, other, delay_minutes=5)
    theirs = await api.bearer(db, "admin", other)
    problem(await api.client.get(HEARTBEATS, headers=theirs), 404)
    problem(await api.client.post(HEARTBEATS, json=good, headers=theirs), 404)
    problem(await api.client.delete(url, headers=theirs), 404)

    body = {"name": "Globex backup", "interval_minutes": MINUTES, "schedule_id": str(their_schedule.id)}
    now = datetime.datetime.now(datetime.UTC)
    their_monitor, their_token = await create_monitor(db, other.workspace.id, body, now, pace(api.settings))
    problem(await api.client.delete(f"{HEARTBEATS}/{their_monitor.id}", headers=api.auth), 404)
    problem(await api.client.delete(f"{HEARTBEATS}/not-a-uuid", headers=api.auth), 404)
    assert list(await listed(api)) == ["Nightly backup"]
    assert await count(db, HeartbeatMonitor) == 2
    # Both URLs still answer, each for its own monitor.
    assert (await pinged(api, path))["monitor"] == "Nightly backup"
    assert (await pinged(api, PING_PATH + their_token))["monitor"] == "Globex backup"


# ---------------------------------------------------------------- a missed ping, and the next one


async def test_a_missed_ping_opens_one_incident_on_the_target(api: Api, db: AsyncSession) -> None:
    start = an_interval_and_a_minute_ago(api)
    monitor_id, _ = await added_at(api, db, start)
    deadline = start + every(api.settings)

    assert await late(api, db, deadline - SECOND) == 0
    assert await count(db, Incident) == 0
    assert (await listed(api))["Nightly backup"]["state"] == "waiting for its first ping"

    assert await late(api, db, deadline + SECOND) == 1
    [incident] = await incidents(db)
    assert (incident.number, incident.title, incident.severity, incident.status) == (
        1,
        "Heartbeat missed: Nightly backup",
        "SEV2",
        "triggered",
    )
    assert str(incident.schedule_id) == api.schedule_id
    assert await pages_of(db, incident) == [(api.team["ann"].id, "pending")]  # Ops's primary is paged
    notes = await timeline(db, incident)
    assert any("Nightly backup (heartbeat) opened INC-1 (SEV2) on Ops" in n for n in notes), notes
    assert (
        f"No ping within {MINUTES} min: no ping has come since it was added. The next ping resolves INC-1." in notes
    ), notes

    # The tick runs again and again while the ping stays away: still one incident.
    assert await late(api, db, deadline + SECOND) == 0
    assert await late(api, db, deadline + 2 * SECOND) == 0
    assert await late(api, db, deadline + 3 * every(api.settings)) == 0
    assert [i.number for i in await incidents(db)] == [1]

    shown = (await listed(api))["Nightly backup"]
    assert (shown["id"], shown["state"], shown["incident_id"]) == (monitor_id, "late", str(incident.id))
    assert shown["last_ping_at"] is None


async def test_the_next_ping_resolves_the_incident_and_moves_the_deadline(api: Api, db: AsyncSession) -> None:
    start = an_interval_and_a_minute_ago(api)
    _, path = await added_at(api, db, start)
    assert await late(api, db, start + every(api.settings) + SECOND) == 1

    before = datetime.datetime.now(datetime.UTC)
    answer = await pinged(api, path)
    after = datetime.datetime.now(datetime.UTC)
    assert answer == {"ok": True, "monitor": "Nightly backup", "resolved": "INC-1"}
    [incident] = await incidents(db)
    assert incident.status == "resolved"
    assert await pages_of(db, incident) == [(api.team["ann"].id, "cancelled")]
    notes = await timeline(db, incident)
    assert "Nightly backup (heartbeat) resolved INC-1: a ping came in. 1 pending page cancelled." in notes, notes

    shown = (await listed(api))["Nightly backup"]
    assert (shown["state"], shown["incident_id"]) == ("up", None)
    last = when(shown["last_ping_at"])
    assert last is not None
    assert before - SECOND <= last <= after + SECOND
    assert when(shown["due_at"]) == last + every(api.settings)

    # A ping with nothing open (POST, as some jobs do) resolves nothing and moves the deadline again.
    again = await pinged(api, path, "POST")
    assert again == {"ok": True, "monitor": "Nightly backup", "resolved": None}
    moved = (await listed(api))["Nightly backup"]
    later = when(moved["last_ping_at"])
    assert later is not None
    assert later >= last
    assert when(moved["due_at"]) == later + every(api.settings)
    assert moved["state"] == "up"
    assert [(i.number, i.status) for i in await incidents(db)] == [(1, "resolved")]


async def test_a_post_ping_resolves_too(api: Api, db: AsyncSession) -> None:
    start = an_interval_and_a_minute_ago(api)
    _, path = await added_at(api, db, start)
    assert await late(api, db, start + every(api.settings) + SECOND) == 1
    answer = await api.client.post(path, content=b'{"job": "backup", "ok": true}')
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True, "monitor": "Nightly backup", "resolved": "INC-1"}
    assert [(i.number, i.status) for i in await incidents(db)] == [(1, "resolved")]


async def test_an_unknown_ping_url_answers_404_and_changes_nothing(api: Api, db: AsyncSession) -> None:
    start = an_interval_and_a_minute_ago(api)
    _, path = await added_at(api, db, start)
    assert await late(api, db, start + every(api.settings) + SECOND) == 1
    before = await listed(api)
    token = path.rsplit("/", 1)[1]
    for wrong in (token[:-1], token + "x", token.upper(), "x" * 200, "0"):
        problem(await api.client.get(PING_PATH + wrong), 404)
        problem(await api.client.post(PING_PATH + wrong), 404)
    assert await listed(api) == before
    [incident] = await incidents(db)
    assert incident.status == "triggered"
    assert await pages_of(db, incident) == [(api.team["ann"].id, "pending")]


async def test_after_a_ping_a_further_miss_opens_a_new_incident(api: Api, db: AsyncSession) -> None:
    start = an_interval_and_a_minute_ago(api)
    _, path = await added_at(api, db, start)
    assert await late(api, db, start + every(api.settings) + SECOND) == 1
    assert (await pinged(api, path))["resolved"] == "INC-1"
    last = when((await listed(api))["Nightly backup"]["last_ping_at"])
    assert last is not None

    assert await late(api, db, last + every(api.settings) - SECOND) == 0
    assert await late(api, db, last + every(api.settings) + SECOND) == 1
    assert [(i.number, i.status) for i in await incidents(db)] == [(1, "resolved"), (2, "triggered")]
    second = (await incidents(db))[1]
    assert second.title == "Heartbeat missed: Nightly backup"
    notes = await timeline(db, second)
    assert any(n.startswith(f"No ping within {MINUTES} min: the last ping came at ") for n in notes), notes
    assert any(n.endswith("The next ping resolves INC-2.") for n in notes), notes
    shown = (await listed(api))["Nightly backup"]
    assert (shown["state"], shown["incident_id"]) == ("late", str(second.id))

    assert (await pinged(api, path))["resolved"] == "INC-2"
    assert [(i.number, i.status) for i in await incidents(db)] == [(1, "resolved"), (2, "resolved")]


async def test_a_person_resolving_it_while_pings_stay_away_waits_one_more_interval(api: Api, db: AsyncSession) -> None:
    start = an_interval_and_a_minute_ago(api)
    _, path = await added_at(api, db, start)
    assert await late(api, db, start + every(api.settings) + SECOND) == 1
    [incident] = await incidents(db)
    by_hand = await api.client.post(f"{INCIDENTS}/{incident.id}/resolve", headers=api.auth)
    assert by_hand.status_code == 200, by_hand.text
    assert by_hand.json()["status"] == "resolved"
    [incident] = await incidents(db)
    assert incident.resolved_at is not None
    resolved_at = incident.resolved_at

    # The pings are still away, but a person just said it is handled: not paged again at once.
    assert await late(api, db, datetime.datetime.now(datetime.UTC) + SECOND) == 0
    assert await late(api, db, resolved_at + every(api.settings) - SECOND) == 0
    assert [i.number for i in await incidents(db)] == [1]
    waiting = (await listed(api))["Nightly backup"]
    assert waiting["incident_id"] is None
    assert when(waiting["due_at"]) == resolved_at + every(api.settings)

    # One interval after the resolve, still no ping: a new incident.
    assert await late(api, db, resolved_at + every(api.settings) + SECOND) == 1
    assert [(i.number, i.status) for i in await incidents(db)] == [(1, "resolved"), (2, "triggered")]
    assert await late(api, db, resolved_at + 2 * every(api.settings)) == 0
    assert (await pinged(api, path))["resolved"] == "INC-2"


async def test_a_ping_after_a_person_resolved_it_resolves_nothing(api: Api, db: AsyncSession) -> None:
    start = an_interval_and_a_minute_ago(api)
    _, path = await added_at(api, db, start)
    assert await late(api, db, start + every(api.settings) + SECOND) == 1
    [incident] = await incidents(db)
    resolve = await api.client.post(f"{INCIDENTS}/{incident.id}/resolve", headers=api.auth)
    assert resolve.status_code == 200, resolve.text
    assert (await pinged(api, path))["resolved"] is None
    shown = (await listed(api))["Nightly backup"]
    assert (shown["state"], shown["incident_id"]) == ("up", None)
    notes = await timeline(db, incident)
    assert not any("a ping came in" in n for n in notes), notes


async def test_two_ticks_at_once_open_one_incident_per_monitor(
    api: Api, db: AsyncSession, integration_settings: Settings
) -> None:
    if not is_postgres(integration_settings):
        pytest.skip("two processes share one database only on PostgreSQL (SQLite is embedded: one process)")
    start = an_interval_and_a_minute_ago(api)
    names = ["Backup", "Cron", "Replica"]
    for name in names:
        await added_at(api, db, start, name)
    engines = [create_engine(integration_settings.database_url) for _ in range(2)]
    try:
        for offset in (1, 2, 3):
            now = start + every(api.settings) + offset * SECOND
            sessions = [async_sessionmaker(engine, expire_on_commit=False)() for engine in engines]
            try:
                opened = await asyncio.gather(*(open_late(s, now, pace(integration_settings)) for s in sessions))
            finally:
                for session in sessions:
                    await session.close()
            assert sum(opened) == (len(names) if offset == 1 else 0), (offset, opened)
    finally:
        for engine in engines:
            await engine.dispose()
    found = await incidents(db)
    assert sorted(i.title for i in found) == [f"Heartbeat missed: {n}" for n in names]
    shown = await listed(api)
    assert {m["incident_id"] for m in shown.values()} == {str(i.id) for i in found}
    assert {m["state"] for m in shown.values()} == {"late"}


# ---------------------------------------------------------------- deleting


async def test_deleting_a_monitor_stops_its_url_and_keeps_its_incident(api: Api, db: AsyncSession) -> None:
    start = an_interval_and_a_minute_ago(api)
    monitor_id, path = await added_at(api, db, start)
    _, kept_path = await add(api, "Kept")
    assert await late(api, db, start + every(api.settings) + SECOND) == 1

    deleted = await api.client.delete(f"{HEARTBEATS}/{monitor_id}", headers=api.auth)
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    problem(await api.client.get(path), 404)
    problem(await api.client.post(path), 404)
    problem(await api.client.delete(f"{HEARTBEATS}/{monitor_id}", headers=api.auth), 404)
    assert list(await listed(api)) == ["Kept"]
    [incident] = await incidents(db)
    assert (incident.number, incident.status) == (1, "triggered")
    assert await pages_of(db, incident) == [(api.team["ann"].id, "pending")]
    assert (await pinged(api, kept_path))["monitor"] == "Kept"


async def test_a_schedule_or_policy_a_monitor_pages_cannot_be_deleted(api: Api, db: AsyncSession) -> None:
    backup, _ = await add(api)
    cron, _ = await add(api, "Cron")
    schedule_url = f"{API}/schedules/{api.schedule_id}"
    refused = problem(await api.client.delete(schedule_url, headers=api.auth), 409)
    assert refused["detail"] == (
        "Ops is paged by the heartbeat monitor Cron, the heartbeat monitor Nightly backup; "
        "point them at another schedule or policy first."
    )
    assert (await api.client.delete(f"{HEARTBEATS}/{cron['id']}", headers=api.auth)).status_code == 204
    refused = problem(await api.client.delete(schedule_url, headers=api.auth), 409)
    assert "the heartbeat monitor Nightly backup" in refused["detail"]
    assert (await api.client.get(schedule_url, headers=api.auth)).status_code == 200

    policy_id = await new_policy(api)
    await add(api, "Through a policy", schedule_id=None, escalation_policy_id=policy_id)
    policy_url = f"{POLICIES}/{policy_id}"
    refused = problem(await api.client.delete(policy_url, headers=api.auth), 409)
    assert refused["detail"] == (
        "Platform is paged by the heartbeat monitor Through a policy; point it at another schedule or policy first."
    )
    assert (await api.client.get(policy_url, headers=api.auth)).status_code == 200

    # Once nothing pages them, they go.
    for name, row in (await listed(api)).items():
        deleted = await api.client.delete(f"{HEARTBEATS}/{row['id']}", headers=api.auth)
        assert deleted.status_code == 204, (name, deleted.text)
    assert (await api.client.delete(policy_url, headers=api.auth)).status_code == 204
    assert (await api.client.delete(schedule_url, headers=api.auth)).status_code == 204
    assert backup["id"] not in (await api.client.get(HEARTBEATS, headers=api.auth)).text
