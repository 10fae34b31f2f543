"""Voice calls (paging by phone call), end to end on both databases: the /me API and the profile form
that choose SMS, a call or both; the call placed through the fake Twilio's Calls API with its TwiML;
the key pressed posted back signed like Twilio does (1 acknowledges, 2 declines, anything else changes
nothing); Twilio's signed status callbacks (busy, no answer, failed and the one retry); a call that
waits after the text; and a call whose send times out (invariant 8). The embedded worker sends; delays
are scaled (a minute of escalation delay lasts SCALE seconds here)."""

from __future__ import annotations

import asyncio
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
from app.db.models import DeliveryLog, IncidentResponder, TimelineEntry, UserProfile
from app.domain.roles import Role
from app.main import create_app
from app.services import jobs
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_paging_schedule, make_team, reload
from tests.fakes.servers import Failure, FakeServer, RecordedRequest, gather_url, signed_twilio_post
from tests.integration.test_acks import sms_request, until
from tests.web import csrf_token, login

SCALE = 0.05  # seconds per minute of delay
DELAY = 40  # minutes: the primary's step lasts two seconds here
STEP = 160  # minutes: eight seconds, for tests that look around before the deadline comes
LONG_STEP = 400  # minutes: twenty seconds, for tests that must finish inside the step
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
        call = self.calls(key)[count - 1]

        async def recorded() -> bool:  # Twilio's callbacks find the call by the CallSid stored with "sent"
            if call.response is None:
                return False
            session = await fresh(self.db)
            found = await session.scalar(select(DeliveryLog.id).where(DeliveryLog.provider_id == sid_of(call)))
            return found is not None

        await until(recorded)
        return call

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
        return await self.client.post("/integrations/twilio_voice/status", data=form, headers=headers)

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


def lambda_async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """A plain check, for `until`."""

    async def wrapped() -> bool:
        return check()

    return wrapped


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


def to_calls(request: RecordedRequest) -> bool:
    """A fake-Twilio failure for the Calls API only (the SMS and Slack go through)."""
    return request.path.endswith("/Calls.json")


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
async def called(start: Start) -> tuple[Voice, Any, RecordedRequest]:
    """Ann, paged by voice only, is called for INC-1 "API down" (her step lasts STEP minutes)."""
    voice = await start(delay=STEP)
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
        "reminder_minutes": 0,
        "reminder_channels": ["slack"],
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


# ---------------------------------------------------------------- the call and its TwiML


def sentences_said(twiml: str) -> list[str]:
    return re.findall(r"<Say>([^<]*)</Say>", twiml)


async def test_a_call_is_placed_with_the_right_twiml(voice: Voice, db: AsyncSession, fake_slack: FakeServer) -> None:
    ann = voice.team["ann"]
    await voice.page_by("ann", ["voice"])
    created = await voice.declare('Disk <90% & "falling"')
    messages = [e["message"] for e in created["timeline"]]
    assert "Paging Ann (primary) by Slack and a call, step 1 of 2." in messages
    call = await voice.called("ann")
    (voice_row,) = await rows(db, "voice")

    form = call.form
    assert (form["To"], form["From"]) == (ann.phone, voice.settings.twilio_from_number)
    assert form["StatusCallback"] == STATUS_URL
    assert form["MachineDetection"] == "Enable"
    assert set(parse_qs(call.body.decode())["StatusCallbackEvent"]) >= {"ringing", "answered", "completed"}
    twiml = form["Twiml"]
    gather = re.search(r"<Gather ([^>]*)>", twiml)
    assert gather, twiml
    assert 'numDigits="1"' in gather.group(1)
    assert 'method="POST"' in gather.group(1)
    assert gather_url(twiml) == ANSWER_PREFIX + str(voice_row.id)  # the call's own delivery row
    # Each sentence twice, a one-second pause after each, then the key prompt; the title escaped.
    said = sentences_said(twiml)
    assert len(said) == 8, twiml
    assert said[:4] == said[4:]
    assert said[0] == "Vigilo page for Acme."
    assert said[1] == 'Incident 1: Disk &lt;90% &amp; "falling".'
    assert re.fullmatch(r"Step 1 of 2; next: Ben at \d\d:\d\d\.", said[2]), said[2]
    assert said[3] == KEYS
    assert twiml.count('<Pause length="1" />') == 8
    assert re.search(r"(<Say>[^<]*</Say><Pause length=\"1\" />){8}</Gather>", twiml), twiml
    assert "<Disk" not in twiml and "& " not in twiml  # nothing the title says is markup

    # A voice-only person gets no SMS; Slack still mentions them.
    await until(lambda_async(lambda: bool(fake_slack.calls("chat.postMessage"))))
    assert voice.texts("ann") == []
    assert voice_row.status == "sent"
    assert voice_row.provider_id == sid_of(call)
    assert ("delivery_sent", f"Call to {ann.phone} placed by Twilio.") in await timeline(db, "delivery")
    assert "Call: placed by Twilio" in await voice.incident_page(created["id"])

    # One call per page per person: waking its delivery again (a duplicate message, the sweeper) calls nobody.
    await jobs.deliver([voice_row.id])
    await jobs.deliver([voice_row.id])
    await until(lambda_async(lambda: bool(voice.texts("ben"))), seconds=DELAY * SCALE + 10)
    assert len(voice.calls("ann")) == 1
    assert [r.status for r in await rows(db, "voice")] == ["sent"]


