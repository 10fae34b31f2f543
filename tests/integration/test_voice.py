"""Voice calls (paging by phone call), end to end on both databases: the /me API and the profile form
that choose SMS, a call or both; the call placed through the fake Twilio's Calls API with its TwiML;
the key pressed posted back signed like Twilio does (1 acknowledges, 2 declines, anything else changes
nothing); Twilio's signed status callbacks (busy, no answer, failed and the one retry); a call that
waits after the text; and a call whose send times out (invariant 8). The embedded worker sends; delays
are scaled (a minute of escalation delay lasts SCALE seconds here)."""

from __future__ import annotations

import contextlib
import datetime
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog, Incident, IncidentResponder, TimelineEntry, UserProfile
from app.domain.roles import Role
from app.main import create_app
from app.services.accounts import set_paging_choice
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_paging_schedule, make_team, reload
from tests.fakes.servers import Failure, FakeServer, RecordedRequest, gather_url, signed_twilio_post
from tests.integration.test_acks import sms_request, until
from tests.web import csrf_token, login

SCALE = 0.05  # seconds per minute of delay
DELAY = 40  # minutes: the primary's step lasts two seconds here
RETRY_SECONDS = 60 * SCALE  # a call Twilio says failed is placed again a (scaled) minute later
ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}
PUBLIC_URL = "http://testserver.local"  # the test settings' public URL
ANSWER_PREFIX = PUBLIC_URL + "/integrations/twilio_voice/answer/"
STATUS_URL = PUBLIC_URL + "/integrations/twilio_voice/status"
PROFILE = "/ws/acme/profile/"
KEYS = "Press 1 to acknowledge, press 2 to decline."


@dataclass
class Voice:
    client: AsyncTestClient[Any]
    team: Team
    settings: Settings
    schedule: Any
    auth: dict[str, str]
    db: AsyncSession
    twilio: FakeServer

    @property
    def token(self) -> str:
        return self.settings.twilio_auth_token or ""

    async def token_of(self, key: str) -> dict[str, str]:
        token = await issue_token(self.db, self.team.workspace.id, self.team[key].id)
        return {"Authorization": f"Bearer {token}"}

    async def page_by(self, key: str, ways: list[str], after: int = 0) -> None:
        """How `key` is paged, set through the API with their own token."""
        response = await self.client.patch(
            "/api/v1/ws/acme/me", json={"page_by": ways, "voice_after_minutes": after}, headers=await self.token_of(key)
        )
        assert response.status_code == 200, response.text

    async def declare(self, title: str = "API down") -> Any:
        created = await self.client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": title, "severity": "SEV2", "schedule_id": str(self.schedule.id)},
            headers=self.auth,
        )
        assert created.status_code == 201, created.text
        return created.json()

    async def incident(self, incident_id: str) -> Any:
        return (await self.client.get(f"/api/v1/ws/acme/incidents/{incident_id}", headers=self.auth)).json()

    async def incident_page(self, incident_id: str) -> str:
        """The incident's web page as the owner sees it."""
        self.client.cookies.clear()
        await login(self.client, self.team["owner"].email, PASSWORD)
        page = await self.client.get(f"/ws/acme/incidents/{incident_id}")
        assert page.status_code == 200, page.text
        self.client.cookies.clear()
        return str(page.text)

    def calls(self, key: str | None = None) -> list[RecordedRequest]:
        """The calls Twilio was asked to place (to `key`'s phone)."""
        number = self.team[key].phone if key else None
        return [c for c in self.twilio.calls("/Calls.json") if number is None or c.form.get("To") == number]

    def texts(self, key: str) -> list[str]:
        number = self.team[key].phone
        return [c.form.get("Body", "") for c in self.twilio.calls("/Messages.json") if c.form.get("To") == number]

    async def called(self, key: str, count: int = 1, seconds: float = 10) -> RecordedRequest:
        """Wait for the `count`th call to `key`; that call."""

        async def placed() -> bool:
            return len(self.calls(key)) >= count

        await until(placed, seconds)
        return self.calls(key)[count - 1]

    async def texted(self, key: str, count: int = 1, seconds: float = 10) -> None:
        async def sent() -> bool:
            return len(self.texts(key)) >= count

        await until(sent, seconds)

    async def press(
        self, call: RecordedRequest, digits: str, answered_by: str | None = None, token: str | None = None
    ) -> Any:
        """What Twilio posts to the call's <Gather action> once a key is pressed (or none)."""
        url = gather_url(call.form["Twiml"])
        params = {"CallSid": sid_of(call), "AccountSid": self.settings.twilio_account_sid or "", "Digits": digits}
        if answered_by is not None:
            params["AnsweredBy"] = answered_by
        form, headers = signed_twilio_post(token or self.token, url, params)
        return await self.client.post(urlsplit(url).path, data=form, headers=headers)

    async def status(self, call: RecordedRequest, status: str, token: str | None = None, **extra: str) -> Any:
        """Twilio's status callback for the call."""
        params = {"CallSid": sid_of(call), "CallStatus": status, **extra}
        form, headers = signed_twilio_post(token or self.token, STATUS_URL, params)
        response = await self.client.post("/integrations/twilio_voice/status", data=form, headers=headers)
        return response

    async def sms(self, key: str, body: str) -> str:
        params = {"From": self.team[key].phone or "", "Body": body, "MessageSid": "SM" + uuid.uuid4().hex}
        content, headers = sms_request(self.settings, params)
        response = await self.client.post("/integrations/twilio_sms/", content=content, headers=headers)
        assert response.status_code == 200, response.text
        return str(response.text)


