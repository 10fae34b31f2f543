"""Response headers, cookies and secrets: what a browser is told to allow, and what never gets written down."""

from __future__ import annotations

import asyncio
import datetime
import io
import logging
import re
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import DeliveryLog, Incident, TimelineEntry
from app.domain.roles import Role
from app.main import create_app
from app.services.schedules import create_schedule
from app.services.tokens import issue_token
from tests.factories import PASSWORD, fresh, make_paging_schedule, make_team
from tests.fakes.servers import FakeServer
from tests.integration.test_acks import reaction, slack_request, sms_request
from tests.web import csrf_token, login, post_form


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_locked_down(response: Any) -> None:
    where = f"{response.request.method} {response.request.url} ({response.status_code})"
    policy = directives(response.headers.get("content-security-policy", ""))
    assert policy.get("default-src") == ["'self'"], where
    assert policy.get("frame-ancestors") == ["'none'"], where
    for directive in ("script-src", "style-src", "img-src", "connect-src", "form-action"):
        assert policy.get(directive) == ["'self'"], f"{where}: {directive} is {policy.get(directive)}"
    assert "'unsafe-inline'" not in response.headers["content-security-policy"], where
    assert "'unsafe-eval'" not in response.headers["content-security-policy"], where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("x-frame-options") == "DENY", where
    assert response.headers.get("referrer-policy") == "same-origin", where