# ---------------------------------------------------------------- the key pressed


async def test_key_1_acknowledges_once(called: Any, db: AsyncSession) -> None:
    voice, created, call = called
    ann = voice.team["ann"]
    answer = await voice.press(call, "1")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert "<Say>Acknowledged INC-1.</Say><Hangup />" in answer.text
    state = await voice.incident(created["id"])
    assert state["status"] == "acknowledged"
    assert [(r["user"]["email"], r["source"]) for r in state["responders"]] == [(ann.email, "voice")]
    assert [p["status"] for p in state["pages"]] == ["acknowledged"]
    assert "Ann acknowledged INC-1 via a phone call. 1 pending page stopped." in [
        e["message"] for e in state["timeline"]
    ]
    # Twilio retries the same request: the same answer, nothing done twice.
    again = await voice.press(call, "1")
    assert again.status_code == 200
    assert "<Say>Acknowledged INC-1.</Say>" in again.text
    assert await responders(db) == [(ann.id, "voice")]
    (inbound,) = await rows(db, "voice", "inbound")
    assert (inbound.status, inbound.error, inbound.external_id) == ("processed", "Acknowledged INC-1.", sid_of(call))
    # The chain stopped: nobody else is paged at the deadline.
    await asyncio.sleep(STEP * SCALE + 1)
    assert voice.texts("ben") == []
    assert len(voice.calls()) == 1
    kinds = [kind for kind, _ in await timeline(db)]
    assert kinds.count("acknowledged") == 1
    assert "escalated" not in kinds


async def test_key_2_declines_and_pages_the_backup_at_once(start: Start, db: AsyncSession) -> None:
    voice = await start(delay=LONG_STEP)  # the backup comes long before the deadline
    await voice.page_by("ann", ["voice"])
    created = await voice.declare()
    call = await voice.called("ann")
    answer = await voice.press(call, "2")
    assert answer.status_code == 200
    assert "<Say>Declined INC-1; paging step 2 of 2: Ben.</Say><Hangup />" in answer.text
    await voice.texted("ben", seconds=8)
    assert await page_states(voice, created["id"]) == [
        (voice.team["ann"].email, 0, "declined"),
        (voice.team["ben"].email, 1, "pending"),
    ]
    messages = [e["message"] for e in (await voice.incident(created["id"]))["timeline"]]
    assert "Ann declined INC-1." in messages
    assert "Paging Ben (backup) by Slack and SMS, step 2 of 2." in messages
    assert await responders(db) == []
    assert len(voice.calls()) == 1


