"""Escalation policies end to end, on both databases: the policies API (CRUD, field paths in 422s,
who may), schedules that page through a policy, incidents that run a policy's chain (steps, rounds,
declines, acks, resolve, skipped steps, "Escalate now", "Add a responder", the snapshot), the policy
pages and the incident page's chain view. The embedded worker runs the wake-ups and deliveries to
the fake Slack and Twilio; a minute of escalation delay lasts SCALE seconds here."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Callable
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
    return [
        str(c.params.get("text", "")) for c in fake.calls("chat.postMessage") if mention in str(c.params.get("text"))
    ]


def slack_posts(fake: FakeServer, text: str) -> list[str]:
    return [str(c.params.get("text", "")) for c in fake.calls("chat.postMessage") if text in str(c.params.get("text"))]


async def sleep_past(deadline: str, margin: float = 1.0) -> None:
    """Sleep until `margin` seconds after the deadline (an instant of the API)."""
    await asyncio.sleep(max(0.0, (instant(deadline) - _now()).total_seconds() + margin))


async def settle() -> None:
    """Give the embedded worker time to act on what is due now, and let it send what is queued.
    (Joining the paging queue would also wait for delayed wake-ups, so it is not joined.)"""
    await asyncio.sleep(0.5)
    broker = dramatiq.get_broker()
    for queue in ("pages", "notifications"):
        await asyncio.to_thread(broker.join, queue, timeout=5000)  # type: ignore[attr-defined]


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
    unknown = await refused(
        {"name": "X", "steps": [step(5, ops), {"delay_minutes": 5, "targets": [{"schedule_id": str(uuid.uuid4())}]}]}
    )
    assert set(unknown) == {"steps[1].targets[0].schedule_id"}
    viewer = await refused({"name": "X", "steps": [step(5, team["vic"])]})
    assert set(viewer) == {"steps[0].targets[0].user"}
    assert team["vic"].email in viewer["steps[0].targets[0].user"]
    outsider = await refused(
        {"name": "X", "steps": [step(5, ops), {"delay_minutes": 5, "targets": [{"user": globex["gil"].email}]}]}
    )
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
    assert set(
        fields(await web.client.patch(url, json={"steps": [step(5, ops), step(5, foreign)]}, headers=web.auth))
    ) == {"steps[1].targets[0].schedule_id"}
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
    assert (await web.client.get("/api/v1/ws/globex/escalation-policies", headers=other)).json() == []

    assert (await web.client.get(POLICIES, headers=web.auth)).json() == [policy]


# ---------------------------------------------------------------- schedules and policies


async def test_schedule_pages_through_a_policy_and_keeps_it_from_deletion(web: Web, db: AsyncSession) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    policy = await new_policy(web, "Night", [step(LONG, team["cat"])])
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
    assert (
        refused["detail"] == "Ops is paged by the escalation policies Also ops, Ops first; take it out of them first."
    )
    assert (await web.client.get(f"{API}/schedules/{ops.id}", headers=web.auth)).status_code == 200
    await web.client.delete(f"{POLICIES}/{paging_ops['id']}", headers=web.auth)
    still = problem(await web.client.delete(f"{API}/schedules/{ops.id}", headers=web.auth), 409)
    assert still["detail"] == "Ops is paged by the escalation policy Also ops; take it out of it first."


# ---------------------------------------------------------------- an incident runs the chain


async def test_three_steps_two_rounds_then_nobody_acknowledged(
    web: Web, db: AsyncSession, fake_twilio: FakeServer, fake_slack: FakeServer
) -> None:
    team = web.team
    ann, cat, dan = team["ann"], team["cat"], team["dan"]
    await set_zone(db, cat, "Asia/Kolkata")  # messages name times in the reader's zone
    ops = await make_paging_schedule(db, team, 15)
    delay = 8  # 0.4 s
    policy = await new_policy(web, "Payments", [step(delay, ops), step(delay, cat), step(delay, dan)], repeat=1)
    await link(web, ops.id, policy["id"])

    opened = await declare(web, schedule_id=ops.id)
    assert opened["escalation_policy"] == {"id": policy["id"], "name": "Payments"}
    assert pages(opened) == [(ann.email, 0, 0, "pending")]
    assert opened["escalation_due_at"] == opened["pages"][0]["deadline"]

    final = await wait_incident(
        web, opened["id"], lambda i: "nobody_acknowledged" in [e["kind"] for e in i["timeline"]]
    )
    await texted(fake_twilio, dan, 2)
    await settle()
    final = await web.incident(opened["id"])

    order = [(ann, 0), (cat, 1), (dan, 2)]
    assert pages(final) == [(u.email, s, r, "escalated") for r in (0, 1) for u, s in order]
    assert final["status"] == "triggered"
    assert final["escalation_due_at"] is None
    by_position = {(p["step"], p["round"]): p for p in final["pages"]}
    # Each step waits its delay after the one before it fired.
    sent = [instant(by_position[(s, r)]["sent_at"]) for r in (0, 1) for _, s in order]
    assert all(
        later - earlier >= datetime.timedelta(seconds=delay * SCALE) for earlier, later in itertools.pairwise(sent)
    )

    timeline = messages(final)
    paging = (
        {(0, r): f"Paging Ann (on call for Ops) by Slack and SMS, step 1 of 3, round {r + 1} of 2." for r in (0, 1)}
        | {(1, r): f"Paging Cat by Slack and SMS, step 2 of 3, round {r + 1} of 2." for r in (0, 1)}
        | {(2, r): f"Paging Dan by Slack and SMS, step 3 of 3, round {r + 1} of 2." for r in (0, 1)}
    )
    for line in paging.values():
        assert timeline.count(line) == 1, (line, timeline)
    assert messages(final, "paged") == [paging[(s, r)] for r in (0, 1) for _, s in order]
    assert messages(final, "nobody_acknowledged") == ["Nobody acknowledged INC-1 after 3 steps and 1 repeat."]
    kinds = [k for k, _ in chain_notes(final)]
    assert kinds[-1] == "nobody_acknowledged", kinds  # the end comes after the last step, and nothing after it
    timeouts = [
        f"No acknowledgement within {delay} min of step {s + 1} of 3, round {r + 1} of 2."
        for r in (0, 1)
        for _, s in order
    ]
    assert messages(final, "escalated")[:5] == timeouts[:5]
    assert "Owner declared INC-1 (SEV2) on Ops through Payments." in timeline

    # Each person is texted once a round, saying where the page stands and who comes next, when.
    def where(s: int, r: int, user: UserProfile) -> str:
        label = f"step {s + 1} of 3, round {r + 1} of 2"
        until_ = clock(by_position[(s, r)]["deadline"], user)
        nxt = {0: "Cat", 1: "Dan", 2: "whoever is on call for Ops (round 2)"}[s]
        if (s, r) == (2, 1):
            return f"{label}; the last step, it runs until {until_}"
        return f"{label}; next: {nxt} at {until_}"

    for user, s in order:
        bodies = texts(fake_twilio, user.phone)
        assert len(bodies) == 2, (user.email, bodies)
        for r, body in enumerate(bodies):
            assert re.fullmatch(
                rf"\[Vigilo Acme\] INC-1 SEV2 API down \({re.escape(where(s, r, user))}\)\. "
                r"Reply \dA to acknowledge, \dD to decline\.",
                body,
            ), body
        posts = slack_pages(fake_slack, user)
        assert len(posts) == 2, posts
        for r, post in enumerate(posts):
            assert f"you are paged for INC-1 SEV2: API down ({where(s, r, user)})" in post, post
    assert texts(fake_twilio, team["ben"].phone) == []  # Ops' own backup is not in the policy
    assert len(slack_posts(fake_slack, "Nobody acknowledged INC-1 after 3 steps and 1 repeat.")) == 1


async def test_a_step_passes_on_only_when_all_its_targets_decline(
    web: Web, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    team = web.team
    ann, ben, cat = team["ann"], team["ben"], team["cat"]
    policy = await new_policy(web, "Pair", [step(LONG, ann, ben), step(LONG, cat)])
    opened = await declare(web, policy["id"])
    assert pages(opened) == [(ann.email, 0, 0, "pending"), (ben.email, 0, 0, "pending")]
    assert opened["escalation_policy"] == {"id": policy["id"], "name": "Pair"}
    assert "Owner declared INC-1 (SEV2) on the Pair policy." in messages(opened)
    due = opened["escalation_due_at"]
    await texted(fake_twilio, ann, 1)
    await texted(fake_twilio, ben, 1)

    first = await web.sms(ann.phone, "1D")
    assert "Declined INC-1; the others paged with you still can answer." in first
    await settle()
    waiting = await web.incident(opened["id"])
    assert pages(waiting) == [(ann.email, 0, 0, "declined"), (ben.email, 0, 0, "pending")]
    assert waiting["escalation_due_at"] == due
    assert "Ann declined INC-1." in messages(waiting)
    assert texts(fake_twilio, cat.phone) == []

    # The second (and last) of the step declines on the web: the next step is paged at once.
    await web.login_as(ben.email)
    url = f"/ws/acme/incidents/{opened['id']}"
    answered = await form_post(web, url + "/decline", {}, url)
    assert answered.status_code == 303, answered.text
    shown = await web.client.get(answered.headers["location"])
    assert "Declined INC-1; paging step 2 of 2: Cat." in shown.text
    moved = await web.incident(opened["id"])
    assert pages(moved) == [
        (ann.email, 0, 0, "declined"),
        (ben.email, 0, 0, "declined"),
        (cat.email, 1, 0, "pending"),
    ]
    assert instant(moved["pages"][2]["sent_at"]) < instant(due)
    assert moved["escalation_due_at"] is not None
    assert instant(moved["escalation_due_at"]) > instant(due)
    assert messages(moved, "escalated") == []  # not a timeout
    assert "Paging Cat by Slack and SMS, step 2 of 2." in messages(moved)
    (body,) = await texted(fake_twilio, cat, 1)
    assert "(step 2 of 2; the last step, it runs until " in body


async def test_an_ack_by_someone_not_paged_stops_the_chain(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team = web.team
    ann, ben = team["ann"], team["ben"]
    policy = await new_policy(web, "Short", [step(40, ann), step(40, ben)])  # 2 s a step
    await web.login_as(team["admin"].email)
    opened = await declare(web, policy["id"])
    url = f"/ws/acme/incidents/{opened['id']}"
    acked = await form_post(web, url + "/ack", {}, url)
    assert acked.status_code == 303, acked.text
    state = await web.incident(opened["id"])
    assert state["status"] == "acknowledged"
    assert state["escalation_due_at"] is None
    assert [(r["user"]["email"], r["source"]) for r in state["responders"]] == [(team["admin"].email, "web")]
    assert pages(state) == [(ann.email, 0, 0, "cancelled")]
    (ack_entry,) = [e for e in state["timeline"] if e["kind"] == "acknowledged"]
    assert instant(ack_entry["at"]) < instant(opened["escalation_due_at"]), "acked too late to tell"

    # Well past the deadline, nobody more was paged.
    await sleep_past(opened["escalation_due_at"])
    await settle()
    final = await web.incident(opened["id"])
    assert pages(final) == [(ann.email, 0, 0, "cancelled")]
    assert final["escalation_due_at"] is None
    assert chain_notes(final) == [("paged", "Paging Ann by Slack and SMS, step 1 of 2.")]
    assert texts(fake_twilio, ben.phone) == []
    assert len(texts(fake_twilio, ann.phone)) == 1


async def test_resolve_cancels_the_pages_and_the_chain(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team = web.team
    ann, ben, cat = team["ann"], team["ben"], team["cat"]
    policy = await new_policy(web, "Short", [step(30, ann, ben), step(30, cat)])
    opened = await declare(web, policy["id"])
    resolved = await web.client.post(f"{API}/incidents/{opened['id']}/resolve", headers=web.auth)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert pages(resolved.json()) == [(ann.email, 0, 0, "cancelled"), (ben.email, 0, 0, "cancelled")]
    assert resolved.json()["escalation_due_at"] is None
    assert "Owner resolved INC-1. 2 pending pages cancelled." in messages(resolved.json())

    await sleep_past(opened["escalation_due_at"])
    await settle()
    final = await web.incident(opened["id"])
    assert pages(final) == [(ann.email, 0, 0, "cancelled"), (ben.email, 0, 0, "cancelled")]
    assert [k for k, _ in chain_notes(final)] == ["paged", "paged"]
    assert texts(fake_twilio, cat.phone) == []
    # Nothing to escalate any more.
    refused = problem(await web.client.post(f"{API}/incidents/{opened['id']}/escalate", headers=web.auth), 409)
    assert refused["detail"] == "INC-1 is resolved; there is nothing to escalate."


async def test_steps_that_reach_nobody_are_skipped_at_once(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team = web.team
    cat, dan = team["cat"], team["dan"]
    later = await create_schedule(
        db,
        team.workspace.id,
        {
            "name": "Later",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "00:00",
            "starts_at": (_now() + datetime.timedelta(days=2)).isoformat(),
            "members": [team["ann"].email],
            "escalation_delay_minutes": 15,
        },
        _now(),
    )
    policy = await new_policy(web, "Gappy", [step(LONG, later), step(LONG, cat), step(LONG, dan)])
    await unverify(db, cat.id, phone=True, slack=True)

    opened = await declare(web, policy["id"])
    assert pages(opened) == [(dan.email, 2, 0, "pending")]
    assert chain_notes(opened) == [
        ("skipped", "Step 1 of 3: nobody is on call for Later right now (a gap in the schedule); skipped."),
        ("step_skipped", "Step 1 of 3 pages nobody; moving on at once."),
        ("skipped", "Step 2 of 3: Cat has no verified phone number or Slack id; skipped."),
        ("step_skipped", "Step 2 of 3 pages nobody; moving on at once."),
        ("paged", "Paging Dan by Slack and SMS, step 3 of 3."),
    ]
    assert opened["escalation_due_at"] == opened["pages"][0]["deadline"]
    (body,) = await texted(fake_twilio, dan, 1)
    assert f"(step 3 of 3; the last step, it runs until {clock(opened['escalation_due_at'], dan)})" in body
    await settle()
    assert texts(fake_twilio, cat.phone) == []
    assert texts(fake_twilio, team["ann"].phone) == []


async def test_a_chain_that_reaches_nobody_says_so_at_once(
    web: Web, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    await set_active(db, team.workspace.id, ops.id, False, _now())
    await unverify(db, team["cat"].id, phone=True, slack=True)
    policy = await new_policy(web, "Empty", [step(LONG, ops), step(LONG, team["cat"])], repeat=1)

    opened = await declare(web, policy["id"])
    assert pages(opened) == []
    assert opened["escalation_due_at"] is None
    assert opened["status"] == "triggered"
    assert chain_notes(opened) == [
        ("skipped", "Step 1 of 2, round 1 of 2: Ops is inactive; skipped."),
        ("step_skipped", "Step 1 of 2, round 1 of 2 pages nobody; moving on at once."),
        ("skipped", "Step 2 of 2, round 1 of 2: Cat has no verified phone number or Slack id; skipped."),
        ("step_skipped", "Step 2 of 2, round 1 of 2 pages nobody; moving on at once."),
        ("skipped", "Step 1 of 2, round 2 of 2: Ops is inactive; skipped."),
        ("step_skipped", "Step 1 of 2, round 2 of 2 pages nobody; moving on at once."),
        ("skipped", "Step 2 of 2, round 2 of 2: Cat has no verified phone number or Slack id; skipped."),
        ("step_skipped", "Step 2 of 2, round 2 of 2 pages nobody; moving on at once."),
        ("nobody_acknowledged", "Nobody acknowledged INC-1 after 2 steps and 1 repeat."),
    ]

    async def said_in_slack() -> bool:
        return len(slack_posts(fake_slack, "Nobody acknowledged INC-1 after 2 steps and 1 repeat.")) == 1

    await until(said_in_slack)
    refused = problem(await web.client.post(f"{API}/incidents/{opened['id']}/escalate", headers=web.auth), 409)
    assert refused["detail"] == "INC-1 has no step left to escalate to."
    await settle()
    assert fake_twilio.calls("/Messages.json") == []


# ---------------------------------------------------------------- escalate now


async def test_escalate_now_from_the_api_and_the_page(
    web: Web, db: AsyncSession, fake_twilio: FakeServer, fake_slack: FakeServer
) -> None:
    team = web.team
    ann, ben, cat = team["ann"], team["ben"], team["cat"]
    policy = await new_policy(web, "Chain", [step(LONG, ann), step(LONG, ben), step(LONG, cat)])
    opened = await declare(web, policy["id"])
    escalate = f"{API}/incidents/{opened['id']}/escalate"

    viewer = await bearer(db, team, "vic")
    problem(await web.client.post(escalate, headers=viewer), 403)
    assert pages(await web.incident(opened["id"])) == [(ann.email, 0, 0, "pending")]

    now = await web.client.post(escalate, headers=web.auth)
    assert now.status_code == 200, now.text
    assert pages(now.json()) == [(ann.email, 0, 0, "escalated"), (ben.email, 1, 0, "pending")]
    assert instant(now.json()["escalation_due_at"]) > instant(opened["escalation_due_at"])
    assert chain_notes(now.json())[-2:] == [
        ("escalate_now", "Owner escalated now."),
        ("paged", "Paging Ben by Slack and SMS, step 2 of 3."),
    ]
    assert messages(now.json(), "escalated") == []  # not a timeout
    (body,) = await texted(fake_twilio, ben, 1)
    assert "(step 2 of 3; next: Cat at " in body

    # The button on the incident page, as a member.
    url = f"/ws/acme/incidents/{opened['id']}"
    await web.login_as(team["dan"].email)
    shown = (await web.client.get(url)).text
    assert 'id="escalate-now"' in shown
    seen = re.search(r'name="seen_due" value="([^"]+)"', shown)
    assert seen, "the button carries the deadline the person saw"
    clicked = await form_post(web, url + "/escalate", {"seen_due": seen.group(1)}, url)
    assert clicked.status_code == 303, clicked.text
    assert clicked.headers["location"].endswith(url)
    after = (await web.client.get(clicked.headers["location"])).text
    assert "Escalated INC-1." in after
    assert "Dan escalated now." in after
    state = await web.incident(opened["id"])
    assert pages(state)[-1] == (cat.email, 2, 0, "pending")
    assert 'id="escalate-now"' in after  # the last step still runs until its deadline
    # A second click from the same page (the chain has moved on since): nothing fires twice.
    twice = await form_post(web, url + "/escalate", {"seen_due": seen.group(1)}, url)
    assert "has moved on since you looked" in (await web.client.get(twice.headers["location"])).text
    assert pages(await web.incident(opened["id"]))[-1] == (cat.email, 2, 0, "pending")  # nothing more fired

    # The last step, no round left: escalating ends the chain.
    last = await web.client.post(escalate, headers=web.auth)
    assert last.status_code == 200, last.text
    assert last.json()["escalation_due_at"] is None
    assert pages(last.json())[-1] == (cat.email, 2, 0, "escalated")
    assert messages(last.json(), "nobody_acknowledged") == ["Nobody acknowledged INC-1 after 3 steps."]
    again = problem(await web.client.post(escalate, headers=web.auth), 409)
    assert again["detail"] == "INC-1 has no step left to escalate to."
    assert 'id="escalate-now"' not in (await web.client.get(url)).text
    refused = await form_post(web, url + "/escalate", {}, url)
    assert refused.status_code == 303
    assert "INC-1 has no step left to escalate to." in (await web.client.get(refused.headers["location"])).text
    final = await web.incident(opened["id"])
    assert messages(final, "nobody_acknowledged") == ["Nobody acknowledged INC-1 after 3 steps."]
    assert len(final["pages"]) == 3

    # A viewer sees no button and may not post it.
    await web.login_as(team["vic"].email)
    assert 'id="escalate-now"' not in (await web.client.get(url)).text
    await settle()
    for user in (ann, ben, cat):
        assert len(texts(fake_twilio, user.phone)) == 1, user.email
    assert len(slack_posts(fake_slack, "Nobody acknowledged INC-1 after 3 steps.")) == 1


async def test_a_viewer_cannot_escalate_on_the_web(web: Web, db: AsyncSession) -> None:
    team = web.team
    policy = await new_policy(web, "Chain", [step(LONG, team["ann"]), step(LONG, team["ben"])])
    opened = await declare(web, policy["id"])
    url = f"/ws/acme/incidents/{opened['id']}"
    await web.login_as(team["vic"].email)
    page = (await web.client.get(url)).text
    assert 'id="escalate-now"' not in page
    assert 'id="add-responder"' not in page
    denied = await form_post(web, url + "/escalate", {}, url)
    assert denied.status_code == 403
    assert pages(await web.incident(opened["id"])) == [(team["ann"].email, 0, 0, "pending")]


# ---------------------------------------------------------------- add a responder


async def test_add_a_responder_through_the_api(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team = web.team
    dan = team["dan"]
    ops = await make_paging_schedule(db, team, LONG)
    opened = await declare(web, schedule_id=ops.id)
    add = f"{API}/incidents/{opened['id']}/responders"

    added = await web.client.post(add, json={"user": f"  {dan.email.upper()} "}, headers=web.auth)
    assert added.status_code == 200, added.text
    assert pages(added.json()) == [(team["ann"].email, 0, 0, "pending"), (dan.email, None, None, "pending")]
    assert added.json()["pages"][1]["deadline"] is None
    assert "Owner added Dan as a responder; paging by Slack and SMS." in messages(added.json())
    assert added.json()["escalation_due_at"] == opened["escalation_due_at"]  # the chain goes on as it was
    (body,) = await texted(fake_twilio, dan, 1)
    assert body == "[Vigilo Acme] INC-1 SEV2 API down (added by Owner). Reply 1A to acknowledge, 1D to decline."

    twice = problem(await web.client.post(add, json={"user": dan.email}, headers=web.auth), 409)
    assert twice["detail"] == "Dan was already added to INC-1."
    assert set(fields(await web.client.post(add, json={"user": team["vic"].email}, headers=web.auth))) == {"user"}
    assert set(fields(await web.client.post(add, json={"user": "nobody@acme.test"}, headers=web.auth))) == {"user"}
    assert set(fields(await web.client.post(add, json={"user": ""}, headers=web.auth))) == {"user"}
    problem(await web.client.post(add, json={"user": team["cat"].email}, headers=await bearer(db, team, "vic")), 403)

    # An added responder who declines does not move the chain.
    declined = await web.sms(dan.phone, "1D")
    assert "Declined INC-1." in declined
    await settle()
    state = await web.incident(opened["id"])
    assert pages(state) == [(team["ann"].email, 0, 0, "pending"), (dan.email, None, None, "declined")]
    assert state["escalation_due_at"] == opened["escalation_due_at"]
    assert len(texts(fake_twilio, dan.phone)) == 1
    assert texts(fake_twilio, team["ben"].phone) == []
    assert texts(fake_twilio, team["cat"].phone) == []


async def test_add_a_responder_through_the_page(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team = web.team
    cat = team["cat"]
    ops = await make_paging_schedule(db, team, LONG)
    opened = await declare(web, schedule_id=ops.id)
    url = f"/ws/acme/incidents/{opened['id']}"
    await web.login_as(team["ann"].email)
    page = (await web.client.get(url)).text
    form = element(page, "add-responder")
    assert f'value="{cat.email}"' in form
    assert f'value="{team["vic"].email}"' not in form  # only people who can be paged are offered

    wrong = await form_post(web, url + "/responders", {"user": team["vic"].email}, url)
    assert wrong.status_code == 422, wrong.text
    error = element(wrong.text, "user-error")
    assert "Choose an active member of this workspace with role member or above." in error
    select = wrong.text[wrong.text.index('<select id="user"') :]
    assert 'aria-describedby="user-error"' in select[: select.index(">")]
    assert wrong.text.index('id="user"') < wrong.text.index('id="user-error"')
    assert len((await web.incident(opened["id"]))["pages"]) == 1

    done = await form_post(web, url + "/responders", {"user": cat.email}, url)
    assert done.status_code == 303, done.text
    assert (
        "Ann added Cat as a responder; paging by Slack and SMS."
        in (await web.client.get(done.headers["location"])).text
    )
    (body,) = await texted(fake_twilio, cat, 1)
    assert "(added by Ann)" in body
    shown = element((await web.client.get(url)).text, "chain")
    assert "Added by hand" in shown
    assert "Added: <strong>Cat</strong>" in shown

    again = await form_post(web, url + "/responders", {"user": cat.email}, url)
    assert again.status_code == 303
    assert "Cat was already added to INC-1." in (await web.client.get(again.headers["location"])).text
    await settle()
    assert len(texts(fake_twilio, cat.phone)) == 1
    assert pages(await web.incident(opened["id"])) == [
        (team["ann"].email, 0, 0, "pending"),
        (cat.email, None, None, "pending"),
    ]


# ---------------------------------------------------------------- the snapshot


async def test_a_running_incident_keeps_the_chain_it_opened_with(
    web: Web, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    team = web.team
    ann, ben, cat = team["ann"], team["ben"], team["cat"]
    ops = await make_paging_schedule(db, team, 15)
    policy = await new_policy(web, "Snap", [step(40, ann), step(8, ben), step(8, cat)])
    await link(web, ops.id, policy["id"])
    opened = await declare(web, schedule_id=ops.id)
    assert pages(opened) == [(ann.email, 0, 0, "pending")]

    url = f"{POLICIES}/{policy['id']}"
    edited = await web.client.patch(url, json={"steps": [step(40, ann), step(8, cat)], "repeat": 2}, headers=web.auth)
    assert edited.status_code == 200, edited.text
    assert len(edited.json()["steps"]) == 2
    problem(await web.client.delete(url, headers=web.auth), 409)
    await link(web, ops.id, None)
    assert (await web.client.delete(url, headers=web.auth)).status_code == 204
    assert (await web.client.get(url, headers=web.auth)).status_code == 404
    assert pages(await web.incident(opened["id"])) == [(ann.email, 0, 0, "pending")], "edited too late to tell"

    final = await wait_incident(
        web, opened["id"], lambda i: "nobody_acknowledged" in [e["kind"] for e in i["timeline"]]
    )
    assert pages(final) == [
        (ann.email, 0, 0, "escalated"),
        (ben.email, 1, 0, "escalated"),
        (cat.email, 2, 0, "escalated"),
    ]
    assert messages(final, "paged") == [
        "Paging Ann by Slack and SMS, step 1 of 3.",
        "Paging Ben by Slack and SMS, step 2 of 3.",
        "Paging Cat by Slack and SMS, step 3 of 3.",
    ]
    assert messages(final, "nobody_acknowledged") == ["Nobody acknowledged INC-1 after 3 steps."]
    (body,) = await texted(fake_twilio, ben, 1)
    assert "(step 2 of 3; next: Cat at " in body
    await web.login_as(team["ann"].email)
    assert "Policy Snap" in element((await web.client.get(f"/ws/acme/incidents/{opened['id']}")).text, "chain")


# ---------------------------------------------------------------- the policy pages


def fieldset(html: str, index: int) -> tuple[str, list[str]]:
    """A step row of the re-rendered policy form: its delay as typed and the targets selected."""
    row = element(html, f"step-{index}")
    delay = re.search(rf'<input id="step_{index}_delay"[^>]*value="([^"]*)"', row)
    assert delay, row
    return delay.group(1), re.findall(r'<option value="([^"]+)" selected>', row)


def card(html: str, name: str) -> str:
    """The list page's card of the policy called `name`, as text."""
    cards = re.findall(r'<li class="card" id="policy-[^"]+">.*?</li>\s*(?=<li class="card"|</ul>)', html, re.S)
    found = [text_of(c) for c in cards if f">{name}<" in c]
    assert len(found) == 1, (name, cards)
    return found[0]