def sid_of(call: RecordedRequest) -> str:
    """The CallSid the fake Twilio gave the call."""
    assert call.response is not None, "the fake has not answered this call yet"
    return str(call.response["sid"])


async def rows(db: AsyncSession, channel: str, direction: str = "outbound") -> list[DeliveryLog]:
    session = await fresh(db)
    return list(
        await session.scalars(
            select(DeliveryLog)
            .where(DeliveryLog.channel == channel, DeliveryLog.direction == direction)
            .order_by(DeliveryLog.at)
        )
    )


async def timeline(db: AsyncSession, kind_prefix: str = "") -> list[tuple[str, str]]:
    session = await fresh(db)
    entries = await session.scalars(select(TimelineEntry).order_by(TimelineEntry.id))
    return [(e.kind, e.message) for e in entries if e.kind.startswith(kind_prefix)]


async def responders(db: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    session = await fresh(db)
    return [(r.user_id, r.source) for r in await session.scalars(select(IncidentResponder))]


async def page_states(voice: Voice, incident_id: str) -> list[tuple[str, int | None, str]]:
    state = await voice.incident(incident_id)
    return [(p["user"]["email"], p["step"], p["status"]) for p in state["pages"]]


Start = Callable[..., Awaitable[Voice]]


@pytest.fixture
async def start(
    integration_settings: Settings, db: AsyncSession, fake_slack: FakeServer, fake_twilio: FakeServer
) -> AsyncIterator[Start]:
    """Starts the app: Ann is on call (step 1), Ben is the backup `delay` (scaled) minutes later."""
    async with contextlib.AsyncExitStack() as stack:

        async def start_app(scale: float = SCALE, delay: int = DELAY, **changes: Any) -> Voice:
            settings = replace(integration_settings, seconds_per_delay_minute=scale, **changes)
            team = await make_team(db, "acme", ROLES)
            schedule = await make_paging_schedule(db, team, delay)
            token = await issue_token(db, team.workspace.id, team["owner"].id)
            client = await stack.enter_async_context(AsyncTestClient(app=create_app(settings)))
            return Voice(client, team, settings, schedule, {"Authorization": f"Bearer {token}"}, db, fake_twilio)

        yield start_app


@pytest.fixture
async def voice(start: Start) -> Voice:
    return await start()


@pytest.fixture
async def called(voice: Voice) -> tuple[Voice, Any, RecordedRequest]:
    """Ann, paged by voice only, is called for INC-1 "API down"."""
    await voice.page_by("ann", ["voice"])
    created = await voice.declare()
    call = await voice.called("ann")
    return voice, created, call


# ---------------------------------------------------------------- choosing: /me and the profile form


async def test_me_reads_and_changes_how_i_am_paged(voice: Voice, db: AsyncSession) -> None:
    ann = voice.team["ann"]
    auth = await voice.token_of("ann")
    me = await voice.client.get("/api/v1/ws/acme/me", headers=auth)
    assert me.status_code == 200, me.text
    assert me.json() == {
        "user": {"id": str(ann.id), "email": ann.email, "display_name": ann.display_name},
        "role": "member",
        "page_by": ["sms"],
        "voice_after_minutes": 0,
    }

    voice_only = await voice.client.patch("/api/v1/ws/acme/me", json={"page_by": ["voice"]}, headers=auth)
    assert voice_only.status_code == 200, voice_only.text
    assert (voice_only.json()["page_by"], voice_only.json()["voice_after_minutes"]) == (["voice"], 0)
    user = await reload(db, UserProfile, ann.id)
    assert (user.page_by_sms, user.page_by_voice) == (False, True)

    both = await voice.client.patch(
        "/api/v1/ws/acme/me", json={"page_by": ["sms", "voice"], "voice_after_minutes": 5}, headers=auth
    )
    assert both.status_code == 200, both.text
    assert (both.json()["page_by"], both.json()["voice_after_minutes"]) == (["sms", "voice"], 5)
    again = (await voice.client.get("/api/v1/ws/acme/me", headers=auth)).json()
    assert (again["page_by"], again["voice_after_minutes"], again["role"]) == (["sms", "voice"], 5, "member")
    # Only the minutes: the ways stay as they were.
    minutes = await voice.client.patch("/api/v1/ws/acme/me", json={"voice_after_minutes": 10}, headers=auth)
    assert (minutes.json()["page_by"], minutes.json()["voice_after_minutes"]) == (["sms", "voice"], 10)

    # A viewer says how they are paged too; it is their own.
    vic = (await voice.client.get("/api/v1/ws/acme/me", headers=await voice.token_of("vic"))).json()
    assert (vic["user"]["email"], vic["role"], vic["page_by"]) == (voice.team["vic"].email, "viewer", ["sms"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"page_by": []}, "page_by"),
        ({"page_by": ["fax"]}, "page_by"),
        ({"page_by": ["sms", "fax"]}, "page_by"),
        ({"page_by": ["voice"], "voice_after_minutes": 11}, "voice_after_minutes"),
        ({"voice_after_minutes": -1}, "voice_after_minutes"),
    ],
)
async def test_me_refuses_a_bad_choice_and_names_the_field(
    voice: Voice, db: AsyncSession, body: dict[str, Any], field: str
) -> None:
    auth = await voice.token_of("ann")
    before = (await voice.client.get("/api/v1/ws/acme/me", headers=auth)).json()
    refused = await voice.client.patch("/api/v1/ws/acme/me", json=body, headers=auth)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == [field], refused.text
    assert (await voice.client.get("/api/v1/ws/acme/me", headers=auth)).json() == before
    user = await reload(db, UserProfile, voice.team["ann"].id)
    assert (user.page_by_sms, user.page_by_voice, user.voice_after_minutes) == (True, False, 0)