@pytest.mark.parametrize(
    ("digits", "answered_by", "note"),
    [
        ("", None, "Ann answered the call for INC-1 but pressed no key; the chain goes on."),
        ("7", None, "Ann pressed 7 on the call for INC-1, which means nothing; the chain goes on."),
        ("", "machine_start", "The call to Ann for INC-1 reached voicemail; the chain goes on."),
        ("1", "machine_end_beep", "The call to Ann for INC-1 reached voicemail; the chain goes on."),
    ],
    ids=["no-key", "wrong-key", "voicemail", "voicemail-tones"],
)
async def test_no_key_a_wrong_key_or_voicemail_change_nothing(
    start: Start, db: AsyncSession, digits: str, answered_by: str | None, note: str
) -> None:
    voice = await start(delay=STEP)
    await voice.page_by("ann", ["voice"])
    created = await voice.declare()
    call = await voice.called("ann")
    answer = await voice.press(call, digits, answered_by)
    assert answer.status_code == 200
    assert "<Say>Nothing was changed. Goodbye.</Say><Hangup />" in answer.text
    assert await timeline(db, "call_unanswered") == [("call_unanswered", note)]
    state = await voice.incident(created["id"])
    assert (state["status"], state["responders"]) == ("triggered", [])
    assert [p["status"] for p in state["pages"]] == ["pending"]
    assert voice.texts("ben") == []  # not before the deadline
    (inbound,) = await rows(db, "voice", "inbound")
    assert inbound.status == "ignored"
    # A retry of the same request is answered the same and noted once.
    assert "Nothing was changed. Goodbye." in (await voice.press(call, digits, answered_by)).text
    assert len(await timeline(db, "call_unanswered")) == 1

    # At the step's deadline the chain goes on: the backup is paged, Ann is not called again.
    await voice.texted("ben", seconds=STEP * SCALE + 10)
    assert await page_states(voice, created["id"]) == [
        (voice.team["ann"].email, 0, "escalated"),
        (voice.team["ben"].email, 1, "pending"),
    ]
    assert ("escalated", f"No acknowledgement within {STEP} min of step 1 of 2.") in await timeline(db)
    assert len(voice.calls("ann")) == 1
    assert await responders(db) == []


# ---------------------------------------------------------------- what became of the call (status callbacks)


def call_states(page: str) -> list[str]:
    return re.findall(r'<li class="delivery-\w+">Call: ([^<]*)</li>', page)


@pytest.mark.parametrize(
    ("status", "shown", "note"),
    [
        ("busy", "busy", "the line was busy; the chain goes on at its deadline."),
        ("no-answer", "no answer", "nobody answered; the chain goes on at its deadline."),
    ],
    ids=["busy", "no-answer"],
)
async def test_busy_and_no_answer_are_answers_the_chain_goes_on_at_its_deadline(
    start: Start, db: AsyncSession, status: str, shown: str, note: str
) -> None:
    voice = await start(delay=STEP)
    await voice.page_by("ann", ["voice"])
    created = await voice.declare()
    call = await voice.called("ann")
    phone = voice.team["ann"].phone
    assert (await voice.status(call, "initiated")).status_code == 200
    assert (await voice.status(call, "ringing")).status_code == 200
    assert call_states(await voice.incident_page(created["id"])) == ["ringing"]

    assert (await voice.status(call, status)).status_code == 200
    assert (await voice.status(call, status)).status_code == 200  # Twilio retries: said once
    assert await timeline(db, "delivery_unanswered") == [("delivery_unanswered", f"Call to {phone}: {note}")]
    assert call_states(await voice.incident_page(created["id"])) == [shown]
    (row,) = await rows(db, "voice")
    assert (row.status, row.provider_status, row.error, row.attempts) == ("sent", status, f"Twilio: {status}", 1)
    assert voice.texts("ben") == []  # an answer: nothing moves before the deadline
    assert [p["status"] for p in (await voice.incident(created["id"]))["pages"]] == ["pending"]

    await voice.texted("ben", seconds=STEP * SCALE + 10)
    assert await page_states(voice, created["id"]) == [
        (voice.team["ann"].email, 0, "escalated"),
        (voice.team["ben"].email, 1, "pending"),
    ]
    await asyncio.sleep(RETRY_SECONDS + 1)  # a retry, had there been one, would have come by now
    assert len(voice.calls("ann")) == 1
    assert call_states(await voice.incident_page(created["id"])) == [shown]


async def test_an_answered_call_shows_answered(called: Any, db: AsyncSession) -> None:
    voice, created, call = called
    for status in ("ringing", "in-progress"):
        assert (await voice.status(call, status, AnsweredBy="human")).status_code == 200
    assert call_states(await voice.incident_page(created["id"])) == ["answered"]
    await voice.press(call, "1")
    assert (await voice.status(call, "completed", CallDuration="14")).status_code == 200
    assert (await voice.status(call, "ringing")).status_code == 200  # late and out of order: ignored
    assert call_states(await voice.incident_page(created["id"])) == ["answered"]
    assert await timeline(db, "delivery_unanswered") == []
    # A status for a call we never placed is thanked and ignored.
    stranger = RecordedRequest("POST", "/Calls.json", {}, b"", 0.0, {"sid": "CA" + "f" * 32})
    assert (await voice.status(stranger, "busy")).status_code == 200
    assert await timeline(db, "delivery_unanswered") == []