async def test_policy_pages_create_with_field_errors_and_reorder(web: Web, db: AsyncSession) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    cat, dan = team["cat"], team["dan"]
    new = PAGES + "new"
    await web.login_as(team["admin"].email)
    blank = await web.client.get(new)
    assert blank.status_code == 200
    assert f'<option value="schedule:{ops.id}"' in blank.text
    assert f'<option value="user:{cat.email}"' in blank.text
    assert f'value="user:{team["vic"].email}"' not in blank.text  # viewers cannot be paged

    # A delay out of range comes back beside its field, with what was typed; nothing is saved.
    typed = {"name": "Web policy", "repeat": "1", "step_0_targets": [f"schedule:{ops.id}"], "step_0_delay": "0"}
    bad = await form_post(web, new, {**typed, "action": ""}, new)
    assert bad.status_code == 422, bad.text
    assert "Please fix the fields marked below; nothing was saved." in bad.text
    row = element(bad.text, "step-0")
    assert "Wait 1 to 1440 minutes before the next step." in element(row, "step_0_delay-error")
    delay_input = re.search(r'<input id="step_0_delay"[^>]*>', row)
    assert delay_input
    assert 'aria-invalid="true"' in delay_input.group(0)
    assert 'aria-describedby="step_0_delay-error"' in delay_input.group(0)
    assert row.index('id="step_0_delay"') < row.index('id="step_0_delay-error"')
    assert fieldset(bad.text, 0) == ("0", [f"schedule:{ops.id}"])
    assert 'value="Web policy"' in bad.text
    no_targets = await form_post(web, new, {"name": "Web policy", "step_0_delay": "5", "action": ""}, new)
    assert no_targets.status_code == 422
    assert "Choose at least one schedule, person or PagerDuty service to page." in element(
        no_targets.text, "step_0_targets-error"
    )
    # A person who cannot be paged (posted by hand: the form does not offer them) and a bad repeat.
    crafted = {**typed, "step_0_delay": "5", "step_0_targets": [f"user:{team['vic'].email}"], "repeat": "9"}
    refused = await form_post(web, new, {**crafted, "action": ""}, new)
    assert refused.status_code == 422
    assert "Repeat the chain 0 to 5 times." in element(refused.text, "repeat-error")
    crafted["repeat"] = "1"
    refused = await form_post(web, new, {**crafted, "action": ""}, new)
    assert refused.status_code == 422
    assert f"{team['vic'].email} is not an active member of this workspace with role member or above." in element(
        refused.text, "step_0_targets-error"
    )
    assert (await web.client.get(POLICIES, headers=web.auth)).json() == []

    # Row actions re-render the form without saving: add, move up and down, remove.
    two = {
        "name": "Web policy",
        "repeat": "1",
        "step_0_targets": [f"schedule:{ops.id}"],
        "step_0_delay": "5",
        "step_1_targets": [f"user:{cat.email}", f"user:{dan.email}"],
        "step_1_delay": "10",
    }
    added = await form_post(web, new, {**two, "action": "add"}, new)
    assert added.status_code == 200, added.text
    assert fieldset(added.text, 2) == ("15", [])
    assert 'id="step-3"' not in added.text
    up = await form_post(web, new, {**two, "action": "up-1"}, new)
    assert up.status_code == 200, up.text
    assert fieldset(up.text, 0) == ("10", [f"user:{cat.email}", f"user:{dan.email}"])
    assert fieldset(up.text, 1) == ("5", [f"schedule:{ops.id}"])
    down = await form_post(web, new, {**two, "action": "down-0"}, new)
    assert fieldset(down.text, 0) == fieldset(up.text, 0)
    removed = await form_post(web, new, {**two, "action": "remove-1"}, new)
    assert fieldset(removed.text, 0) == ("5", [f"schedule:{ops.id}"])
    assert 'id="step-1"' not in removed.text
    assert (await web.client.get(POLICIES, headers=web.auth)).json() == []

    # Saving the reordered form creates the policy as shown.
    swapped = {
        **two,
        "step_0_targets": two["step_1_targets"],
        "step_0_delay": "10",
        "step_1_targets": two["step_0_targets"],
        "step_1_delay": "5",
    }
    saved = await form_post(web, new, {**swapped, "action": ""}, new)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].endswith(PAGES)
    listing = (await web.client.get(saved.headers["location"])).text
    assert "Created Web policy." in listing
    shown = card(listing, "Web policy")
    assert "Cat, Dan · then 10 min" in shown
    assert "On call: Ops · then 5 min" in shown
    assert "Repeats 1 time." in shown
    assert "No schedule uses it." in shown
    (policy,) = (await web.client.get(POLICIES, headers=web.auth)).json()
    assert policy["repeat"] == 1
    assert [(s["delay_minutes"], s["targets"]) for s in policy["steps"]] == [
        (
            10,
            [
                {"user": {"id": str(cat.id), "email": cat.email, "display_name": "Cat"}},
                {"user": {"id": str(dan.id), "email": dan.email, "display_name": "Dan"}},
            ],
        ),
        (5, [{"schedule": {"id": str(ops.id), "name": "Ops"}}]),
    ]

    # The edit form shows it as saved, and saves changes.
    edit = PAGES + policy["id"]
    form = (await web.client.get(edit)).text
    assert fieldset(form, 0) == ("10", [f"user:{cat.email}", f"user:{dan.email}"])
    assert fieldset(form, 1) == ("5", [f"schedule:{ops.id}"])
    changed = await form_post(web, edit, {**swapped, "name": "Web policy 2", "repeat": "0", "action": ""}, edit)
    assert changed.status_code == 303, changed.text
    assert "Saved Web policy 2." in (await web.client.get(changed.headers["location"])).text
    assert (await web.client.get(f"{POLICIES}/{policy['id']}", headers=web.auth)).json()["name"] == "Web policy 2"
    refused = await form_post(web, edit, {**swapped, "step_1_delay": "1441", "action": ""}, edit)
    assert refused.status_code == 422
    assert "Wait 1 to 1440 minutes before the next step." in element(refused.text, "step_1_delay-error")
    assert (await web.client.get(f"{POLICIES}/{policy['id']}", headers=web.auth)).json()["steps"][1][
        "delay_minutes"
    ] == 5