async def test_me_refuses_an_unknown_field_and_changes_nothing(voice: Voice, db: AsyncSession) -> None:
    auth = await voice.token_of("ann")
    refused = await voice.client.patch(
        "/api/v1/ws/acme/me", json={"page_by": ["voice"], "phone": "+15550000000"}, headers=auth
    )
    assert refused.status_code == 422, refused.text
    assert "phone" in refused.text
    both_wrong = await voice.client.patch(
        "/api/v1/ws/acme/me", json={"page_by": [], "voice_after_minutes": 11}, headers=auth
    )
    assert both_wrong.status_code == 422
    assert {e["field"] for e in both_wrong.json()["errors"]} == {"page_by", "voice_after_minutes"}
    user = await reload(db, UserProfile, voice.team["ann"].id)
    assert (user.phone, user.page_by_sms, user.page_by_voice) == (voice.team["ann"].phone, True, False)
    assert (await voice.client.patch("/api/v1/ws/acme/me", json={"page_by": ["voice"]})).status_code == 401


def checked(page: str, value: str) -> bool:
    match = re.search(rf'<input type="checkbox" name="page_by" value="{value}"([^>]*)>', page)
    assert match, f"no page_by checkbox {value}"
    return "checked" in match.group(1)


def selected_minutes(page: str) -> list[str]:
    start = page.index('<select id="voice_after_minutes"')
    select_html = page[start : page.index("</select>", start)]
    return re.findall(r'<option value="(\d+)" selected>', select_html)