async def test_voicemail_said_by_the_status_callback(called: Any, db: AsyncSession) -> None:
    """Twilio's machine detection says who answered on the status callback too: voicemail is said
    once, shown on the page, and changes nothing (the key webhook may not carry AnsweredBy)."""
    voice, created, call = called
    phone = voice.team["ann"].phone
    assert (await voice.status(call, "in-progress", AnsweredBy="machine_start")).status_code == 200
    assert (await voice.status(call, "completed", AnsweredBy="machine_start")).status_code == 200
    assert (await voice.status(call, "completed", AnsweredBy="machine_start")).status_code == 200
    assert await timeline(db, "delivery_unanswered") == [
        ("delivery_unanswered", f"Call to {phone} reached voicemail; the chain goes on at its deadline.")
    ]
    assert call_states(await voice.incident_page(created["id"])) == ["voicemail answered"]
    assert (await voice.incident(created["id"]))["status"] == "triggered"


async def test_a_failed_call_is_placed_once_more_after_a_minute_and_never_a_third_time(
    start: Start, db: AsyncSession
) -> None:
    voice = await start(delay=LONG_STEP)  # the retries come well inside the step
    await voice.page_by("ann", ["voice"])
    created = await voice.declare()
    first = await voice.called("ann")
    phone = voice.team["ann"].phone
    failed_at = datetime.datetime.now(datetime.UTC).timestamp()
    assert (await voice.status(first, "failed", ErrorCode="31005")).status_code == 200
    assert (await voice.status(first, "failed", ErrorCode="31005")).status_code == 200  # a retried callback
    assert ("delivery_retrying", f"Call to {phone} failed (Twilio error 31005); calling again in 3 s.") in (
        await timeline(db, "delivery")
    )
    assert call_states(await voice.incident_page(created["id"])) == ["waiting to retry"]

    second = await voice.called("ann", count=2, seconds=RETRY_SECONDS + 8)
    assert second.at - failed_at >= RETRY_SECONDS - 0.6, "the retry waits its (scaled) minute"
    assert gather_url(second.form["Twiml"]) == gather_url(first.form["Twiml"])  # the same call row
    assert sid_of(second) != sid_of(first)
    (row,) = await rows(db, "voice")
    assert (row.status, row.attempts, row.provider_id) == ("sent", 2, sid_of(second))
    assert ("delivery_sent", f"Call to {phone} placed by Twilio on attempt 2.") in await timeline(db, "delivery")
    assert (await voice.status(first, "failed")).status_code == 200  # the first call's late word: not this one's

    assert (await voice.status(second, "failed")).status_code == 200
    assert ("delivery_failed", f"Call to {phone} failed again; not called a third time.") in (
        await timeline(db, "delivery")
    )
    await asyncio.sleep(RETRY_SECONDS + 1.5)
    assert len(voice.calls("ann")) == 2
    (row,) = await rows(db, "voice")
    assert (row.status, row.attempts) == ("failed", 2)
    assert call_states(await voice.incident_page(created["id"])) == ["failed: Twilio: failed"]
    state = await voice.incident(created["id"])
    assert (state["status"], [p["status"] for p in state["pages"]]) == ("triggered", ["pending"])