async def test_policy_pages_delete_and_who_may(web: Web, db: AsyncSession) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    policy = await new_policy(web, "Payments", [step(5, ops), step(10, team["cat"])])
    await link(web, ops.id, policy["id"])
    delete = f"{PAGES}{policy['id']}/delete"

    await web.login_as(team["admin"].email)
    listing = (await web.client.get(PAGES)).text
    assert "Used by Ops." in card(listing, "Payments")
    in_use = await form_post(web, delete, {}, PAGES)
    assert in_use.status_code == 303, in_use.text
    shown = (await web.client.get(in_use.headers["location"])).text
    flash = re.search(r'<p class="error" role="alert">([^<]*)</p>', shown)
    assert flash, shown
    assert flash.group(1) == "Payments is in use by the schedule Ops; choose another policy or a backup there first."
    assert "Payments" in card(shown, "Payments")
    assert len((await web.client.get(POLICIES, headers=web.auth)).json()) == 1

    await link(web, ops.id, None)
    gone = await form_post(web, delete, {}, PAGES)
    assert gone.status_code == 303
    after = (await web.client.get(gone.headers["location"])).text
    assert "Deleted Payments. Running incidents keep their copy of it." in after
    assert (await web.client.get(POLICIES, headers=web.auth)).json() == []

    kept = await new_policy(web, "Night", [step(5, team["ann"])])
    # A member reads the list but may not create, edit or delete.
    await web.login_as(team["ann"].email)
    listing = await web.client.get(PAGES)
    assert listing.status_code == 200
    assert "Night" in card(listing.text, "Night")
    assert "New policy" not in listing.text
    assert "/delete" not in listing.text
    assert (await web.client.get(PAGES + "new")).status_code == 403
    assert (await web.client.get(PAGES + kept["id"])).status_code == 403
    denied = await form_post(web, PAGES + "new", {"name": "Mine", "step_0_delay": "5", "action": ""}, PAGES)
    assert denied.status_code == 403
    denied = await form_post(web, f"{PAGES}{kept['id']}/delete", {}, PAGES)
    assert denied.status_code == 403
    # So does a viewer.
    await web.login_as(team["vic"].email)
    listing = await web.client.get(PAGES)
    assert listing.status_code == 200
    assert "Ann · then 5 min" in card(listing.text, "Night")
    assert "New policy" not in listing.text
    assert (await web.client.get(PAGES + "new")).status_code == 403
    assert (await web.client.get(POLICIES, headers=web.auth)).json() == [kept]