async def test_every_kind_of_response_carries_the_security_headers(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    token = await issue_token(db, team.workspace.id, team["viewer"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        responses = [
            await client.get("/login"),
            await client.get("/ws/acme/"),  # anonymous: a redirect
            await client.get("/no/such/page"),
            await client.get("/static/vigilo.css"),
            await client.get("/schema/openapi.json"),
            await client.get("/api/v1/ws/acme/members"),  # 401 problem
            await client.get("/api/v1/ws/acme/members", headers={"Authorization": f"Bearer {token}"}),
            await client.post("/integrations/slack/events", content=b"{}"),  # unsigned
            await client.post("/login", data={"email": "x"}),  # no CSRF token: 403
        ]
        await login(client, team["admin"].email, PASSWORD)
        responses += [
            await client.get("/ws/acme/"),
            await client.get("/ws/acme/oncall/", headers={"HX-Request": "true", "HX-Target": "highlight"}),
            await client.get("/ws/acme/settings/"),
        ]
    for response in responses:
        assert_locked_down(response)
        assert "strict-transport-security" not in response.headers  # plain http: HSTS means nothing


async def test_https_adds_hsts_and_secure_cookies(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    https = replace(settings, public_url="https://oncall.example.test")
    async with AsyncTestClient(app=create_app(https), base_url="https://oncall.example.test") as client:
        page = await client.get("/login")
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert_locked_down(page)
        response = await post_form(client, "/login", {"email": team["owner"].email, "password": PASSWORD})
        assert response.status_code == 303
        cookies = response.headers.get_list("set-cookie") + page.headers.get_list("set-cookie")
    assert {c.split("=", 1)[0] for c in cookies} >= {"vigilo_session", "vigilo_csrf"}
    for cookie in cookies:
        attributes = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")[1:]}
        assert "httponly" in attributes, cookie
        assert attributes["samesite"].strip().lower() == "samesite=lax", cookie
        assert "secure" in attributes, cookie


async def test_cookies_over_http_are_httponly_samesite_and_not_secure(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        page = await client.get("/login")
        response = await post_form(client, "/login", {"email": team["owner"].email, "password": PASSWORD})
        cookies = page.headers.get_list("set-cookie") + response.headers.get_list("set-cookie")
    assert {c.split("=", 1)[0] for c in cookies} >= {"vigilo_session", "vigilo_csrf"}
    for cookie in cookies:
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered, cookie
        assert "; secure" not in lowered, cookie  # a Secure cookie would never come back over http


INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\son[a-z]+\s*=|\sstyle\s*=|javascript:", re.I)


async def test_pages_hold_no_inline_script_or_style_the_policy_would_block(
    settings: Settings, db: AsyncSession
) -> None:
    team = await make_team(db)
    now = datetime.datetime.now(datetime.UTC)
    schedule = await create_schedule(
        db,
        team.workspace.id,
        {
            "name": "Primary",
            "rotation": "weekly",
            "timezone": "Europe/Berlin",
            "handoff_time": "10:00",
            "handoff_weekday": 0,
            "starts_at": (now - datetime.timedelta(days=3)).isoformat(),
            "members": [team["member"].email, team["admin"].email],
            "escalation_to": team["owner"].email,
        },
        now,
    )
    base = "/ws/acme"
    pages = [
        "/login",
        f"{base}/",
        f"{base}/people/",
        f"{base}/oncall/",
        f"{base}/oncall/schedules/new",
        f"{base}/oncall/schedules/{schedule.id}",
        f"{base}/incidents/",
        f"{base}/profile/",
        f"{base}/settings/",
        f"{base}/settings/integrations",
    ]
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, team["owner"].email, PASSWORD)
        for path in pages:
            response = await client.get(path)
            assert response.status_code == 200, path
            assert not INLINE_CODE.search(response.text), f"{path}: {INLINE_CODE.search(response.text)}"


async def test_the_delete_confirmation_is_data_not_script(settings: Settings, db: AsyncSession) -> None:
    """A schedule name with quotes once went into an inline confirm('…'); now it is an escaped attribute."""
    team = await make_team(db)
    now = datetime.datetime.now(datetime.UTC)
    hostile = "x');alert(document.cookie);('"
    schedule = await create_schedule(
        db,
        team.workspace.id,
        {
            "name": hostile,
            "rotation": "daily",
            "timezone": "UTC",
            "handoff_time": "09:00",
            "starts_at": now.isoformat(),
            "members": [team["member"].email],
        },
        now,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, team["owner"].email, PASSWORD)
        page = (await client.get(f"/ws/acme/oncall/schedules/{schedule.id}")).text
    assert 'data-confirm="Delete x&#39;);alert(document.cookie);(&#39; and all its slots?"' in page
    assert "alert(document.cookie)" not in page.replace("x&#39;);alert(document.cookie);(&#39;", "")


@pytest.fixture
def delay_settings(integration_settings: Settings) -> Settings:
    return replace(integration_settings, seconds_per_delay_minute=0.05)


async def test_secrets_never_reach_logs_the_delivery_log_or_the_timeline(
    delay_settings: Settings,
    db: AsyncSession,
    fake_slack: FakeServer,
    fake_twilio: FakeServer,
) -> None:
    """Log in (and fail to), use a token, page by Slack and SMS, take forged and real webhooks, with every
    logger at DEBUG (the SDKs' request logging included); no secret appears anywhere we write down."""
    settings = delay_settings
    team = await make_team(db, roles={"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER})
    schedule = await make_paging_schedule(db, team, 20)
    wrong_password = "Wrong-password-4d1f8e"
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    async with AsyncTestClient(app=create_app(settings)) as client:
        # Installed after start-up (the app's logging config replaces the root handlers then).
        listening = [logging.getLogger(), logging.getLogger("litestar")]
        levels = [logger.level for logger in listening]
        for logger in listening:
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
        failed = await post_form(client, "/login", {"email": team["owner"].email, "password": wrong_password})
        assert failed.status_code == 401
        await login(client, team["owner"].email, PASSWORD)
        created = await client.post(
            "/ws/acme/settings/tokens",
            data={"name": "ci", "_csrf_token": await csrf_token(client, "/ws/acme/settings/")},
        )
        assert created.status_code == 200
        shown = re.search(r"vgl_[A-Za-z0-9_-]{16,}", created.text)
        assert shown, "the new token is shown once"
        token = await issue_token(db, team.workspace.id, team["owner"].id, "api")
        incident = await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "Disk full", "severity": "SEV2", "schedule_id": str(schedule.id)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert incident.status_code == 201, incident.text
        number = incident.json()["number"]

        async def paged() -> bool:
            await fresh(db)
            return bool(fake_twilio.calls("/Messages.json")) and bool(await db.scalar(select(Incident.slack_ts)))

        for _ in range(200):
            if await paged():
                break
            await asyncio.sleep(0.05)
        assert await paged()
        ts = await db.scalar(select(Incident.slack_ts))
        forged_body, forged_headers = slack_request(settings, {"type": "event_callback"}, secret="not-the-secret")
        assert (
            await client.post("/integrations/slack/events", content=forged_body, headers=forged_headers)
        ).status_code == 401
        event = reaction("C0INCIDENT", ts or "", team["ann"].slack_user_id or "", "eyes", "EvSecrets1")
        body, headers = slack_request(settings, event)
        assert (await client.post("/integrations/slack/events", content=body, headers=headers)).status_code == 200
        body, headers = sms_request(
            settings, {"From": team["ann"].phone or "", "Body": f"ACK {number}", "MessageSid": "SMsecrets"}
        )
        assert (await client.post("/integrations/twilio_sms/", content=body, headers=headers)).status_code == 200
        await asyncio.sleep(0.5)  # let the worker finish the ack's notes
        for logger, level in zip(listening, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)

    secrets = {
        "password": PASSWORD,
        "wrong password": wrong_password,
        "API token": token,
        "token made on the web": shown.group(0),
        "Slack bot token": settings.slack_bot_token,
        "Slack signing secret": settings.slack_signing_secret,
        "Twilio auth token": settings.twilio_auth_token,
        "secret key": settings.secret_key,
    }
    session = await fresh(db)
    deliveries = [
        " ".join(str(getattr(row, column.key, "")) for column in DeliveryLog.__table__.columns)
        for row in await session.scalars(select(DeliveryLog))
    ]
    timeline = [entry.message for entry in await session.scalars(select(TimelineEntry))]
    logged = captured.getvalue()
    # slack-sdk logs its request bodies at DEBUG only, to a logger of ours held at INFO (app/integrations/slack.py).
    assert deliveries and timeline and "twilio" in logged
    written = {"logs": logged, "delivery log": "\n".join(deliveries), "timeline": "\n".join(timeline)}
    for place, text in written.items():
        for name, secret in secrets.items():
            assert secret and secret not in text, f"the {name} is in the {place}"
