"""Verified contact points and SMS reply codes (issue 13), end to end on both databases: the profile
pages with the fake Twilio and Slack servers as the person's phone and Slack client, the embedded
worker, signed SMS and Slack webhooks, and the pages that say who can be paged."""

from __future__ import annotations

import datetime
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog, Incident, IncidentResponder, Membership, Page, TimelineEntry, UserProfile
from app.db.transactions import writing
from app.domain.roles import Role
from app.domain.verification import ContactKind
from app.main import create_app
from app.services.accounts import add_user
from app.services.contact_points import confirm_code, send_code
from app.services.errors import FieldError
from app.services.schedules import create_schedule
from app.services.tokens import issue_token
from tests.factories import PASSWORD, Team, fresh, make_paging_schedule, make_team, reload
from tests.fakes.servers import FakeServer
from tests.integration.test_acks import reaction, slack_request, sms_request, until
from tests.web import login, post_form

CODE_IN_TEXT = re.compile(r"verification code is (\d{6})\b")
PROFILE = "/ws/acme/profile/"
NEW_PHONE = "+15557770001"
OTHER_PHONE = "+15557770002"
ROLES = {"owner": Role.OWNER, "admin": Role.ADMIN, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Web:
    client: AsyncTestClient[Any]
    team: Team
    settings: Settings
    auth: dict[str, str]

    async def login_as(self, email: str) -> None:
        self.client.cookies.clear()
        await login(self.client, email, PASSWORD)

    async def sms(self, sender: str | None, body: str) -> str:
        """Text Vigilo from `sender` like Twilio would; the reply's text."""
        params = {"From": sender or "", "Body": body, "MessageSid": "SM" + uuid.uuid4().hex}
        content, headers = sms_request(self.settings, params)
        response = await self.client.post("/integrations/twilio_sms/", content=content, headers=headers)
        assert response.status_code == 200, response.text
        return str(response.text)

    async def declare(self, title: str, schedule_id: uuid.UUID, slug: str = "acme", auth: Any = None) -> Any:
        created = await self.client.post(
            f"/api/v1/ws/{slug}/incidents",
            json={"title": title, "severity": "SEV2", "schedule_id": str(schedule_id)},
            headers=auth or self.auth,
        )
        assert created.status_code == 201, created.text
        return created.json()

    async def incident(self, incident_id: str, slug: str = "acme", auth: Any = None) -> Any:
        return (await self.client.get(f"/api/v1/ws/{slug}/incidents/{incident_id}", headers=auth or self.auth)).json()


@pytest.fixture
async def web(integration_settings: Settings, db: AsyncSession) -> AsyncIterator[Web]:
    team = await make_team(db, "acme", ROLES)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(integration_settings)) as client:
        yield Web(client, team, integration_settings, {"Authorization": f"Bearer {token}"})


async def add_person(
    db: AsyncSession,
    team: Team,
    key: str,
    role: Role = Role.MEMBER,
    phone: str | None = None,
    slack: str | None = None,
    verified: bool = False,
) -> UserProfile:
    """Someone who joined the workspace with these (by default unverified, or no) contact points."""
    async with writing(db):
        user = await add_user(
            db,
            f"{key}@{team.workspace.slug}.test",
            key.title(),
            password=PASSWORD,
            phone=phone,
            slack_user_id=slack,
            verified_at=_now() if verified else None,
        )
        db.add(Membership(workspace_id=team.workspace.id, user_id=user.id, role=role.value, is_active=True))
    team.people[key] = user
    return user


async def unverify(db: AsyncSession, user_id: uuid.UUID, phone: bool = False, slack: bool = False) -> None:
    """The contact point stays on the profile, but is no longer verified (as after a shared-value upgrade)."""
    async with writing(db):
        user = await db.get_one(UserProfile, user_id, populate_existing=True)
        if phone:
            user.phone_verified_at = None
        if slack:
            user.slack_verified_at = None


def texts(fake: FakeServer, number: str | None) -> list[str]:
    return [c.form.get("Body", "") for c in fake.calls("/Messages.json") if c.form.get("To") == number]


def sms_codes(fake: FakeServer, number: str) -> list[str]:
    return [m.group(1) for body in texts(fake, number) if (m := CODE_IN_TEXT.search(body))]


def slack_dm_codes(fake: FakeServer, slack_user_id: str) -> list[str]:
    dm = "D" + slack_user_id[1:]  # the fake's conversations.open answers D + the user id
    return [
        m.group(1)
        for c in fake.calls("chat.postMessage")
        if c.params.get("channel") == dm and (m := CODE_IN_TEXT.search(str(c.params.get("text", ""))))
    ]


