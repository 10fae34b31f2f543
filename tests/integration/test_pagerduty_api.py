"""PagerDuty connections on both databases, without sending anything: the pagerduty-services API
(the inbound URL given once, keys never given back and stored sealed, field errors, who may, delete
while a policy pages through it), policy targets naming a service, the schedule form's "Page through
PagerDuty" and Settings → Integrations → PagerDuty."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import EscalationPolicy, OnCallSchedule, PagerDutyService
from app.domain.roles import Role
from app.main import create_app
from app.services.pagerduty import CANNOT_DECRYPT, create_service, list_services
from app.services.sealed import unseal
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_paging_schedule, make_team
from tests.web import CSRF_INPUT, login, schedule_form

ROLES = {
    "owner": Role.OWNER,
    "admin": Role.ADMIN,
    "ann": Role.MEMBER,
    "ben": Role.MEMBER,
    "vic": Role.VIEWER,
}
API = "/api/v1/ws/acme"
SERVICES = API + "/pagerduty-services"
POLICIES = API + "/escalation-policies"
INTEGRATIONS = "/ws/acme/settings/integrations"
NEW_SCHEDULE = "/ws/acme/oncall/schedules/new"
ROUTING_KEY = "R0UTINGKEYabcdefghijklmnopqrWXYZ"  # 32, like PagerDuty's
SECRET = "whsec-test-signing-secret-9876"
API_KEY = "u+RESTAPIKEYsecretpart"
KEYS = (ROUTING_KEY, SECRET, API_KEY)
URL = re.compile(r"^http://testserver\.local/integrations/pagerduty/([A-Za-z0-9_-]{16,})$")


@dataclass
class Api:
    client: AsyncTestClient[Any]
    team: Team
    settings: Settings
    auth: dict[str, str]

    async def bearer(self, db: AsyncSession, key: str, team: Team | None = None) -> dict[str, str]:
        team = team or self.team
        return {"Authorization": f"Bearer {await issue_token(db, team.workspace.id, team[key].id)}"}

    async def connect(self, label: str = "Payments PD", **extra: str) -> dict[str, Any]:
        body = {"label": label, "routing_key": ROUTING_KEY, "signing_secret": SECRET, **extra}
        created = await self.client.post(SERVICES, json=body, headers=self.auth)
        assert created.status_code == 201, created.text
        return created.json()  # type: ignore[no-any-return]

    async def services(self) -> list[dict[str, Any]]:
        listed = await self.client.get(SERVICES, headers=self.auth)
        assert listed.status_code == 200, listed.text
        return listed.json()  # type: ignore[no-any-return]

    async def policies(self) -> list[dict[str, Any]]:
        return (await self.client.get(POLICIES, headers=self.auth)).json()  # type: ignore[no-any-return]

    async def form(self, path: str, data: dict[str, str], from_page: str) -> Any:
        page = await self.client.get(from_page)
        match = CSRF_INPUT.search(page.text)
        assert match, f"no CSRF field on {from_page}"
        return await self.client.post(path, data={**data, "_csrf_token": match.group(1)}, follow_redirects=False)


@pytest.fixture
async def api(settings: Settings, db: AsyncSession) -> AsyncIterator[Api]:
    team = await make_team(db, "acme", ROLES)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Api(client, team, settings, {"Authorization": f"Bearer {token}"})


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    return response.json()  # type: ignore[no-any-return]


def fields(response: Any) -> dict[str, str]:
    return {e["field"]: e["message"] for e in problem(response, 422)["errors"]}


def no_keys_in(text: str) -> None:
    for key in KEYS:
        assert key not in text, f"{key!r} was given back"


async def rows(db: AsyncSession) -> list[PagerDutyService]:
    session = await fresh(db)
    found = list(await session.scalars(select(PagerDutyService).order_by(PagerDutyService.label)))
    await session.commit()
    return found


async def count(db: AsyncSession, model: Any) -> int:
    session = await fresh(db)
    total = await session.scalar(select(func.count()).select_from(model))
    await session.commit()
    return int(total or 0)


# ---------------------------------------------------------------- the API


async def test_connect_gives_the_url_once_and_the_keys_never(api: Api, db: AsyncSession) -> None:
    created = await api.connect(api_key=API_KEY)
    url = created.pop("webhook_url")
    assert api.settings.public_url == "http://testserver.local"
    match = URL.match(url)
    assert match, url
    token = match.group(1)
    assert created == {
        "id": created["id"],
        "label": "Payments PD",
        "routing_key_hint": "••••" + ROUTING_KEY[-4:],
        "api_key_set": True,
        "status": "ready",
        "used_by": [],
    }
    listed = await api.client.get(SERVICES, headers=api.auth)
    assert listed.json() == [created]  # no webhook_url: it was given once
    assert token not in listed.text
    # Keys never come back, in the 201 or the list.
    no_keys_in(url)
    no_keys_in(str(created))
    no_keys_in(listed.text)

    # Stored sealed: no column holds a key (or the token) as such, and the keys open under the secret key.
    [row] = await rows(db)
    sealed = (row.routing_key_sealed, row.signing_secret_sealed, row.api_key_sealed)
    for value in sealed:
        assert value
        for key in (*KEYS, token):
            assert key not in value
    assert [unseal(api.settings.secret_key, value) for value in sealed] == list(KEYS)
    assert row.webhook_token_hash != token and token not in row.webhook_token_hash
    assert row.routing_key_hint == "••••WXYZ"
    # Under another secret key the keys do not open, and the connection says so.
    [view] = await list_services(db, api.team.workspace.id, "another-secret-key-that-is-long-enough-012345")
    assert view.status == CANNOT_DECRYPT and not view.readable

    # The URL given is the connection's: unsigned it is refused (401), a token we never gave is 404.
    path = url.removeprefix(api.settings.public_url)
    assert (await api.client.post(path, content=b"{}")).status_code == 401
    assert (await api.client.post(path[:-4] + "zzzz", content=b"{}")).status_code == 404

    # Without a REST API key.
    second = await api.connect("Search PD")
    assert second["api_key_set"] is False
    assert [s["label"] for s in await api.services()] == ["Payments PD", "Search PD"]
    assert (await rows(db))[1].api_key_sealed is None


async def test_bad_connections_name_the_field_and_create_nothing(api: Api, db: AsyncSession) -> None:
    first = await api.connect()
    first.pop("webhook_url")
    good = {"label": "Other", "routing_key": ROUTING_KEY, "signing_secret": SECRET}

    async def refused(**changes: Any) -> dict[str, str]:
        body = {k: v for k, v in {**good, **changes}.items() if v is not None}
        response = await api.client.post(SERVICES, json=body, headers=api.auth)
        no_keys_in(response.text)
        return fields(response)

    assert set(await refused(label="   ")) == {"label"}
    assert set(await refused(label="x" * 121)) == {"label"}
    assert set(await refused(label=None)) == {"label"}  # missing
    assert set(await refused(routing_key="short")) == {"routing_key"}
    assert set(await refused(routing_key="R0UTINGKEY with spaces in it")) == {"routing_key"}
    assert set(await refused(routing_key="")) == {"routing_key"}
    assert set(await refused(signing_secret="")) == {"signing_secret"}
    assert set(await refused(signing_secret=None)) == {"signing_secret"}
    assert set(await refused(signing_secret="has a space")) == {"signing_secret"}
    assert set(await refused(api_key="not a key!")) == {"api_key"}
    assert await refused(label=" Payments   PD ") == {
        "label": "There is already a PagerDuty service called Payments PD."
    }
    # Everything wrong at once is named at once.
    assert set(await refused(label="", routing_key="x", signing_secret="", api_key="?")) == {
        "label",
        "routing_key",
        "signing_secret",
        "api_key",
    }
    # Unknown fields are refused like everywhere in the API.
    unknown = await api.client.post(SERVICES, json={**good, "colour": "red"}, headers=api.auth)
    assert any(e["field"] == "colour" for e in problem(unknown, 422)["errors"]), unknown.json()
    assert await api.services() == [first]
    assert len(await rows(db)) == 1


async def test_only_admins_of_the_workspace_see_or_change_connections(api: Api, db: AsyncSession) -> None:
    created = await api.connect()
    created.pop("webhook_url")
    one = f"{SERVICES}/{created['id']}"
    body = {"label": "Mine", "routing_key": ROUTING_KEY, "signing_secret": SECRET}
    for key in ("ann", "vic"):
        auth = await api.bearer(db, key)
        problem(await api.client.get(SERVICES, headers=auth), 403)
        problem(await api.client.post(SERVICES, json=body, headers=auth), 403)
        problem(await api.client.delete(one, headers=auth), 403)
    assert (await api.client.get(SERVICES, headers=await api.bearer(db, "admin"))).json() == [created]

    # Another workspace's admin: acme's service does not exist, through acme or through their own.
    globex = await make_team(db, "globex", {"boss": Role.OWNER})
    other = await api.bearer(db, "boss", globex)
    problem(await api.client.get(SERVICES, headers=other), 404)
    problem(await api.client.delete(one, headers=other), 404)
    problem(await api.client.delete(f"/api/v1/ws/globex/pagerduty-services/{created['id']}", headers=other), 404)
    assert (await api.client.get("/api/v1/ws/globex/pagerduty-services", headers=other)).json() == []
    # …nor on their Settings page.
    await login(api.client, globex["boss"].email, PASSWORD)
    for action in ("delete", "test", "keys"):
        path = f"/ws/globex/settings/integrations/pagerduty/{created['id']}/{action}"
        data = {"routing_key": ROUTING_KEY, "signing_secret": "x" * 20} if action == "keys" else {}
        assert (await api.form(path, data, "/ws/globex/settings/integrations")).status_code == 404
    assert await api.services() == [created]
    [row] = await rows(db)
    assert unseal(api.settings.secret_key, row.signing_secret_sealed) == SECRET


async def test_policies_page_through_a_service_and_keep_it_from_deletion(api: Api, db: AsyncSession) -> None:
    created = await api.connect()
    service = {"id": created["id"], "label": "Payments PD"}
    one = f"{SERVICES}/{created['id']}"
    policy = await api.client.post(
        POLICIES,
        json={
            "name": "Through PD",
            "steps": [{"delay_minutes": 7, "targets": [{"pagerduty_service_id": service["id"]}]}],
        },
        headers=api.auth,
    )
    assert policy.status_code == 201, policy.text
    view = policy.json()
    assert view["steps"] == [{"delay_minutes": 7, "targets": [{"pagerduty_service": service}]}]
    assert (await api.client.get(f"{POLICIES}/{view['id']}", headers=api.auth)).json() == view
    assert [s["used_by"] for s in await api.services()] == [["Through PD"]]

    in_use = problem(await api.client.delete(one, headers=api.auth), 409)
    assert "Through PD" in in_use["detail"], in_use
    assert len(await api.services()) == 1
    assert (await api.client.delete(f"{POLICIES}/{view['id']}", headers=api.auth)).status_code == 204
    assert [s["used_by"] for s in await api.services()] == [[]]
    deleted = await api.client.delete(one, headers=api.auth)
    assert deleted.status_code == 204, deleted.text
    problem(await api.client.delete(one, headers=api.auth), 404)
    problem(await api.client.delete(f"{SERVICES}/not-an-id", headers=api.auth), 404)
    assert await api.services() == []


async def test_policy_targets_name_a_service_of_this_workspace(api: Api, db: AsyncSession) -> None:
    ours = await api.connect()
    globex = await make_team(db, "globex", {"boss": Role.OWNER})
    theirs, _ = await create_service(
        db,
        globex.workspace.id,
        api.settings.secret_key,
        {"label": "Globex PD", "routing_key": ROUTING_KEY, "signing_secret": SECRET},
    )
    ops = await make_paging_schedule(db, api.team, 15)
    path = "steps[0].targets[0].pagerduty_service_id"

    async def refused(target: dict[str, str]) -> dict[str, str]:
        body = {"name": "X", "steps": [{"delay_minutes": 5, "targets": [target]}]}
        return fields(await api.client.post(POLICIES, json=body, headers=api.auth))

    for foreign in (str(theirs.id), str(uuid.uuid4()), "not-an-id"):
        assert await refused({"pagerduty_service_id": foreign}) == {
            path: "Choose a PagerDuty service connected to this workspace."
        }
    both = await refused({"pagerduty_service_id": ours["id"], "schedule_id": str(ops.id)})
    assert set(both) == {"steps[0].targets[0]"}
    assert set(await refused({"pagerduty_service_id": ours["id"], "user": api.team["ann"].email})) == {
        "steps[0].targets[0]"
    }
    assert await api.policies() == []


# ---------------------------------------------------------------- the schedule form


async def test_schedule_form_pages_through_pagerduty(api: Api, db: AsyncSession) -> None:
    team = api.team
    service = await api.connect("Payments")
    await login(api.client, team["owner"].email, PASSWORD)
    page = await api.client.get(NEW_SCHEDULE)
    assert 'name="pagerduty_service_id"' in page.text and f'value="{service["id"]}"' in page.text

    def form(name: str, delay: str = "20", **extra: str) -> dict[str, str]:
        people = [team["ann"].email, team["ben"].email]
        return schedule_form(people, team["owner"].email, name=name, escalation_delay_minutes=delay, **extra)

    async def save(data: dict[str, str]) -> Any:
        return await api.form(NEW_SCHEDULE, data, NEW_SCHEDULE)

    async def schedules() -> dict[str, Any]:
        found = (await api.client.get(API + "/schedules", headers=api.auth)).json()
        return {s["name"]: s["escalation_policy"] for s in found}

    saved = await save(form("Platform", pagerduty_service_id=service["id"]))
    assert saved.status_code == 303, saved.text
    [policy] = await api.policies()
    assert policy == {
        "id": policy["id"],
        "name": "PagerDuty: Payments",
        "repeat": 0,
        "steps": [
            {"delay_minutes": 20, "targets": [{"pagerduty_service": {"id": service["id"], "label": "Payments"}}]}
        ],
        "used_by": ["Platform"],
    }
    chosen = {"id": policy["id"], "name": "PagerDuty: Payments"}
    assert await schedules() == {"Platform": chosen}

    # The same service with the same delay again: the policy is found, not made twice.
    assert (await save(form("Second", pagerduty_service_id=service["id"]))).status_code == 303
    assert [p["id"] for p in await api.policies()] == [policy["id"]]
    assert await schedules() == {"Platform": chosen, "Second": chosen}

    # A form that fails creates no policy, even with a delay no policy has yet.
    policies_before, schedules_before = await count(db, EscalationPolicy), await count(db, OnCallSchedule)
    for bad, field in (
        ({"name": ""}, "name"),
        ({"name": "Platform"}, "name"),
        ({"escalation_to": "x@y.z"}, "escalation_to"),
    ):
        data = {**form("Third", "45", pagerduty_service_id=service["id"]), **bad}
        refused = await save(data)
        assert refused.status_code == 422, (bad, refused.text[:300])
        assert f'id="{field}-error"' in refused.text, bad
        assert f'<option value="{service["id"]}" selected>' in refused.text  # the choice is kept
    assert (await count(db, EscalationPolicy), await count(db, OnCallSchedule)) == (policies_before, schedules_before)

    # A service that is not this workspace's is named beside its field.
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        refused = await save(form("Third", pagerduty_service_id=unknown))
        assert refused.status_code == 422, refused.text[:300]
        error = re.search(r'<p class="error" id="pagerduty_service_id-error"[^>]*>([^<]*)</p>', refused.text)
        assert error, refused.text
        assert error.group(1) == "Choose a PagerDuty service connected to this workspace."
        assert 'aria-describedby="pagerduty_service_id-error"' in refused.text
    assert (await count(db, EscalationPolicy), await count(db, OnCallSchedule)) == (policies_before, schedules_before)

    # Another delay is another policy, named apart from the first.
    assert (await save(form("Third", "45", pagerduty_service_id=service["id"]))).status_code == 303
    third = (await schedules())["Third"]
    assert third["name"] == "PagerDuty: Payments (2)" and third["id"] != policy["id"]
    [made] = [p for p in await api.policies() if p["id"] == third["id"]]
    assert made["steps"][0]["delay_minutes"] == 45

    # The edit form chooses it the same way: Second, now 45 minutes, takes the policy Third got.
    second = next(
        s for s in (await api.client.get(API + "/schedules", headers=api.auth)).json() if s["name"] == "Second"
    )
    edit = f"/ws/acme/oncall/schedules/{second['id']}/edit"
    edited = await api.form(edit, form("Second", "45", pagerduty_service_id=service["id"]), edit)
    assert edited.status_code == 303, edited.text[:300]
    assert (await schedules())["Second"] == third
    assert len(await api.policies()) == 2


# ---------------------------------------------------------------- Settings → Integrations


async def test_integrations_page_connects_and_shows_the_url_once(api: Api, db: AsyncSession) -> None:
    await login(api.client, api.team["admin"].email, PASSWORD)
    empty = await api.client.get(INTEGRATIONS)
    assert empty.status_code == 200 and "No PagerDuty service connected." in empty.text
    create = INTEGRATIONS + "/pagerduty"
    keys = {"routing_key": ROUTING_KEY, "signing_secret": SECRET, "api_key": API_KEY}

    unnamed = await api.form(create, {"label": "", **keys}, INTEGRATIONS)
    assert unnamed.status_code == 422
    assert '<p class="error" id="label-error" role="alert">' in unnamed.text
    assert 'id="pd-label" name="label" value=""' in unnamed.text
    assert 'aria-describedby="label-error"' in unnamed.text
    no_keys_in(unnamed.text)
    bad_key = await api.form(create, {**keys, "label": "Payments", "routing_key": "nope"}, INTEGRATIONS)
    assert bad_key.status_code == 422
    assert 'id="routing_key-error"' in bad_key.text and 'id="label-error"' not in bad_key.text
    assert 'name="label" value="Payments"' in bad_key.text  # the label is kept, the keys are not
    no_keys_in(bad_key.text)
    assert await rows(db) == []

    connected = await api.form(create, {"label": "Payments", **keys}, INTEGRATIONS)
    assert connected.status_code == 200, connected.text[:300]
    shown = re.search(r'<code id="pagerduty-webhook-url">([^<]+)</code>', connected.text)
    assert shown, connected.text
    match = URL.match(shown.group(1))
    assert match, shown.group(1)
    token = match.group(1)
    no_keys_in(connected.text)
    assert "••••" + ROUTING_KEY[-4:] in connected.text
    again = await api.client.get(INTEGRATIONS)
    assert token not in again.text and 'id="pagerduty-webhook-url"' not in again.text
    assert "Payments" in again.text
    [row] = await rows(db)
    assert unseal(api.settings.secret_key, row.api_key_sealed) == API_KEY

    # Enter the keys again: a bad one is named beside its field and changes nothing.
    keys_path = f"{create}/{row.id}/keys"
    refused = await api.form(keys_path, {"routing_key": "x", "signing_secret": "new-secret"}, INTEGRATIONS)
    assert refused.status_code == 422 and 'id="keys-routing_key-error"' in refused.text
    assert "new-secret" not in refused.text
    new_key = "N3WROUTINGKEY" + "b" * 19
    accepted = await api.form(keys_path, {"routing_key": new_key, "signing_secret": "new-secret"}, INTEGRATIONS)
    assert accepted.status_code == 303, accepted.text[:300]
    [row] = await rows(db)
    assert unseal(api.settings.secret_key, row.routing_key_sealed) == new_key
    assert row.routing_key_hint == "••••bbbb"

    deleted = await api.form(f"{create}/{row.id}/delete", {}, INTEGRATIONS)
    assert deleted.status_code == 303
    assert await rows(db) == []


def web_schedule(api: Api, name: str, delay: str, service_id: str) -> dict[str, str]:
    people = [api.team["ann"].email, api.team["ben"].email]
    return schedule_form(
        people, api.team["owner"].email, name=name, escalation_delay_minutes=delay, pagerduty_service_id=service_id
    )


async def chosen_policy(api: Api, name: str) -> dict[str, Any]:
    found = {s["name"]: s for s in (await api.client.get(API + "/schedules", headers=api.auth)).json()}
    policy_id = found[name]["escalation_policy"]["id"]
    return (await api.client.get(f"{POLICIES}/{policy_id}", headers=api.auth)).json()  # type: ignore[no-any-return]


async def test_schedule_form_does_not_take_a_policy_that_pages_more_than_the_service(
    api: Api, db: AsyncSession
) -> None:
    """APP BUG (app/services/pagerduty_policy.py, policy_for_service): the "one target" check counts
    targets after the WHERE has kept only the service's, so a one-step policy paging the service AND
    a person (same delay) is taken for "PagerDuty: <label>", and the schedule then pages ann as well."""
    service = await api.connect("Payments")
    mixed = await api.client.post(
        POLICIES,
        json={
            "name": "PD and Ann",
            "steps": [
                {
                    "delay_minutes": 20,
                    "targets": [{"pagerduty_service_id": service["id"]}, {"user": api.team["ann"].email}],
                }
            ],
        },
        headers=api.auth,
    )
    assert mixed.status_code == 201, mixed.text
    await login(api.client, api.team["owner"].email, PASSWORD)
    saved = await api.form(NEW_SCHEDULE, web_schedule(api, "Platform", "20", service["id"]), NEW_SCHEDULE)
    assert saved.status_code == 303, saved.text[:300]
    policy = await chosen_policy(api, "Platform")
    assert policy["steps"] == [
        {"delay_minutes": 20, "targets": [{"pagerduty_service": {"id": service["id"], "label": "Payments"}}]}
    ]
    assert policy["name"] == "PagerDuty: Payments"


async def test_schedule_form_names_policies_of_long_labels_apart(api: Api, db: AsyncSession) -> None:
    """APP BUG (app/services/pagerduty_policy.py, policy_for_service): the free-name loop compares
    untruncated names with stored (truncated to 120) ones, then truncates; for a label of 106+
    characters the second delay's "PagerDuty: <label> (2)" is cut back to the first policy's name and
    the insert hits uq_escalation_policy_workspace_name: a 500 instead of a second policy."""
    service = await api.connect("L" * 110)  # labels up to 120 are accepted
    await login(api.client, api.team["owner"].email, PASSWORD)
    for name, delay in (("Platform", "20"), ("Search", "30")):
        saved = await api.form(NEW_SCHEDULE, web_schedule(api, name, delay, service["id"]), NEW_SCHEDULE)
        assert saved.status_code == 303, (name, saved.status_code, saved.text[:200])
    first, second = await chosen_policy(api, "Platform"), await chosen_policy(api, "Search")
    assert first["id"] != second["id"] and first["name"] != second["name"]
    assert [s["delay_minutes"] for s in (*first["steps"], *second["steps"])] == [20, 30]


async def test_schedule_form_shows_the_service_error_when_no_service_is_left(api: Api, db: AsyncSession) -> None:
    """APP BUG (app/templates/oncall/form.html, the `{% if services %}` around the PagerDuty select):
    when the chosen service was deleted (say by another admin while the form was open) and it was the
    workspace's last one, the 422 says "fix the fields marked below" but marks none: the select and
    its error are not rendered when no service is connected."""
    gone = await api.connect("Gone")
    await login(api.client, api.team["owner"].email, PASSWORD)
    page = await api.client.get(NEW_SCHEDULE)  # the form, with Gone to choose
    assert f'value="{gone["id"]}"' in page.text
    assert (await api.client.delete(f"{SERVICES}/{gone['id']}", headers=api.auth)).status_code == 204
    refused = await api.form(NEW_SCHEDULE, web_schedule(api, "Platform", "20", gone["id"]), NEW_SCHEDULE)
    assert refused.status_code == 422
    assert await count(db, OnCallSchedule) == 0
    assert 'id="pagerduty_service_id-error"' in refused.text, re.findall(r'class="error"[^>]*>([^<]*)<', refused.text)