# ---------------------------------------------------------------- the incident page shows the chain


def chain_rows(html: str) -> list[str]:
    """The rows of the incident page's chain (one per step), each with its pages, as HTML."""
    chain = element(html, "chain")
    start = chain.index('<ol class="chain">')
    listing = chain[start : chain.index("</ol>", start)]
    return re.split(r"(?=<li[^>]*>\s*<strong>(?:Step \d+|Primary|Backup)</strong>)", listing)[1:]


def next_step(html: str) -> str | None:
    return text_of(element(html, "next-step")) if 'id="next-step"' in html else None


async def test_incident_page_shows_the_chain_as_it_runs(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team = web.team
    ann, cat, dan = team["ann"], team["cat"], team["dan"]
    ops = await make_paging_schedule(db, team, 15)
    policy = await new_policy(web, "Payments", [step(LONG, ops), step(LONG, cat), step(LONG, dan)], repeat=1)
    opened = await declare(web, policy["id"])
    url = f"/ws/acme/incidents/{opened['id']}"
    escalate = f"{API}/incidents/{opened['id']}/escalate"
    await texted(fake_twilio, ann, 1)

    await web.login_as(team["vic"].email)  # a viewer sees it all
    page = (await web.client.get(url)).text
    assert "Policy Payments, repeats 1 time (copied when the incident opened)." in text_of(element(page, "chain"))
    due = opened["escalation_due_at"]
    assert next_step(page) == f"Escalates in less than a minute ({clock(due, team['vic'])}) to Cat unless acknowledged."
    rows = chain_rows(page)
    assert len(rows) == 3
    assert 'aria-current="step"' in rows[0]
    assert all('aria-current="step"' not in r for r in rows[1:])
    assert text_of(rows[0]).startswith("Step 1 : whoever is on call for Ops · 600 min")
    assert "Ann round 1 pending" in text_of(rows[0])
    assert text_of(rows[1]) == "Step 2 : Cat · 600 min"
    assert text_of(rows[2]) == "Step 3 : Dan · 600 min"
    assert "Nobody has acknowledged yet." in page

    second = (await web.client.post(escalate, headers=web.auth)).json()
    page = (await web.client.get(url)).text
    rows = chain_rows(page)
    assert 'aria-current="step"' in rows[1]
    assert "Ann round 1 escalated" in text_of(rows[0])
    assert "Cat round 1 pending" in text_of(rows[1])
    due = second["escalation_due_at"]
    assert next_step(page) == f"Escalates in less than a minute ({clock(due, team['vic'])}) to Dan unless acknowledged."

    third = (await web.client.post(escalate, headers=web.auth)).json()
    page = (await web.client.get(url)).text
    assert 'aria-current="step"' in chain_rows(page)[2]
    due = third["escalation_due_at"]
    assert next_step(page) == (
        f"Escalates in less than a minute ({clock(due, team['vic'])}) to whoever is on call for Ops (round 2) "
        "unless acknowledged."
    )
    # Round 2 of the first step: its row lists both rounds' pages.
    await web.client.post(escalate, headers=web.auth)
    rows = chain_rows((await web.client.get(url)).text)
    assert "Ann round 1 escalated" in text_of(rows[0])
    assert "Ann round 2 pending" in text_of(rows[0])
    assert 'aria-current="step"' in rows[0]

    # Acknowledged: the chain stops, and the page says nothing more will escalate.
    await web.login_as(cat.email)
    acked = await form_post(web, url + "/ack", {}, url)
    assert acked.status_code == 303
    page = (await web.client.get(url)).text
    assert next_step(page) is None
    assert 'id="escalate-now"' not in page
    assert all('aria-current="step"' not in r for r in chain_rows(page))
    assert "Ann round 2 cancelled" in text_of(chain_rows(page)[0])
    assert "Cat via web" in text_of(element(page, "chain"))


async def test_incident_page_on_the_last_step_says_nobody_comes_after(web: Web, db: AsyncSession) -> None:
    team = web.team
    policy = await new_policy(web, "Short", [step(LONG, team["ann"]), step(LONG, team["ben"])])
    opened = await declare(web, policy["id"])
    moved = (await web.client.post(f"{API}/incidents/{opened['id']}/escalate", headers=web.auth)).json()
    await web.login_as(team["ann"].email)
    page = (await web.client.get(f"/ws/acme/incidents/{opened['id']}")).text
    assert (
        next_step(page) == f"Nobody comes after: the page runs until {clock(moved['escalation_due_at'], team['ann'])}."
    )
    rows = chain_rows(page)
    assert 'aria-current="step"' in rows[1]
    assert "Ben pending" in text_of(rows[1])


async def test_a_schedule_without_a_policy_pages_primary_then_backup(
    web: Web, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    team = web.team
    ops = await make_paging_schedule(db, team, 40)  # 2 s a step
    await web.login_as(team["ann"].email)
    opened = await declare(web, schedule_id=ops.id)
    assert opened["escalation_policy"] is None
    assert messages(opened, "paged") == ["Paging Ann (primary) by Slack and SMS, step 1 of 2."]
    url = f"/ws/acme/incidents/{opened['id']}"
    page = (await web.client.get(url)).text
    assert "The schedule's primary, then its backup (copied when the incident opened)." in text_of(
        element(page, "chain")
    )
    assert (
        next_step(page)
        == f"Escalates in less than a minute ({clock(opened['escalation_due_at'], team['ann'])}) to Ben unless acknowledged."
    )
    rows = chain_rows(page)
    assert text_of(rows[0]).startswith("Primary : whoever is on call for Ops · 40 min")
    assert "Ann pending" in text_of(rows[0])
    assert text_of(rows[1]) == "Backup : Ben · 40 min"

    final = await wait_incident(
        web, opened["id"], lambda i: "nobody_acknowledged" in [e["kind"] for e in i["timeline"]]
    )
    assert messages(final, "paged") == [
        "Paging Ann (primary) by Slack and SMS, step 1 of 2.",
        "Paging Ben (backup) by Slack and SMS, step 2 of 2.",
    ]
    assert messages(final, "escalated")[0] == "No acknowledgement within 40 min of step 1 of 2."
    assert messages(final, "nobody_acknowledged") == ["Nobody acknowledged INC-1 after 2 steps."]
    assert pages(final) == [(team["ann"].email, 0, 0, "escalated"), (team["ben"].email, 1, 0, "escalated")]
    (body,) = await texted(fake_twilio, team["ben"], 1)
    assert "(step 2 of 2; the last step, it runs until " in body


async def test_a_decline_by_reply_code_declines_that_page(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    """Dan, added by hand as a responder, is then paged by the chain's step 2 (a second page, its
    own reply code). Replying with that page's code to decline must decline that page, and, Dan
    being the whole step, the chain must move on to step 3 at once."""
    team = web.team
    ann, cat, dan = team["ann"], team["cat"], team["dan"]
    policy = await new_policy(web, "Chain", [step(LONG, ann), step(LONG, dan), step(LONG, cat)])
    opened = await declare(web, policy["id"])
    added = await web.client.post(
        f"{API}/incidents/{opened['id']}/responders", json={"user": dan.email}, headers=web.auth
    )
    assert added.status_code == 200, added.text
    await texted(fake_twilio, dan, 1)
    moved = await web.client.post(f"{API}/incidents/{opened['id']}/escalate", headers=web.auth)
    assert pages(moved.json()) == [
        (ann.email, 0, 0, "escalated"),
        (dan.email, None, None, "pending"),
        (dan.email, 1, 0, "pending"),
    ]
    first, second = await texted(fake_twilio, dan, 2)
    assert "(added by Owner)" in first
    assert first.endswith("Reply 1A to acknowledge, 1D to decline.")
    assert "(step 2 of 3; next: Cat at " in second
    assert second.endswith("Reply 2A to acknowledge, 2D to decline.")

    answer = await web.sms(dan.phone, "2D")
    assert "Declined INC-1; paging step 3 of 3: Cat." in answer, answer
    state = await web.incident(opened["id"])
    assert pages(state) == [
        (ann.email, 0, 0, "escalated"),
        (dan.email, None, None, "pending"),
        (dan.email, 1, 0, "declined"),
        (cat.email, 2, 0, "pending"),
    ]
    await texted(fake_twilio, cat, 1)


async def test_policy_form_through_htmx(web: Web, db: AsyncSession) -> None:
    """The form posts with htmx: an error comes back as the form with the message beside the field
    (swapped in place), a save redirects the browser to the list, which shows the notice."""
    team = web.team
    ops = await make_paging_schedule(db, team, 15)
    new = PAGES + "new"
    await web.login_as(team["admin"].email)
    token = CSRF_INPUT.search((await web.client.get(new)).text)
    assert token
    htmx = {"HX-Request": "true", "HX-Target": "policy-form", "HX-Current-URL": "http://testserver.local" + new}
    body = {"name": "Htmx", "repeat": "0", "step_0_targets": f"schedule:{ops.id}", "_csrf_token": token.group(1)}
    bad = await web.client.post(new, data={**body, "step_0_delay": "abc", "action": ""}, headers=htmx)
    assert bad.status_code == 422, bad.text
    assert "The delay must be a whole number." in element(bad.text, "step_0_delay-error")
    assert 'id="policy-form"' in bad.text
    assert (await web.client.get(POLICIES, headers=web.auth)).json() == []

    saved = await web.client.post(new, data={**body, "step_0_delay": "5", "action": ""}, headers=htmx)
    assert saved.status_code < 400, saved.text
    assert saved.headers.get("HX-Redirect", "").endswith(PAGES), saved.headers
    assert "Created Htmx." in (await web.client.get(PAGES)).text
    assert [p["name"] for p in (await web.client.get(POLICIES, headers=web.auth)).json()] == ["Htmx"]