async def code_texted_to(fake: FakeServer, number: str, count: int = 1) -> str:
    """The latest code the phone at `number` received (waiting for the `count`th to arrive)."""

    async def arrived() -> bool:
        return len(sms_codes(fake, number)) >= count

    await until(arrived)
    return sms_codes(fake, number)[-1]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def member_row(html: str, membership_id: uuid.UUID) -> str:
    start = html.index(f'id="member-{membership_id}"')
    return html[start : html.index("</tr>", start)]


async def membership_of(db: AsyncSession, team: Team, key: str) -> uuid.UUID:
    session = await fresh(db)
    found = await session.scalar(
        select(Membership.id).where(Membership.workspace_id == team.workspace.id, Membership.user_id == team[key].id)
    )
    assert found is not None
    return found


async def responders(db: AsyncSession, incident_number: int | None = None) -> list[tuple[uuid.UUID, str]]:
    session = await fresh(db)
    query = select(IncidentResponder).join(Incident, Incident.id == IncidentResponder.incident_id)
    if incident_number is not None:
        query = query.where(Incident.number == incident_number)
    return [(r.user_id, r.source) for r in await session.scalars(query)]


def assert_never_shown(code: str, *texts_: str) -> None:
    pattern = re.compile(rf"(?<!\d){code}(?!\d)")
    for text in texts_:
        assert not pattern.search(text), f"the code {code} leaked into: {text[:300]!r}"


async def assert_code_not_stored(db: AsyncSession, code: str) -> None:
    session = await fresh(db)
    rows = list(await session.scalars(select(DeliveryLog)))
    assert rows, "the code went out through the delivery log"
    for row in rows:
        assert_never_shown(code, row.summary or "", row.error or "", row.target or "", row.external_id or "")
    for entry in await session.scalars(select(TimelineEntry)):
        assert_never_shown(code, entry.message)


# ---------------------------------------------------------------- verifying a phone number