async def test_a_call_retried_after_an_ack_is_not_placed(start: Start, db: AsyncSession) -> None:
    voice = await start(delay=LONG_STEP)
    await voice.page_by("ann", ["sms", "voice"])
    created = await voice.declare()
    call = await voice.called("ann")
    assert (await voice.status(call, "failed")).status_code == 200
    assert "Acknowledged INC-1." in await voice.sms("ann", "1A")

    async def skipped() -> bool:
        return [r.status for r in await rows(db, "voice")] == ["skipped"]

    await until(skipped, seconds=RETRY_SECONDS + 8)
    await asyncio.sleep(1)
    assert len(voice.calls("ann")) == 1
    (row,) = await rows(db, "voice")
    assert row.error == "not placed: the page was acknowledged first"
    assert (await voice.incident(created["id"]))["status"] == "acknowledged"


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (400, '{"code": 21211, "message": "The To number is not valid", "status": 400}'),
        (500, '{"code": 20500, "message": "Internal Server Error", "status": 500}'),
    ],
    ids=["400", "500"],
)
async def test_a_call_twilio_refuses_is_retried_once_after_a_minute(
    start: Start, db: AsyncSession, fake_twilio: FakeServer, status: int, refusal: str
) -> None:
    """The issue: "A call that provably failed (Twilio refused it, or "failed") is retried once after
    60 s." A refused call was never placed, so placing it once more doubles nothing."""
    voice = await start(delay=LONG_STEP)
    refused = Failure(status, refusal, {"Content-Type": "application/json"}, when=to_calls)
    fake_twilio.fail_next(refused, times=2)
    await voice.page_by("ann", ["voice"])
    await voice.declare()
    await until(lambda_async(lambda: len(voice.calls("ann")) == 1))
    second_after = RETRY_SECONDS + 8
    await until(lambda_async(lambda: len(voice.calls("ann")) == 2), seconds=second_after)
    first, second = voice.calls("ann")
    assert second.at - first.at >= RETRY_SECONDS - 0.6
    await asyncio.sleep(RETRY_SECONDS + 1.5)
    assert len(voice.calls("ann")) == 2  # never a third time
    (row,) = await rows(db, "voice")
    assert (row.status, row.attempts) == ("failed", 2)


# ---------------------------------------------------------------- forged webhooks


async def test_forged_voice_webhooks_are_refused_and_change_nothing(start: Start, db: AsyncSession) -> None:
    voice = await start(delay=LONG_STEP)  # nothing moves on its own while we look
    await voice.page_by("ann", ["voice"])
    created = await voice.declare()
    call = await voice.called("ann")
    forged_key = await voice.press(call, "1", token="not-the-auth-token")
    assert forged_key.status_code == 403
    forged_status = await voice.status(call, "failed", token="not-the-auth-token")
    assert forged_status.status_code == 403
    # Signed, but for another call's URL: Twilio signs the URL it calls, so this one is not signed.
    url = gather_url(call.form["Twiml"])
    form, headers = signed_twilio_post(voice.token, url, {"CallSid": sid_of(call), "Digits": "1"})
    other = urlsplit(ANSWER_PREFIX + str(uuid.uuid4())).path
    assert (await voice.client.post(other, data=form, headers=headers)).status_code == 403
    # Signed, then changed on the way.
    form, headers = signed_twilio_post(voice.token, url, {"CallSid": sid_of(call), "Digits": "7"})
    tampered = {**form, "Digits": "1"}
    assert (await voice.client.post(urlsplit(url).path, data=tampered, headers=headers)).status_code == 403
    # No signature at all.
    bare = await voice.client.post("/integrations/twilio_voice/status", data={"CallSid": sid_of(call)})
    assert bare.status_code == 403
    assert (await voice.client.post(urlsplit(url).path, data={"Digits": "2"})).status_code == 403

    await asyncio.sleep(RETRY_SECONDS + 1)  # a forged "failed" would have brought a second call by now
    assert len(voice.calls("ann")) == 1
    state = await voice.incident(created["id"])
    assert (state["status"], state["responders"], [p["status"] for p in state["pages"]]) == (
        "triggered",
        [],
        ["pending"],
    )
    (row,) = await rows(db, "voice")
    assert (row.status, row.provider_status, row.attempts) == ("sent", None, 1)
    inbound = await rows(db, "voice", "inbound")
    assert [r.status for r in inbound] == ["rejected"] * 4
    assert [r.status for r in await rows(db, "voice_status", "inbound")] == ["rejected"] * 2
    assert all(r.summary == "" for r in inbound)


# ---------------------------------------------------------------- both: the call some minutes after the text


async def test_with_both_the_call_comes_minutes_after_the_text(start: Start, db: AsyncSession) -> None:
    scale = 0.5
    voice = await start(scale=scale, delay=40)  # twenty seconds; the call waits two
    await voice.page_by("ann", ["sms", "voice"], after=4)
    created = await voice.declare()
    assert "Paging Ann (primary) by Slack, SMS and a call (after 4 min), step 1 of 2." in [
        e["message"] for e in created["timeline"]
    ]
    await voice.texted("ann")
    assert voice.calls("ann") == []
    sms = next(c for c in voice.twilio.calls("/Messages.json") if c.form.get("To") == voice.team["ann"].phone)
    call = await voice.called("ann", seconds=4 * scale + 8)
    assert call.at - sms.at >= 4 * scale - 0.6, "the call waited its minutes"
    assert len(voice.texts("ann")) == 1
    assert "<Say>Acknowledged INC-1.</Say>" in (await voice.press(call, "1")).text
    assert await responders(db) == [(voice.team["ann"].id, "voice")]


