"""Web hardening (issue 15) on both databases: exact CSRF exemptions, login throttling that nobody can
turn on others (and X-Forwarded-For believed only from trusted proxies), hostile JSON bodies refused
before any parser recurses, and notices that come from the server, never from the URL."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.models import Incident, LoginFailure, Membership, OnCallSchedule, UserProfile, Workspace
from app.domain.login_throttle import MAX_FAILURES_PER_PAIR, SLOW_DOWN, SLOW_DOWN_AFTER
from app.main import create_app
from app.routes.bodies import MAX_JSON_DEPTH, TOO_DEEP
from app.services.accounts import LoginThrottled, authenticate
from app.services.tokens import issue_token
from tests.factories import PASSWORD, fresh, make_team, reload
from tests.integration.test_acks import slack_request, sms_request
from tests.processes import ROOT, free_port
from tests.web import csrf_token, login, post_form

SCHEDULES = "/api/v1/ws/acme/schedules"
DEEP = b"[" * 1000 + b"]" * 1000
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def count(db: AsyncSession, model: Any) -> int:
    session = await fresh(db)
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- 1. CSRF exemptions are exact


async def test_integrations_settings_form_needs_a_csrf_token(settings: Settings, db: AsyncSession) -> None:
    """The old exemption "/integrations/" matched anywhere in the path, so this page was unprotected."""
    team = await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "admin@acme.test", PASSWORD)
        response = await client.post(
            "/ws/acme/settings/integrations/slack-channel", data={"channel": "C0HIJACKED"}, follow_redirects=False
        )
        assert response.status_code == 403
        assert "CSRF" in response.text
    workspace = await reload(db, Workspace, team.workspace.id)
    assert workspace.slack_channel_id == "C0INCIDENT"


@pytest.mark.parametrize("slug", ["api", "integrations"])
async def test_workspace_slugged_like_an_exempt_path_is_protected(
    settings: Settings, db: AsyncSession, slug: str
) -> None:
    """A workspace slugged "api" or "integrations" has pages under /ws/api/… and /ws/integrations/…:
    an unanchored exemption skipped the CSRF check for every form of theirs."""
    team = await make_team(db, slug=slug)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, f"owner@{slug}.test", PASSWORD)
        response = await client.post(
            f"/ws/{slug}/profile/", data={"display_name": "Hijacked", "time_zone": "UTC"}, follow_redirects=False
        )
        assert response.status_code == 403
        assert "CSRF" in response.text
        channel = await client.post(
            f"/ws/{slug}/settings/integrations/slack-channel", data={"channel": "C0HIJACKED"}, follow_redirects=False
        )
        assert channel.status_code == 403
        # With the token the same form is accepted: the refusal above was the CSRF check.
        saved = await post_form(client, f"/ws/{slug}/profile/", {"display_name": "Renamed", "time_zone": "UTC"})
        assert saved.status_code == 303
    owner = await reload(db, UserProfile, team["owner"].id)
    assert owner.display_name == "Renamed"
    workspace = await reload(db, Workspace, team.workspace.id)
    assert workspace.slack_channel_id == "C0INCIDENT"


async def test_api_and_webhooks_still_need_no_csrf_token(integration_settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    auth = {"Authorization": f"Bearer {token}"}
    async with AsyncTestClient(app=create_app(integration_settings)) as client:
        # A browser-ish client: it even holds a CSRF cookie, but sends no token.
        await csrf_token(client)
        schedule = await client.post(
            SCHEDULES,
            json={
                "name": "Ops",
                "rotation": "daily",
                "timezone": "UTC",
                "handoff_time": "09:00",
                "members": [team["member"].email],
                "escalation_to": team["owner"].email,
            },
            headers=auth,
        )
        assert schedule.status_code == 201, schedule.text
        incident = await client.post(
            "/api/v1/ws/acme/incidents",
            json={"title": "API down", "severity": "SEV2", "schedule_id": schedule.json()["id"]},
            headers=auth,
        )
        assert incident.status_code == 201, incident.text

        body, headers = slack_request(integration_settings, {"type": "url_verification", "challenge": "abc123"})
        slack = await client.post("/integrations/slack/events", content=body, headers=headers)
        assert slack.status_code == 200, slack.text
        assert slack.json() == {"challenge": "abc123"}

        params = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": "+15550000001", "Body": "ack"}
        form, sms_headers = sms_request(integration_settings, params)
        sms = await client.post("/integrations/twilio_sms/", content=form, headers=sms_headers)
        assert sms.status_code == 200, sms.text
        assert "<Response>" in sms.text
    assert await count(db, OnCallSchedule) == 1
    assert await count(db, Incident) == 1


# ---------------------------------------------------------------- 2. login throttling


async def test_failures_for_made_up_emails_never_lock_out_a_real_user(settings: Settings, db: AsyncSession) -> None:
    """Behind one shared address (an office NAT, a proxy), failures for other emails lock nobody."""
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        token = await csrf_token(client)
        for _ in range(50):  # well past the old per-address limit (20), five times the pair limit
            failed = await client.post(
                "/login",
                data={"email": f"{uuid.uuid4().hex[:10]}@made-up.test", "password": "wrong", "_csrf_token": token},
                follow_redirects=False,
            )
            assert failed.status_code == 401
        response = await post_form(client, "/login", {"email": "owner@acme.test", "password": PASSWORD})
        assert response.status_code == 303, response.text
    assert await count(db, LoginFailure) == 50


async def test_one_email_from_one_address_is_locked_there_only(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        token = await csrf_token(client)
        for _ in range(MAX_FAILURES_PER_PAIR):
            failed = await client.post(
                "/login",
                data={"email": "owner@acme.test", "password": "wrong-wrong", "_csrf_token": token},
                follow_redirects=False,
            )
            assert failed.status_code == 401
        throttled = await post_form(client, "/login", {"email": "owner@acme.test", "password": PASSWORD})
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert "Too many failed attempts" in throttled.text
    # The same pair stays locked (the client's address, whatever it is, holds all ten failures)...
    rows = (await (await fresh(db)).execute(select(LoginFailure.address).distinct())).scalars().all()
    assert len(rows) == 1
    with pytest.raises(LoginThrottled):
        await authenticate(db, "owner@acme.test", PASSWORD, rows[0], now())
    # ...and the owner, from anywhere else, gets in at once.
    user = await authenticate(db, "owner@acme.test", PASSWORD, "203.0.113.7", now())
    assert user.email == "owner@acme.test"


async def test_a_flood_against_one_email_slows_down_but_never_locks(settings: Settings, db: AsyncSession) -> None:
    """More than SLOW_DOWN_AFTER failures for one email from many places: no lock-out, only a delay."""
    await make_team(db)
    at = now()
    db.add_all(
        LoginFailure(email="owner@acme.test", address=f"198.51.100.{i % 250}:{i}", at=at)
        for i in range(SLOW_DOWN_AFTER + 20)
    )
    await db.commit()
    started = time.monotonic()
    user = await authenticate(db, "owner@acme.test", PASSWORD, "203.0.113.50", now())
    took = time.monotonic() - started
    assert user.email == "owner@acme.test"
    assert took >= SLOW_DOWN.total_seconds() - 0.05


# ---------------------------------------------------------------- 3. hostile bodies


@pytest.fixture
async def api(settings: Settings, db: AsyncSession) -> Any:
    team = await make_team(db)
    token = await issue_token(db, team.workspace.id, team["owner"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def test_deep_json_without_a_token_is_401(api: Any, db: AsyncSession) -> None:
    client, _ = api
    for body in (DEEP, b"{bad"):
        response = await client.post(SCHEDULES, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 401, (body[:10], response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(db, OnCallSchedule) == 0


async def test_deep_json_with_a_token_is_400_naming_body(api: Any, db: AsyncSession) -> None:
    client, auth = api
    for path in (SCHEDULES, "/api/v1/ws/acme/incidents"):
        response = await client.post(path, content=DEEP, headers=auth)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert [e["field"] for e in problem["errors"]] == ["body"]
        assert problem["detail"] == TOO_DEEP
    assert await count(db, OnCallSchedule) == 0


async def test_depth_limit_is_just_past_64(api: Any) -> None:
    client, auth = api
    too_deep = await client.post(SCHEDULES, content=nested(MAX_JSON_DEPTH + 1), headers=auth)
    assert too_deep.status_code == 400
    assert too_deep.json()["detail"] == TOO_DEEP
    # Sane depth reaches the parser: refused for its shape (a list, not a schedule), not for its depth.
    shallow = await client.post(SCHEDULES, content=nested(60), headers=auth)
    assert shallow.status_code != 500
    assert TOO_DEEP not in shallow.text
    assert shallow.status_code in {400, 422}
    assert shallow.headers["content-type"].startswith("application/problem+json")


async def test_signed_deep_slack_body_is_400_naming_body(integration_settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(integration_settings)) as client:
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(integration_settings.slack_signing_secret or "").generate_signature(
            timestamp=timestamp, body=DEEP
        )
        assert signature
        headers = {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
            "Content-Type": "application/json",
        }
        response = await client.post("/integrations/slack/events", content=DEEP, headers=headers)
        assert response.status_code == 400, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["body"]
        # The same body unsigned is refused for its signature first.
        unsigned = await client.post(
            "/integrations/slack/events", content=DEEP, headers={**headers, "X-Slack-Signature": "v0=00"}
        )
        assert unsigned.status_code == 401


# ---------------------------------------------------------------- 4. notices come from the server

NOTICE = re.compile(r'<p class="notice" role="status">([^<]*)</p>')


async def test_notice_in_the_url_is_never_shown(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        crafted = "Session expired — log in again at https://evil.example"
        for path in ("/ws/acme/oncall/", "/ws/acme/profile/", "/ws/acme/people/", "/ws/acme/settings/integrations"):
            page = await client.get(path, params={"notice": crafted, "error": crafted})
            assert page.status_code == 200, path
            assert "evil.example" not in page.text, path
            assert "Session expired" not in page.text, path
            assert NOTICE.findall(page.text) == [], path


async def test_notice_after_an_action_is_shown_once(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        saved = await post_form(client, "/ws/acme/profile/", {"display_name": "Olga", "time_zone": "UTC"})
        assert saved.status_code == 303
        target = saved.headers["location"]
        assert "notice" not in target  # nothing in the URL to forge
        first = await client.get(target)
        assert NOTICE.findall(first.text) == ["Saved"]
        again = await client.get(target)
        assert NOTICE.findall(again.text) == []

        # The same for an admin's role change, landing on the people page.
        viewer = await (await fresh(db)).scalar(select(Membership.id).where(Membership.user_id == team["viewer"].id))
        changed = await post_form(
            client,
            f"/ws/acme/people/{viewer}",
            {"role": "member", "is_active": "on"},
            from_page="/ws/acme/people/",
        )
        assert changed.status_code == 303, changed.text
        assert "notice" not in changed.headers["location"]
        shown = await client.get(changed.headers["location"])
        assert NOTICE.findall(shown.text) == ["Saved"]
        assert NOTICE.findall((await client.get(changed.headers["location"])).text) == []
    owner = await reload(db, UserProfile, team["owner"].id)
    assert owner.display_name == "Olga"


# ---------------------------------------------------------------- 2d. X-Forwarded-For, real server

SECRET = "process-test-secret-key-0123456789-abcdefgh"


def _seed(url: str) -> None:
    upgrade(url)

    async def seed() -> None:
        engine = create_engine(url)
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await make_team(session)
        await engine.dispose()

    asyncio.run(seed())


class Served:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.process, self.log = url, process, log


def _serve(database_url: str, log: Path, trusted: str | None) -> Served:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VIGILO_ENV": "development",
        "VIGILO_DATABASE_URL": database_url,
        "VIGILO_SECRET_KEY": SECRET,
        "VIGILO_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    for name in ("VIGILO_REDIS_URL", "VIGILO_TRUSTED_PROXIES"):
        env.pop(name, None)
    if trusted is not None:
        env["VIGILO_TRUSTED_PROXIES"] = trusted
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return Served(url, process, log)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process)
                raise RuntimeError("vigilo serve did not start:\n" + log.read_text(errors="replace")) from None
            time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Any]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    _seed(database_url)
    running: list[Served] = []

    def start(trusted: str | None) -> Served:
        server = _serve(database_url, tmp_path / "serve.log", trusted)
        running.append(server)
        return server

    yield start
    for server in running:
        _stop(server.process)


def _failures_with_rotating_forwarded_for(url: str, email: str, attempts: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/login")
        match = CSRF_INPUT.search(page.text)
        assert match, "no CSRF field on /login"
        statuses = []
        for i in range(attempts):
            response = client.post(
                "/login",
                data={"email": email, "password": "wrong-wrong", "_csrf_token": match.group(1)},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            )
            statuses.append(response.status_code)
        return statuses


@pytest.mark.slow
def test_forwarded_for_is_believed_only_from_trusted_proxies(served: Any) -> None:
    untrusted = served(None)
    statuses = _failures_with_rotating_forwarded_for(untrusted.url, "owner@acme.test", 30)
    # Every attempt counted against 127.0.0.1, whatever it claimed to be forwarded for.
    assert statuses[:MAX_FAILURES_PER_PAIR] == [401] * MAX_FAILURES_PER_PAIR
    assert statuses[MAX_FAILURES_PER_PAIR:] == [429] * (30 - MAX_FAILURES_PER_PAIR)
    _stop(untrusted.process)

    trusted = served("127.0.0.1")
    # Another email, so the first server's failures (same database) do not count here.
    statuses = _failures_with_rotating_forwarded_for(trusted.url, "admin@acme.test", 30)
    assert statuses == [401] * 30