async def test_phone_verified_by_the_code_texted_to_it(
    web: Web, db: AsyncSession, fake_twilio: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    nia = await add_person(db, web.team, "nia")
    await web.login_as(nia.email)
    before = await web.client.get(PROFILE)
    assert 'id="not-pageable"' in before.text

    sent = await post_form(web.client, PROFILE + "contact/phone/send", {"phone": NEW_PHONE}, from_page=PROFILE)
    assert sent.status_code == 303, sent.text
    asked = await web.client.get(sent.headers["location"])
    assert "by SMS; type it below within 10 minutes." in asked.text
    assert f"Code texted to {NEW_PHONE}" in asked.text
    code = await code_texted_to(fake_twilio, NEW_PHONE)
    assert re.fullmatch(r"\d{6}", code)
    assert (await reload(db, UserProfile, nia.id)).phone_verified_at is None  # sent is not verified

    typo = await post_form(web.client, PROFILE + "contact/phone/verify", {"phone_code": wrong(code)}, PROFILE)
    assert typo.status_code == 422
    assert "That code is not right; 4 tries left." in typo.text
    assert (await reload(db, UserProfile, nia.id)).phone_verified_at is None

    done = await post_form(web.client, PROFILE + "contact/phone/verify", {"phone_code": code}, PROFILE)
    assert done.status_code == 303, done.text
    after = await web.client.get(done.headers["location"])
    assert "pages can reach you there." in after.text
    assert 'data-status="verified"' in after.text
    assert 'id="not-pageable"' not in after.text
    user = await reload(db, UserProfile, nia.id)
    assert (user.phone, user.paging_phone) == (NEW_PHONE, NEW_PHONE)
    assert user.phone_verified_at is not None

    # The code reached only the phone: not the delivery log, the timeline, the pages or any log line.
    assert len(texts(fake_twilio, NEW_PHONE)) == 1
    await assert_code_not_stored(db, code)
    assert_never_shown(code, asked.text, typo.text, after.text)
    assert_never_shown(code, *(record.getMessage() for record in caplog.records), caplog.text)


async def test_notices_name_the_number_as_it_is(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    nia = await add_person(db, web.team, "nia")
    await web.login_as(nia.email)
    sent = await post_form(web.client, PROFILE + "contact/phone/send", {"phone": NEW_PHONE}, from_page=PROFILE)
    asked = await web.client.get(sent.headers["location"])
    assert f"Sent a code to {NEW_PHONE} by SMS" in asked.text  # the "+" survives the redirect
    code = await code_texted_to(fake_twilio, NEW_PHONE)
    done = await post_form(web.client, PROFILE + "contact/phone/verify", {"phone_code": code}, PROFILE)
    after = await web.client.get(done.headers["location"])
    assert f"Verified {NEW_PHONE}: pages can reach you there." in after.text


async def test_five_wrong_tries_spend_the_code(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    nia = await add_person(db, web.team, "nia")
    await web.login_as(nia.email)
    await post_form(web.client, PROFILE + "contact/phone/send", {"phone": NEW_PHONE}, from_page=PROFILE)
    code = await code_texted_to(fake_twilio, NEW_PHONE)
    answers = []
    for _ in range(5):
        answer = await post_form(web.client, PROFILE + "contact/phone/verify", {"phone_code": wrong(code)}, PROFILE)
        assert answer.status_code == 422
        answers.append(answer.text)
    assert "4 tries left" in answers[0]
    assert "1 try left" in answers[3]
    assert "it was the last try; ask for a new code" in answers[4]
    late = await post_form(web.client, PROFILE + "contact/phone/verify", {"phone_code": code}, PROFILE)
    assert late.status_code == 422
    assert "There is no code waiting" in late.text
    assert (await reload(db, UserProfile, nia.id)).phone_verified_at is None


async def test_a_code_expires_after_ten_minutes(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    nia = await add_person(db, web.team, "nia")
    await web.login_as(nia.email)
    await post_form(web.client, PROFILE + "contact/phone/send", {"phone": NEW_PHONE}, from_page=PROFILE)
    code = await code_texted_to(fake_twilio, NEW_PHONE)
    later = _now() + datetime.timedelta(minutes=11)
    nia_id = nia.id  # a refused write rolls the test session back, expiring what it holds
    with pytest.raises(FieldError) as expired:
        await confirm_code(db, nia_id, ContactKind.PHONE, code, web.settings.secret_key, later)
    assert "expired" in expired.value.errors["phone_code"]
    # Still within the ten minutes on the wall clock, but an expired code is done for good.
    retry = await post_form(web.client, PROFILE + "contact/phone/verify", {"phone_code": code}, PROFILE)
    assert retry.status_code == 422
    assert "There is no code waiting" in retry.text
    assert (await reload(db, UserProfile, nia_id)).phone_verified_at is None


async def test_one_code_a_minute_per_number(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    nia = await add_person(db, web.team, "nia")
    await web.login_as(nia.email)
    first = await post_form(web.client, PROFILE + "contact/phone/send", {"phone": NEW_PHONE}, from_page=PROFILE)
    assert first.status_code == 303
    await code_texted_to(fake_twilio, NEW_PHONE)
    again = await post_form(web.client, PROFILE + "contact/phone/send", {"phone": NEW_PHONE}, from_page=PROFILE)
    assert again.status_code == 422
    assert "A code was sent to that phone number recently" in again.text
    # The limit is per number: someone else asking for one to it is refused too.
    await add_person(db, web.team, "zed")
    await web.login_as("zed@acme.test")
    other = await post_form(web.client, PROFILE + "contact/phone/send", {"phone": NEW_PHONE}, from_page=PROFILE)
    assert other.status_code == 422
    session = await fresh(db)
    queued = list(await session.scalars(select(DeliveryLog).where(DeliveryLog.target == NEW_PHONE)))
    assert len(queued) == 1
    assert len(texts(fake_twilio, NEW_PHONE)) == 1


async def test_five_codes_an_hour_per_number(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    nia_id = (await add_person(db, web.team, "nia")).id
    start = _now()
    for minute in range(5):
        await send_code(db, nia_id, ContactKind.PHONE, NEW_PHONE, start + datetime.timedelta(minutes=minute * 2))
    with pytest.raises(FieldError) as sixth:
        await send_code(db, nia_id, ContactKind.PHONE, NEW_PHONE, start + datetime.timedelta(minutes=12))
    assert "you can ask for another in about 48 minutes" in sixth.value.errors["phone"]
    # Another number is not held back by this one's limit.
    await send_code(db, nia_id, ContactKind.PHONE, OTHER_PHONE, start + datetime.timedelta(minutes=12))
    # An hour after the first, one more may go.
    await send_code(db, nia_id, ContactKind.PHONE, NEW_PHONE, start + datetime.timedelta(minutes=60, seconds=1))

    async def all_sent() -> bool:
        return len(texts(fake_twilio, NEW_PHONE)) == 6 and len(texts(fake_twilio, OTHER_PHONE)) == 1

    await until(all_sent)


async def test_a_malformed_number_is_refused(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    nia = await add_person(db, web.team, "nia")
    await web.login_as(nia.email)
    bad = await post_form(web.client, PROFILE + "contact/phone/send", {"phone": "call me maybe"}, from_page=PROFILE)
    assert bad.status_code == 422
    assert "E.164" in bad.text
    assert fake_twilio.calls("/Messages.json") == []


# ---------------------------------------------------------------- verifying a Slack identity


async def test_slack_lookup_finds_but_does_not_verify(
    web: Web, db: AsyncSession, fake_slack: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    nia = await add_person(db, web.team, "nia")
    fake_slack.directory[nia.email] = "U0NIA0001"
    await web.login_as(nia.email)
    found = await post_form(web.client, PROFILE + "slack-lookup", {}, from_page=PROFILE)
    assert found.status_code == 200, found.text
    assert f"Slack knows {nia.email} as U0NIA0001" in found.text
    assert 'name="slack_user_id" type="text" value="U0NIA0001"' in found.text
    user = await reload(db, UserProfile, nia.id)
    assert user.slack_verified_at is None  # finding is not verifying
    assert user.paging_slack_id is None
    assert slack_dm_codes(fake_slack, "U0NIA0001") == []

    sent = await post_form(web.client, PROFILE + "contact/slack/send", {"slack_user_id": "U0NIA0001"}, PROFILE)
    assert sent.status_code == 303, sent.text
    assert "by Slack direct message" in (await web.client.get(sent.headers["location"])).text

    async def dm_arrived() -> bool:
        return bool(slack_dm_codes(fake_slack, "U0NIA0001"))

    await until(dm_arrived)
    (code,) = slack_dm_codes(fake_slack, "U0NIA0001")
    assert [c.params.get("users") for c in fake_slack.calls("conversations.open")] in (
        [["U0NIA0001"]],
        ["U0NIA0001"],
    )
    assert (await reload(db, UserProfile, nia.id)).slack_verified_at is None
    done = await post_form(web.client, PROFILE + "contact/slack/verify", {"slack_user_id_code": code}, PROFILE)
    assert done.status_code == 303, done.text
    user = await reload(db, UserProfile, nia.id)
    assert user.paging_slack_id == "U0NIA0001"
    assert user.slack_verified_at is not None
    await assert_code_not_stored(db, code)
    assert_never_shown(code, *(record.getMessage() for record in caplog.records), caplog.text)


async def test_slack_lookup_of_an_unknown_email_says_so(web: Web, db: AsyncSession) -> None:
    nia = await add_person(db, web.team, "nia")
    await web.login_as(nia.email)
    missing = await post_form(web.client, PROFILE + "slack-lookup", {}, from_page=PROFILE)
    assert missing.status_code == 422
    assert f"Slack has no account with {nia.email}" in missing.text


# ---------------------------------------------------------------- one person per verified value


async def test_claiming_a_value_someone_verified_names_no_one(
    web: Web, db: AsyncSession, fake_twilio: FakeServer, fake_slack: FakeServer
) -> None:
    ann = web.team["ann"]
    nia = await add_person(db, web.team, "nia")
    await web.login_as(nia.email)
    phone = await post_form(web.client, PROFILE + "contact/phone/send", {"phone": ann.phone or ""}, PROFILE)
    slack = await post_form(
        web.client, PROFILE + "contact/slack/send", {"slack_user_id": ann.slack_user_id or ""}, PROFILE
    )
    for answer in (phone, slack):
        assert answer.status_code == 422
        assert "already verified by another account" in answer.text
        assert ann.email not in answer.text
        assert ann.display_name not in answer.text
    session = await fresh(db)
    assert list(await session.scalars(select(DeliveryLog))) == []  # nothing queued to either
    assert texts(fake_twilio, ann.phone) == []
    assert fake_slack.calls("conversations.open") == []
    user = await reload(db, UserProfile, nia.id)
    assert (user.phone, user.slack_user_id) == (None, None)


async def test_two_codes_to_one_number_verify_it_for_the_first_only(
    web: Web, db: AsyncSession, fake_twilio: FakeServer
) -> None:
    nia_id = (await add_person(db, web.team, "nia")).id
    zed_id = (await add_person(db, web.team, "zed")).id
    start = _now()
    await send_code(db, nia_id, ContactKind.PHONE, NEW_PHONE, start)
    nia_code = await code_texted_to(fake_twilio, NEW_PHONE)
    await send_code(db, zed_id, ContactKind.PHONE, NEW_PHONE, start + datetime.timedelta(minutes=2))
    zed_code = await code_texted_to(fake_twilio, NEW_PHONE, count=2)
    secret = web.settings.secret_key
    assert await confirm_code(db, nia_id, ContactKind.PHONE, nia_code, secret, start + datetime.timedelta(minutes=3))
    with pytest.raises(FieldError) as refused:
        await confirm_code(db, zed_id, ContactKind.PHONE, zed_code, secret, start + datetime.timedelta(minutes=3))
    assert "already verified by another account" in refused.value.errors["phone_code"]
    assert "Nia" not in refused.value.errors["phone_code"]
    assert (await reload(db, UserProfile, zed_id)).paging_phone is None
    assert (await reload(db, UserProfile, nia_id)).paging_phone == NEW_PHONE


# ---------------------------------------------------------------- unverified means unused


async def test_an_unverified_phone_is_not_texted_nor_identifies_its_sender(
    web: Web, db: AsyncSession, fake_twilio: FakeServer, fake_slack: FakeServer
) -> None:
    team = web.team
    await unverify(db, team["ann"].id, phone=True)
    schedule = await make_paging_schedule(db, team, 15)
    created = await web.declare("API down", schedule.id)
    session = await fresh(db)
    sms_rows = list(await session.scalars(select(DeliveryLog).where(DeliveryLog.channel == "sms")))
    assert sms_rows == []  # the page goes by Slack only

    async def mentioned() -> bool:
        return any(
            f"<@{team['ann'].slack_user_id}>" in c.params.get("text", "") for c in fake_slack.calls("chat.postMessage")
        )

    await until(mentioned)
    assert texts(fake_twilio, team["ann"].phone) == []
    answer = await web.sms(team["ann"].phone, "1A")
    assert "not verified on any account" in answer
    assert (await web.incident(created["id"]))["status"] == "triggered"
    assert await responders(db) == []


async def test_nobody_verified_pages_the_backup_at_once(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> None:
    team = web.team
    await unverify(db, team["ann"].id, phone=True, slack=True)
    schedule = await make_paging_schedule(db, team, 15)
    created = await web.declare("API down", schedule.id)
    messages = [e["message"] for e in created["timeline"]]
    assert "Step 1 of 2: Ann (primary) has no verified phone number or Slack id; skipped." in messages
    assert "Step 1 of 2 pages nobody; moving on at once." in messages
    assert "Paging Ben (backup) by Slack and SMS, step 2 of 2." in messages

    async def backup_texted() -> bool:
        return len(texts(fake_twilio, team["ben"].phone)) == 1

    await until(backup_texted)
    assert texts(fake_twilio, team["ann"].phone) == []


async def test_a_reaction_by_an_unverified_slack_user_is_ignored(
    web: Web, db: AsyncSession, fake_slack: FakeServer
) -> None:
    team = web.team
    await unverify(db, team["ben"].id, slack=True)
    schedule = await make_paging_schedule(db, team, 15)
    created = await web.declare("API down", schedule.id)

    async def posted() -> bool:
        return bool(await (await fresh(db)).scalar(select(Incident.slack_ts)))

    await until(posted)
    ts = str(await db.scalar(select(Incident.slack_ts)))
    for user in (team["ben"].slack_user_id or "", "U0NOBODY1"):
        body, headers = slack_request(web.settings, reaction("C0INCIDENT", ts, user, "white_check_mark"))
        assert (await web.client.post("/integrations/slack/events", content=body, headers=headers)).status_code == 200

    async def handled() -> bool:
        session = await fresh(db)
        rows = list(await session.scalars(select(DeliveryLog).where(DeliveryLog.direction == "inbound")))
        return len(rows) == 2 and all(r.status != "received" for r in rows)

    await until(handled)
    session = await fresh(db)
    rows = list(await session.scalars(select(DeliveryLog).where(DeliveryLog.direction == "inbound")))
    assert [r.status for r in rows] == ["ignored", "ignored"]
    assert all("not a verified Slack identity" in (r.error or "") for r in rows)
    assert await responders(db) == []
    assert (await web.incident(created["id"]))["status"] == "triggered"


# ---------------------------------------------------------------- the impostor in another workspace


@pytest.mark.parametrize("reply", ["ACK", "1A"])
async def test_an_impostor_in_another_workspace_gets_nothing(
    web: Web, db: AsyncSession, fake_twilio: FakeServer, reply: str
) -> None:
    victim = web.team["ann"]
    globex = await make_team(db, "globex", {"boss": Role.OWNER, "gbak": Role.MEMBER})
    imp = await add_person(db, globex, "imp")
    await web.login_as(imp.email)
    globex_profile = "/ws/globex/profile/"
    refused = await post_form(
        web.client, globex_profile + "contact/phone/send", {"phone": victim.phone or ""}, globex_profile
    )
    assert refused.status_code == 422
    assert "already verified by another account" in refused.text
    for telltale in (victim.email, victim.display_name, "Acme"):
        assert telltale not in refused.text
    assert texts(fake_twilio, victim.phone) == []

    # Say the impostor had typed the number in before numbers needed verifying: it still is not theirs.
    async with writing(db):
        (await db.get_one(UserProfile, imp.id, populate_existing=True)).phone = victim.phone
    now = _now()
    g_schedule = await create_schedule(
        db,
        globex.workspace.id,
        {
            "name": "G",
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "00:00",
            "starts_at": (now - datetime.timedelta(hours=1)).isoformat(),
            "members": [imp.email],
            "escalation_to": globex["gbak"].email,
            "escalation_delay_minutes": 15,
        },
        now,
    )
    g_auth = {"Authorization": f"Bearer {await issue_token(db, globex.workspace.id, globex['boss'].id)}"}
    g_incident = await web.declare("Globex down", g_schedule.id, "globex", g_auth)
    a_schedule = await make_paging_schedule(db, web.team, 15)
    a_incident = await web.declare("API down", a_schedule.id)

    async def victim_paged() -> bool:
        return len(texts(fake_twilio, victim.phone)) == 1

    await until(victim_paged)
    (page_text,) = texts(fake_twilio, victim.phone)
    assert page_text.startswith("[Vigilo Acme] INC-1")
    assert page_text.endswith("Reply 1A to acknowledge, 1D to decline.")

    answer = await web.sms(victim.phone, reply)
    assert "<Message>Vigilo, Acme: Acknowledged INC-1. (API down)</Message>" in answer
    assert "Globex" not in answer
    acked = await web.incident(a_incident["id"])
    assert acked["status"] == "acknowledged"
    assert [(r["user"]["email"], r["source"]) for r in acked["responders"]] == [(victim.email, "sms")]
    untouched = await web.incident(g_incident["id"], "globex", g_auth)
    assert untouched["status"] == "triggered"
    assert untouched["responders"] == []
    # The impostor has no verified contact, so their step is skipped: the backup is paged at once.
    assert [(p["user"]["email"], p["step"], p["status"]) for p in untouched["pages"]] == [
        (globex["gbak"].email, 1, "pending")
    ]
    skipped = [e["message"] for e in untouched["timeline"] if e["kind"] == "skipped"]
    assert skipped == ["Step 1 of 2: Imp (primary) has no verified phone number or Slack id; skipped."], skipped
    assert all("[Vigilo Globex]" not in body for body in texts(fake_twilio, victim.phone))


# ---------------------------------------------------------------- the SMS reply grammar


@pytest.fixture
async def paged(web: Web, db: AsyncSession, fake_twilio: FakeServer) -> tuple[Web, Any, Any]:
    """Ann is paged for INC-1 "API down" (Ben is the backup, a quarter of an hour later)."""
    schedule = await make_paging_schedule(db, web.team, 15)
    created = await web.declare("API down", schedule.id)

    async def texted() -> bool:
        return len(texts(fake_twilio, web.team["ann"].phone)) == 1

    await until(texted)
    return web, schedule, created


async def test_paging_sms_ends_with_its_reply_code(paged: Any, fake_twilio: FakeServer) -> None:
    web, _, _ = paged
    (body,) = texts(fake_twilio, web.team["ann"].phone)
    # Where the page stands: its step, who comes next and when (in Ann's zone), then the reply code.
    assert re.fullmatch(
        r"\[Vigilo Acme\] INC-1 SEV2 API down \(step 1 of 2; next: Ben at \d\d:\d\d\)\. "
        r"Reply 1A to acknowledge, 1D to decline\.",
        body,
    ), body


async def test_code_a_acknowledges_that_page(paged: Any, db: AsyncSession) -> None:
    web, _, created = paged
    answer = await web.sms(web.team["ann"].phone, " 1a ")
    assert "<Message>Vigilo, Acme: Acknowledged INC-1. (API down)</Message>" in answer
    assert (await web.incident(created["id"]))["status"] == "acknowledged"
    assert await responders(db) == [(web.team["ann"].id, "sms")]


async def test_code_d_declines_and_pages_the_backup(paged: Any, db: AsyncSession, fake_twilio: FakeServer) -> None:
    web, _, created = paged
    team = web.team
    answer = await web.sms(team["ann"].phone, "1D")
    assert "Vigilo, Acme: Declined INC-1" in answer
    assert "(API down)" in answer

    async def backup_texted() -> bool:
        return len(texts(fake_twilio, team["ben"].phone)) == 1

    await until(backup_texted)
    assert texts(fake_twilio, team["ben"].phone)[0].endswith("Reply 1A to acknowledge, 1D to decline.")
    state = await web.incident(created["id"])
    assert [(p["step"], p["status"]) for p in state["pages"]] == [(0, "declined"), (1, "pending")]
    messages = [e["message"] for e in state["timeline"]]
    assert "Ann declined INC-1." in messages
    assert "Paging Ben (backup) by Slack and SMS, step 2 of 2." in messages
    # The backup declines too: the last step is over, and the timeline says nobody acknowledged.
    second = await web.sms(team["ben"].phone, "1d")
    assert "Vigilo, Acme:" in second
    assert "(API down)" in second
    timeline = (await web.incident(created["id"]))["timeline"]
    messages = [e["message"] for e in timeline if not e["kind"].startswith("delivery")]
    assert messages[-2:] == ["Ben declined INC-1.", "Nobody acknowledged INC-1 after 2 steps."], messages
    assert await responders(db) == []


async def test_bare_ack_with_one_pending_page(paged: Any, db: AsyncSession) -> None:
    web, _, _ = paged
    answer = await web.sms(web.team["ann"].phone, "ack")
    assert "<Message>Vigilo, Acme: Acknowledged INC-1. (API down)</Message>" in answer
    assert await responders(db) == [(web.team["ann"].id, "sms")]


async def test_two_pending_pages_need_a_code(paged: Any, db: AsyncSession, fake_twilio: FakeServer) -> None:
    web, schedule, first = paged
    ann = web.team["ann"]
    second = await web.declare("DB down", schedule.id)

    async def both_texted() -> bool:
        return len(texts(fake_twilio, ann.phone)) == 2

    await until(both_texted)
    assert texts(fake_twilio, ann.phone)[1].startswith("[Vigilo Acme] INC-2 SEV2 DB down (step 1 of 2")
    assert texts(fake_twilio, ann.phone)[1].endswith(". Reply 2A to acknowledge, 2D to decline.")

    listing = ("1A/1D: Acme INC-1 API down", "2A/2D: Acme INC-2 DB down")
    for bare in ("ACK", "decline"):
        answer = await web.sms(ann.phone, bare)
        assert "you have 2 pending pages; say which." in answer
        assert all(line in answer for line in listing), answer
    unknown = await web.sms(ann.phone, "9A")
    assert "no pending page of yours has code 9." in unknown
    assert all(line in unknown for line in listing)
    gibberish = await web.sms(ann.phone, "on my way")
    assert "did not understand" in gibberish
    assert all(line in gibberish for line in listing)
    # None of that changed anything.
    assert await responders(db) == []
    for incident in (first, second):
        state = await web.incident(incident["id"])
        assert (state["status"], [p["status"] for p in state["pages"]]) == ("triggered", ["pending"])

    by_number = await web.sms(ann.phone, "ACK 2")
    assert "<Message>Vigilo, Acme: Acknowledged INC-2. (DB down)</Message>" in by_number
    assert (await web.incident(second["id"]))["status"] == "acknowledged"
    assert (await web.incident(first["id"]))["status"] == "triggered"
    stale = await web.sms(ann.phone, "2A")
    assert "no pending page of yours has code 2." in stale
    assert "1A/1D: Acme INC-1 API down" in stale
    assert "INC-2" not in stale.split("code 2.")[1]
    missing = await web.sms(ann.phone, "ACK 42")
    assert "you have no pending page for INC-42." in missing
    assert await responders(db) == [(ann.id, "sms")]

    # Code 2 is free again: the next page takes the smallest free code.
    await web.declare("Queue stuck", schedule.id)

    async def third_texted() -> bool:
        return len(texts(fake_twilio, ann.phone)) == 3

    await until(third_texted)
    assert texts(fake_twilio, ann.phone)[2].endswith("). Reply 2A to acknowledge, 2D to decline.")
    assert "INC-3 SEV2 Queue stuck (step 1 of 2" in texts(fake_twilio, ann.phone)[2]
    session = await fresh(db)
    codes = {p.reply_code for p in await session.scalars(select(Page).where(Page.status == "pending"))}
    assert codes == {1, 2}


async def test_ack_with_an_incident_number(paged: Any, db: AsyncSession) -> None:
    web, _, created = paged
    answer = await web.sms(web.team["ann"].phone, "ack INC-1")
    assert "<Message>Vigilo, Acme: Acknowledged INC-1. (API down)</Message>" in answer
    assert (await web.incident(created["id"]))["status"] == "acknowledged"


# ---------------------------------------------------------------- who can be paged is visible


async def test_people_page_says_how_each_person_can_be_paged(web: Web, db: AsyncSession) -> None:
    team = web.team
    await unverify(db, team["ann"].id, slack=True)  # SMS only
    await unverify(db, team["ben"].id, phone=True)  # Slack only
    await add_person(db, team, "cat", phone="+15557770003")  # unverified number only
    await web.login_as(team["owner"].email)
    page = (await web.client.get("/ws/acme/people/")).text
    rows = {key: member_row(page, await membership_of(db, team, key)) for key in ("owner", "ann", "ben", "cat")}
    assert "SMS · verified phone" in rows["owner"] and "Slack · verified" in rows["owner"]
    assert "SMS · verified phone" in rows["ann"] and "Slack · verified" not in rows["ann"]
    assert "SMS · verified phone" not in rows["ben"] and "Slack · verified" in rows["ben"]
    assert "neither — cannot be paged" in rows["cat"]
    assert "SMS · verified phone" not in rows["cat"]
    assert all("cannot be paged" not in rows[k] for k in ("owner", "ann", "ben"))


async def test_an_admin_clears_a_members_contact_points(web: Web, db: AsyncSession) -> None:
    team = web.team
    ann_membership = await membership_of(db, team, "ann")
    people = "/ws/acme/people/"
    clear = f"/ws/acme/people/{ann_membership}/clear-contacts"

    await web.login_as(team["ben"].email)
    denied = await post_form(web.client, clear, {}, from_page=people)
    assert denied.status_code == 403
    ann = await reload(db, UserProfile, team["ann"].id)
    assert (ann.paging_phone, ann.paging_slack_id) == (team["ann"].phone, team["ann"].slack_user_id)

    await web.login_as(team["admin"].email)
    cleared = await post_form(web.client, clear, {}, from_page=people)
    assert cleared.status_code == 303, cleared.text
    shown = (await web.client.get(cleared.headers["location"])).text
    assert "Cleared the contact points of Ann" in shown
    assert "neither — cannot be paged" in member_row(shown, ann_membership)
    ann = await reload(db, UserProfile, team["ann"].id)
    assert (ann.phone, ann.phone_verified_at, ann.slack_user_id, ann.slack_verified_at) == (None, None, None, None)


async def test_schedule_page_warns_of_an_unreachable_rotation_member(web: Web, db: AsyncSession) -> None:
    team = web.team
    schedule = await make_paging_schedule(db, team, 15)
    url = f"/ws/acme/oncall/schedules/{schedule.id}"
    await web.login_as(team["owner"].email)
    assert "Pages cannot reach" not in (await web.client.get(url)).text
    await unverify(db, team["ann"].id, phone=True, slack=True)
    page = (await web.client.get(url)).text
    assert "Pages cannot reach" in page
    start = page.index('id="unpageable"')
    warning = page[start : page.index("</p>", start)]
    assert "Ann" in warning
    assert "Ben" not in warning


async def test_home_page_tells_an_unpageable_member(web: Web, db: AsyncSession) -> None:
    team = web.team
    await web.login_as(team["ann"].email)
    assert 'id="not-pageable"' not in (await web.client.get("/ws/acme/")).text
    await add_person(db, team, "cat", phone="+15557770003")  # typed in, never verified
    await web.login_as("cat@acme.test")
    home = (await web.client.get("/ws/acme/")).text
    assert 'id="not-pageable"' in home
    assert "Pages cannot reach you" in home