async def test_with_both_and_no_wait_the_text_and_the_call_go_out_at_once(start: Start, db: AsyncSession) -> None:
    voice = await start(scale=0.5, delay=40)  # twenty seconds: a call that waited would show
    await voice.page_by("ann", ["sms", "voice"], after=0)
    created = await voice.declare()
    assert "Paging Ann (primary) by Slack, SMS and a call, step 1 of 2." in [e["message"] for e in created["timeline"]]
    call = await voice.called("ann")
    await voice.texted("ann")
    sms = next(c for c in voice.twilio.calls("/Messages.json") if c.form.get("To") == voice.team["ann"].phone)
    assert abs(call.at - sms.at) < 2
    (row,) = await rows(db, "voice")
    assert row.status == "sent"
    await asyncio.sleep(1)
    assert (len(voice.calls("ann")), len(voice.texts("ann"))) == (1, 1)


@pytest.mark.parametrize("how", ["sms", "web"])
async def test_an_ack_before_the_call_means_no_call(start: Start, db: AsyncSession, how: str) -> None:
    scale = 0.5
    voice = await start(scale=scale, delay=40)
    await voice.page_by("ann", ["sms", "voice"], after=10)  # five seconds
    created = await voice.declare()
    await voice.texted("ann")
    if how == "sms":
        assert "Acknowledged INC-1." in await voice.sms("ann", "1A")
    else:
        await login(voice.client, voice.team["ann"].email, PASSWORD)
        page_url = f"/ws/acme/incidents/{created['id']}"
        token = await csrf_token(voice.client, page_url)
        acked = await voice.client.post(page_url + "/ack", data={"_csrf_token": token}, follow_redirects=False)
        assert acked.status_code == 303, acked.text
        voice.client.cookies.clear()
    assert (await voice.incident(created["id"]))["status"] == "acknowledged"

    async def not_placed() -> bool:
        return [r.status for r in await rows(db, "voice")] == ["skipped"]

    await until(not_placed, seconds=10 * scale + 8)
    await asyncio.sleep(1)
    assert voice.calls() == []
    (row,) = await rows(db, "voice")
    assert row.error == "not placed: the page was acknowledged first"
    phone = voice.team["ann"].phone
    assert ("delivery_skipped", f"Call to {phone} not placed: the page was acknowledged first.") in await timeline(
        db, "delivery"
    )
    assert call_states(await voice.incident_page(created["id"])) == [
        "not sent: not placed: the page was acknowledged first"
    ]


# ---------------------------------------------------------------- a send that times out (invariant 8)


async def test_a_call_whose_send_times_out_is_unknown_and_never_placed_again(
    start: Start, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    timeout = 1.0
    voice = await start(delay=STEP, send_timeout_seconds=timeout)
    hang = Failure(201, "{}", hang_seconds=timeout + 3, when=to_calls)
    fake_twilio.fail_next(hang)
    await voice.page_by("ann", ["voice"])
    created = await voice.declare()

    async def unknown() -> bool:
        return [r.status for r in await rows(db, "voice")] == ["unknown"]

    await until(unknown)
    phone = voice.team["ann"].phone
    notes = [m for _, m in await timeline(db, "delivery_unknown")]
    assert len(notes) == 1
    assert notes[0].startswith(f"Call to {phone} may not have been placed (timed out")
    assert notes[0].endswith("not placed again, so nobody is called twice.")
    assert call_states(await voice.incident_page(created["id"])) == ["unknown: may not have been placed"]
    # Even a "failed" from Twilio for it cannot bring a second call: the call's id was never known.
    await voice.texted("ben", seconds=STEP * SCALE + 10)
    await asyncio.sleep(RETRY_SECONDS + 1)
    assert len(voice.calls("ann")) == 1
    assert [r.status for r in await rows(db, "voice")] == ["unknown"]
    assert await page_states(voice, created["id"]) == [
        (voice.team["ann"].email, 0, "escalated"),
        (voice.team["ben"].email, 1, "pending"),
    ]
