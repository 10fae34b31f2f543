"""Shared fixtures: a fresh database per test on SQLite and (when configured) PostgreSQL, the app,
the brokers, and the fake Slack and Twilio servers.

- VIGILO_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres) adds the
  PostgreSQL run of every database test; VIGILO_TEST_REDIS_URL enables the Redis broker tests.
- With CI=true a missing service fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Environment, Settings
from app.db.engine import create_engine
from app.db.migrate import upgrade
from tests.fakes.servers import FakeServer, start_fake_pagerduty, start_fake_slack, start_fake_twilio

POSTGRES_URL = os.environ.get("VIGILO_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("VIGILO_TEST_REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(name: str, url: str | None) -> str:
    """The URL, or skip (fail under CI) when the service is not configured."""
    if url:
        return url
    message = f"{name} not configured (set VIGILO_TEST_{name.upper()}_URL)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _admin_conninfo(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def _database_url(base: str, name: str) -> str:
    return make_url(base).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    base = require_service("postgres", POSTGRES_URL)
    name = f"vigilo_tpl_{os.getpid()}"
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(_database_url(base, name))
    yield name
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of its own for this test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "vigilo.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    base = POSTGRES_URL or ""
    name = f"vigilo_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    yield _database_url(base, name)
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        public_url="http://testserver.local",
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on the test database for arranging and checking rows (services commit)."""
    engine = create_engine(settings.database_url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()


@pytest.fixture
def fake_slack() -> Iterator[FakeServer]:
    server = start_fake_slack()
    yield server
    server.stop()


@pytest.fixture
def fake_twilio() -> Iterator[FakeServer]:
    server = start_fake_twilio()
    yield server
    server.stop()


@pytest.fixture
def fake_pagerduty() -> Iterator[FakeServer]:
    server = start_fake_pagerduty()
    yield server
    server.stop()


@pytest.fixture
def integration_settings(
    settings: Settings, fake_slack: FakeServer, fake_twilio: FakeServer, fake_pagerduty: FakeServer
) -> Settings:
    """Settings whose Slack, Twilio and PagerDuty clients talk to the local fakes."""
    return replace(
        settings,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret="test-signing-secret",
        slack_api_url=fake_slack.url + "/api/",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="test-twilio-auth-token",
        twilio_from_number="+15550009999",
        twilio_api_url=fake_twilio.url,
        pagerduty_events_url=fake_pagerduty.url,
        pagerduty_api_url=fake_pagerduty.url,
    )