async def post_choice(client: AsyncTestClient[Any], ways: list[str], after: str) -> Any:
    token = await csrf_token(client, PROFILE)
    form = [("_csrf_token", token), *(("page_by", way) for way in ways), ("voice_after_minutes", after)]
    return await client.post(
        PROFILE + "paging",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


async def test_profile_form_saves_both_and_a_wait(voice: Voice, db: AsyncSession) -> None:
    ann = voice.team["ann"]
    await login(voice.client, ann.email, PASSWORD)
    page = (await voice.client.get(PROFILE)).text
    assert 'id="paging-section"' in page
    assert (checked(page, "sms"), checked(page, "voice"), selected_minutes(page)) == (True, False, ["0"])

    saved = await post_choice(voice.client, ["sms", "voice"], "5")
    assert saved.status_code == 303, saved.text
    shown = (await voice.client.get(saved.headers["location"])).text
    assert "Saved how you are paged" in shown
    assert (checked(shown, "sms"), checked(shown, "voice"), selected_minutes(shown)) == (True, True, ["5"])
    user = await reload(db, UserProfile, ann.id)
    assert (user.page_by_sms, user.page_by_voice, user.voice_after_minutes) == (True, True, 5)

    voice_only = await post_choice(voice.client, ["voice"], "0")
    assert voice_only.status_code == 303
    reloaded = (await voice.client.get(PROFILE)).text
    assert (checked(reloaded, "sms"), checked(reloaded, "voice"), selected_minutes(reloaded)) == (False, True, ["0"])


async def test_profile_form_shows_the_error_beside_the_field(voice: Voice, db: AsyncSession) -> None:
    ann = voice.team["ann"]
    await login(voice.client, ann.email, PASSWORD)
    nothing = await post_choice(voice.client, [], "3")
    assert nothing.status_code == 422, nothing.text
    assert 'aria-describedby="page_by-error"' in nothing.text
    error = re.search(r'<p class="error" id="page_by-error" role="alert">([^<]*)</p>', nothing.text)
    assert error and "at least one way" in error.group(1), nothing.text
    assert 'id="voice_after_minutes-error"' not in nothing.text
    assert selected_minutes(nothing.text) == ["3"]  # what was typed stays in the form

    too_long = await post_choice(voice.client, ["sms", "voice"], "11")
    assert too_long.status_code == 422
    assert 'id="voice_after_minutes-error"' in too_long.text
    assert 'id="page_by-error"' not in too_long.text
    assert (checked(too_long.text, "sms"), checked(too_long.text, "voice")) == (True, True)
    user = await reload(db, UserProfile, ann.id)
    assert (user.page_by_sms, user.page_by_voice, user.voice_after_minutes) == (True, False, 0)
    # Without the CSRF token nothing is saved either.
    forged = await voice.client.post(PROFILE + "paging", data={"page_by": "voice"}, follow_redirects=False)
    assert forged.status_code == 403
    assert (await reload(db, UserProfile, ann.id)).page_by_voice is False
