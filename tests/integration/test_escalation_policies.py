"""Escalation policies end to end, on both databases: the policies API (CRUD, field paths in 422s,
who may), schedules that page through a policy, incidents that run a policy's chain (steps, rounds,
declines, acks, resolve, skipped steps, "Escalate now", "Add a responder", the snapshot), the policy
pages and the incident page's chain view. The embedded worker runs the wake-ups and deliveries to
the fake Slack and Twilio; a minute of escalation delay lasts SCALE seconds here."""

from __future__ import annotations

import asyncio
import datetime
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import dramatiq
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import UserProfile
from app.db.transactions import writing
from app.domain.roles import Role
from app.main import create_app
from app.services.schedules import create_schedule, set_active
from app.services.tokens import issue_token
from tests.factories import Team, make_paging_schedule, make_team
from tests.fakes.servers import FakeServer
from tests.integration.test_acks import until
from tests.integration.test_contact_points import Web, texts, unverify
from tests.web import CSRF_INPUT

SCALE = 0.05  # seconds per configured minute
LONG = 600  # minutes: 30 s here, longer than any test waits
ROLES = {
    "owner": Role.OWNER,
    "admin": Role.ADMIN,
    "ann": Role.MEMBER,
    "ben": Role.MEMBER,
    "cat": Role.MEMBER,
    "dan": Role.MEMBER,
    "vic": Role.VIEWER,
}
API = "/api/v1/ws/acme"
POLICIES = API + "/escalation-policies"
PAGES = "/ws/acme/escalation-policies/"
CHAIN_KINDS = {"paged", "escalated", "skipped", "step_skipped", "nobody_acknowledged", "escalate_now"}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@pytest.fixture
async def web(integration_settings: Settings, db: AsyncSession) -> AsyncIterator[Web]:
    settings = replace(integration_settings, seconds_per_delay_minute=SCALE)
    team = await make_team(db, "acme", ROLES)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Web(client, team, settings, {"Authorization": f"Bearer {token}"})


async def bearer(db: AsyncSession, team: Team, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await issue_token(db, team.workspace.id, team[key].id)}"}


# ---------------------------------------------------------------- helpers


def target(thing: Any) -> dict[str, str]:
    """A policy target: a schedule row (whoever is on call in it) or a person."""
    if isinstance(thing, UserProfile):
        return {"user": thing.email}
    return {"schedule_id": str(thing.id)}


def step(delay: int, *targets: Any) -> dict[str, Any]:
    return {"delay_minutes": delay, "targets": [target(t) for t in targets]}


async def new_policy(web: Web, name: str, steps: list[dict[str, Any]], repeat: int = 0) -> dict[str, Any]:
    created = await web.client.post(POLICIES, json={"name": name, "repeat": repeat, "steps": steps}, headers=web.auth)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def declare(web: Web, policy_id: str | None = None, schedule_id: Any = None, title: str = "API down") -> Any:
    body: dict[str, Any] = {"title": title, "severity": "SEV2"}
    if policy_id is not None:
        body["escalation_policy_id"] = policy_id
    if schedule_id is not None:
        body["schedule_id"] = str(schedule_id)
    created = await web.client.post(API + "/incidents", json=body, headers=web.auth)
    assert created.status_code == 201, created.text
    return created.json()


async def link(web: Web, schedule_id: Any, policy_id: str | None) -> Any:
    changed = await web.client.patch(
        f"{API}/schedules/{schedule_id}", json={"escalation_policy_id": policy_id}, headers=web.auth
    )
    assert changed.status_code == 200, changed.text
    return changed.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    return response.json()  # type: ignore[no-any-return]


def fields(response: Any) -> dict[str, str]:
    """A 422 problem's errors, field path → message."""
    body = problem(response, 422)
    return {e["field"]: e["message"] for e in body["errors"]}


def messages(incident: Any, *kinds: str) -> list[str]:
    return [e["message"] for e in incident["timeline"] if not kinds or e["kind"] in kinds]


def chain_notes(incident: Any) -> list[tuple[str, str]]:
    return [(e["kind"], e["message"]) for e in incident["timeline"] if e["kind"] in CHAIN_KINDS]


def pages(incident: Any) -> list[tuple[str | None, int | None, int | None, str]]:
    """(email, step, round, status) of each page, as sent."""
    return [(p["user"]["email"] if p["user"] else None, p["step"], p["round"], p["status"]) for p in incident["pages"]]


def instant(raw: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(raw)


def clock(raw: str, user: UserProfile) -> str:
    """An instant of the API as `user` reads it in a message (HH:MM in their zone)."""
    return instant(raw).astimezone(ZoneInfo(user.time_zone)).strftime("%H:%M")


def slack_pages(fake: FakeServer, user: UserProfile) -> list[str]:
    """The Slack posts that page `user` (they start by mentioning them)."""
    mention = f"<@{user.slack_user_id}> you are paged for "
    return [str(c.params.get("text", "")) for c in fake.calls("chat.postMessage") if mention in str(c.params.get("text"))]


def slack_posts(fake: FakeServer, text: str) -> list[str]:
    return [str(c.params.get("text", "")) for c in fake.calls("chat.postMessage") if text in str(c.params.get("text"))]


async def settle() -> None:
    """Let the embedded worker finish what is queued now (wake-ups and deliveries)."""
    await asyncio.sleep(0.3)
    broker = dramatiq.get_broker()
    await asyncio.to_thread(broker.join, "paging")  # type: ignore[attr-defined]
    await asyncio.to_thread(broker.join, "notifications")  # type: ignore[attr-defined]


async def wait_incident(web: Web, incident_id: str, check: Callable[[Any], bool], seconds: float = 15) -> Any:
    """The incident once `check` holds for it (polling the API)."""
    state: dict[str, Any] = {}

    async def holds() -> bool:
        state["incident"] = await web.incident(incident_id)
        return check(state["incident"])

    await until(holds, seconds)
    return state["incident"]


async def texted(fake: FakeServer, user: UserProfile, count: int, seconds: float = 10) -> list[str]:
    async def arrived() -> bool:
        return len(texts(fake, user.phone)) >= count

    await until(arrived, seconds)
    return texts(fake, user.phone)


async def set_zone(db: AsyncSession, user: UserProfile, zone: str) -> None:
    async with writing(db):
        (await db.get_one(UserProfile, user.id, populate_existing=True)).time_zone = zone
    user.time_zone = zone


async def form_post(web: Web, path: str, data: dict[str, Any], from_page: str) -> Any:
    """Post a form like the browser does (fields may repeat: a list is sent as repeated fields)."""
    page = await web.client.get(from_page)
    match = CSRF_INPUT.search(page.text)
    assert match, f"no CSRF field on {from_page}"
    return await web.client.post(path, data={**data, "_csrf_token": match.group(1)}, follow_redirects=False)


def element(html: str, element_id: str) -> str:
    """The element with this id, to its matching closing tag (nested tags of the same name counted)."""
    start = html.find(f'id="{element_id}"')
    assert start >= 0, f"#{element_id} not on the page"
    start = html.rindex("<", 0, start)
    tag = re.match(r"<(\w+)", html[start:])
    assert tag
    name, depth, pos = tag.group(1), 0, start
    for match in re.finditer(rf"<(/?){name}\b[^>]*>", html[start:]):
        depth += -1 if match.group(1) else 1
        pos = start + match.end()
        if depth == 0:
            break
    return html[start:pos]


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# ---------------------------------------------------------------- the API: create, read, change, delete


async def test_policy_crud_round_trip(web: Web, db: AsyncSession) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    created = await new_policy(web, "  Payments   primary ", [step(5, ops), step(10, team["cat"], team["dan"])], 1)
    policy_id = created["id"]
    uuid.UUID(policy_id)
    user = {k: {"id": str(team[k].id), "email": team[k].email, "display_name": team[k].display_name} for k in ROLES}
    assert created == {
        "id": policy_id,
        "name": "Payments primary",  # spaces tidied
        "repeat": 1,
        "steps": [
            {"delay_minutes": 5, "targets": [{"schedule": {"id": str(ops.id), "name": "Ops"}}]},
            {"delay_minutes": 10, "targets": [{"user": user["cat"]}, {"user": user["dan"]}]},
        ],
        "used_by": [],
    }
    listed = await web.client.get(POLICIES, headers=web.auth)
    assert listed.status_code == 200
    assert listed.json() == [created]
    one = await web.client.get(f"{POLICIES}/{policy_id}", headers=web.auth)
    assert one.status_code == 200
    assert one.json() == created

    # PATCH replaces the steps whole; what is not given stays.
    replaced = await web.client.patch(
        f"{POLICIES}/{policy_id}", json={"steps": [step(7, team["ben"])]}, headers=web.auth
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {
        **created,
        "steps": [{"delay_minutes": 7, "targets": [{"user": user["ben"]}]}],
    }
    renamed = await web.client.patch(f"{POLICIES}/{policy_id}", json={"name": "Payments night"}, headers=web.auth)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {**replaced.json(), "name": "Payments night"}
    assert (await web.client.get(f"{POLICIES}/{policy_id}", headers=web.auth)).json() == renamed.json()

    second = await new_policy(web, "Any", [step(1, team["ann"])])
    assert [p["name"] for p in (await web.client.get(POLICIES, headers=web.auth)).json()] == ["Any", "Payments night"]

    gone = await web.client.delete(f"{POLICIES}/{policy_id}", headers=web.auth)
    assert gone.status_code == 204, gone.text
    problem(await web.client.get(f"{POLICIES}/{policy_id}", headers=web.auth), 404)
    problem(await web.client.delete(f"{POLICIES}/{policy_id}", headers=web.auth), 404)
    assert (await web.client.get(POLICIES, headers=web.auth)).json() == [second]


async def test_bad_policies_name_the_field_and_change_nothing(web: Web, db: AsyncSession) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    globex = await make_team(db, "globex", {"boss": Role.OWNER, "gil": Role.MEMBER})
    foreign = await create_schedule(
        db,
        globex.workspace.id,
        {
            "name": "Globex ops",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "00:00",
            "starts_at": (_now() - datetime.timedelta(hours=1)).isoformat(),
            "members": [globex["gil"].email],
            "escalation_delay_minutes": 15,
        },
        _now(),
    )
    kept = await new_policy(web, "Kept", [step(5, ops)])
    good = [step(5, ops), step(5, team["ann"])]

    async def refused(body: dict[str, Any]) -> dict[str, str]:
        return fields(await web.client.post(POLICIES, json=body, headers=web.auth))

    foreign_target = await refused({"name": "X", "steps": [step(5, ops), step(5, foreign)]})
    assert foreign_target == {"steps[1].targets[0].schedule_id": "Choose a schedule of this workspace."}
    unknown = await refused({"name": "X", "steps": [step(5, ops), {"delay_minutes": 5, "targets": [{"schedule_id": str(uuid.uuid4())}]}]})
    assert set(unknown) == {"steps[1].targets[0].schedule_id"}
    viewer = await refused({"name": "X", "steps": [step(5, team["vic"])]})
    assert set(viewer) == {"steps[0].targets[0].user"}
    assert team["vic"].email in viewer["steps[0].targets[0].user"]
    outsider = await refused({"name": "X", "steps": [step(5, ops), {"delay_minutes": 5, "targets": [{"user": globex["gil"].email}]}]})
    assert set(outsider) == {"steps[1].targets[0].user"}
    for delay in (0, 1441):
        assert await refused({"name": "X", "steps": [step(delay, ops), *good[1:]]}) == {
            "steps[0].delay_minutes": "Wait 1 to 1440 minutes before the next step."
        }
    assert set(await refused({"name": "X", "repeat": 6, "steps": good})) == {"repeat"}
    assert set(await refused({"name": "X", "repeat": -1, "steps": good})) == {"repeat"}
    assert await refused({"name": "X", "steps": []}) == {"steps": "Add at least one step."}
    assert set(await refused({"name": "X", "steps": [{"delay_minutes": 5, "targets": []}]})) == {"steps[0].targets"}
    both = {"schedule_id": str(ops.id), "user": team["ann"].email}
    assert "steps[0].targets[0]" in await refused({"name": "X", "steps": [{"delay_minutes": 5, "targets": [both]}]})
    assert set(await refused({"name": " ", "steps": good})) == {"name"}
    assert set(await refused({"name": "Kept", "steps": good})) == {"name"}
    # Several problems at once are all named.
    assert set(await refused({"name": "X", "repeat": 9, "steps": [step(0, team["vic"])]})) >= {
        "repeat",
        "steps[0].delay_minutes",
    }
    # Unknown fields are refused, at the top and inside a step.
    unknown_top = await web.client.post(POLICIES, json={"name": "X", "steps": good, "colour": "red"}, headers=web.auth)
    assert unknown_top.status_code == 422, unknown_top.text
    assert any("colour" in e["field"] for e in unknown_top.json()["errors"]), unknown_top.json()
    inner = {"name": "X", "steps": [{"delay_minutes": 5, "targets": [{"schedule_id": str(ops.id), "team": "a"}]}]}
    assert (await web.client.post(POLICIES, json=inner, headers=web.auth)).status_code == 422

    # A refused PATCH leaves the policy as it was (its steps are not half replaced).
    url = f"{POLICIES}/{kept['id']}"
    assert set(fields(await web.client.patch(url, json={"steps": [step(5, team["vic"])]}, headers=web.auth))) == {
        "steps[0].targets[0].user"
    }
    assert set(fields(await web.client.patch(url, json={"steps": [step(5, ops), step(5, foreign)]}, headers=web.auth))) == {
        "steps[1].targets[0].schedule_id"
    }
    assert set(fields(await web.client.patch(url, json={"repeat": 6}, headers=web.auth))) == {"repeat"}
    assert set(fields(await web.client.patch(url, json={"steps": []}, headers=web.auth))) == {"steps"}
    assert (await web.client.get(url, headers=web.auth)).json() == kept
    assert (await web.client.get(POLICIES, headers=web.auth)).json() == [kept]


async def test_who_may_read_and_write_policies(web: Web, db: AsyncSession) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    policy = await new_policy(web, "Payments", [step(5, ops)])
    url = f"{POLICIES}/{policy['id']}"
    body = {"name": "Other", "steps": [step(5, ops)]}

    viewer = await bearer(db, team, "vic")
    assert (await web.client.get(POLICIES, headers=viewer)).json() == [policy]
    assert (await web.client.get(url, headers=viewer)).status_code == 200
    problem(await web.client.post(POLICIES, json=body, headers=viewer), 403)
    problem(await web.client.patch(url, json={"name": "Mine"}, headers=viewer), 403)
    problem(await web.client.delete(url, headers=viewer), 403)
    member = await bearer(db, team, "ann")
    problem(await web.client.post(POLICIES, json=body, headers=member), 403)
    problem(await web.client.delete(url, headers=member), 403)

    globex = await make_team(db, "globex", {"boss": Role.OWNER})
    other = await bearer(db, globex, "boss")
    problem(await web.client.get(POLICIES, headers=other), 404)
    problem(await web.client.get(url, headers=other), 404)
    problem(await web.client.patch(url, json={"name": "Mine"}, headers=other), 404)
    problem(await web.client.delete(url, headers=other), 404)
    # Through its own workspace, another workspace's policy does not exist either.
    problem(await web.client.get(f"/api/v1/ws/globex/escalation-policies/{policy['id']}", headers=other), 404)
    problem(await web.client.delete(f"/api/v1/ws/globex/escalation-policies/{policy['id']}", headers=other), 404)
    assert (await web.client.get(f"/api/v1/ws/globex/escalation-policies", headers=other)).json() == []

    assert (await web.client.get(POLICIES, headers=web.auth)).json() == [policy]


# ---------------------------------------------------------------- schedules and policies


async def test_schedule_pages_through_a_policy_and_keeps_it_from_deletion(web: Web, db: AsyncSession) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    policy = await new_policy(web, "Night", [step(5, team["cat"])])
    night = f"{POLICIES}/{policy['id']}"
    assert (await web.client.get(f"{API}/schedules/{ops.id}", headers=web.auth)).json()["escalation_policy"] is None

    linked = await link(web, ops.id, policy["id"])
    assert linked["escalation_policy"] == {"id": policy["id"], "name": "Night"}
    assert (await web.client.get(f"{API}/schedules/{ops.id}", headers=web.auth)).json()["escalation_policy"] == {
        "id": policy["id"],
        "name": "Night",
    }
    assert (await web.client.get(night, headers=web.auth)).json()["used_by"] == ["Ops"]
    bad = await web.client.patch(
        f"{API}/schedules/{ops.id}", json={"escalation_policy_id": str(uuid.uuid4())}, headers=web.auth
    )
    assert set(fields(bad)) == {"escalation_policy_id"}

    in_use = problem(await web.client.delete(night, headers=web.auth), 409)
    assert "Ops" in in_use["detail"], in_use
    assert in_use["detail"].startswith("Night is in use by the schedule Ops")
    assert (await web.client.get(night, headers=web.auth)).status_code == 200

    # An incident opened on the schedule runs the policy, not the schedule's primary → backup.
    incident = await declare(web, schedule_id=ops.id)
    assert incident["escalation_policy"] == {"id": policy["id"], "name": "Night"}
    assert pages(incident) == [(team["cat"].email, 0, 0, "pending")]
    assert "Owner declared INC-1 (SEV2) on Ops through Night." in messages(incident)
    assert "Paging Cat by Slack and SMS, step 1 of 1." in messages(incident)

    unlinked = await link(web, ops.id, None)
    assert unlinked["escalation_policy"] is None
    deleted = await web.client.delete(night, headers=web.auth)
    assert deleted.status_code == 204, deleted.text
    # The running incident keeps its copy of the chain.
    after = await web.incident(incident["id"])
    assert pages(after) == [(team["cat"].email, 0, 0, "pending")]

    # A schedule cannot go while a policy step pages it.
    paging_ops = await new_policy(web, "Ops first", [step(5, ops), step(5, team["ben"])])
    await new_policy(web, "Also ops", [step(5, team["ann"]), step(5, team["ben"], ops)])
    refused = problem(await web.client.delete(f"{API}/schedules/{ops.id}", headers=web.auth), 409)
    assert refused["detail"] == "Ops is paged by the escalation policies Also ops, Ops first; take it out of them first."
    assert (await web.client.get(f"{API}/schedules/{ops.id}", headers=web.auth)).status_code == 200
    await web.client.delete(f"{POLICIES}/{paging_ops['id']}", headers=web.auth)
    still = problem(await web.client.delete(f"{API}/schedules/{ops.id}", headers=web.auth), 409)
    assert still["detail"] == "Ops is paged by the escalation policy Also ops; take it out of it first."
