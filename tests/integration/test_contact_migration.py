"""Migration 0005 on both databases: an installation upgraded from 0004 keeps paging the people whose
contact points are their own, unverifies values two or more people share, and tells those people on
their next page view."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Environment, Settings
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.models import Membership, UserProfile, Workspace
from app.main import create_app
from app.services.accounts import hash_password
from tests.conftest import POSTGRES_URL, _admin_conninfo, _database_url, require_service
from tests.factories import PASSWORD
from tests.web import login

USERS = sa.table(
    "user_profile",
    sa.column("id", GUID(length=16)),
    sa.column("email", sa.String()),
    sa.column("display_name", sa.String()),
    sa.column("password_hash", sa.String()),
    sa.column("phone", sa.String()),
    sa.column("slack_user_id", sa.String()),
    sa.column("time_zone", sa.String()),
    sa.column("created_at", DateTimeUTC(timezone=True)),
    sa.column("updated_at", DateTimeUTC(timezone=True)),
)
SHARED_SLACK, SHARED_PHONE = "U0SHARED1", "+15550000009"
# key → (phone, slack id) as they were before contact points needed verifying
PEOPLE: dict[str, tuple[str | None, str | None]] = {
    "solo": ("+15550000001", "U0SOLO01"),  # both values their own
    "ann": ("+15550000002", SHARED_SLACK),  # shares a Slack id with bob
    "bob": ("+15550000003", SHARED_SLACK),
    "cat": (SHARED_PHONE, "U0CAT001"),  # shares a phone with dan
    "dan": (SHARED_PHONE, "U0DAN001"),
    "eve": (None, None),  # nothing to verify
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (not the migrated template)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'upgraded.db'}"
        return
    base = require_service("postgres", POSTGRES_URL)
    name = f"vigilo_m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _database_url(base, name)
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _at_0004_with_people(url: str) -> dict[str, uuid.UUID]:
    await asyncio.to_thread(upgrade, url, "0004")
    ids = {key: uuid.uuid4() for key in PEOPLE}
    now = datetime.datetime.now(datetime.UTC)
    password_hash = hash_password(PASSWORD)
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            USERS.insert(),
            [
                {
                    "id": ids[key],
                    "email": f"{key}@acme.test",
                    "display_name": key.title(),
                    "password_hash": password_hash,
                    "phone": phone,
                    "slack_user_id": slack,
                    "time_zone": "UTC",
                    "created_at": now,
                    "updated_at": now,
                }
                for key, (phone, slack) in PEOPLE.items()
            ],
        )
    await engine.dispose()
    return ids


async def test_upgrade_verifies_unique_values_and_unverifies_shared_ones(empty_database_url: str) -> None:
    url = empty_database_url
    ids = await _at_0004_with_people(url)
    await asyncio.to_thread(upgrade, url)

    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as db:
        people = {key: await db.get_one(UserProfile, ids[key]) for key in PEOPLE}
        await db.commit()
    # Values nobody shares stay as they were, verified: paging keeps working.
    solo = people["solo"]
    assert (solo.paging_phone, solo.paging_slack_id) == ("+15550000001", "U0SOLO01")
    assert solo.contact_notice is None
    pageable_by: dict[str, tuple[str | None, str | None]] = {
        "ann": ("+15550000002", None),
        "bob": ("+15550000003", None),
        "cat": (None, "U0CAT001"),
        "dan": (None, "U0DAN001"),
    }
    for key, reach in pageable_by.items():
        assert (people[key].paging_phone, people[key].paging_slack_id) == reach, key
    # Shared values stay on the profiles (to verify again), unverified, and each sharer is told.
    for key in ("ann", "bob"):
        assert people[key].slack_user_id == SHARED_SLACK
        assert people[key].slack_verified_at is None
        notice = people[key].contact_notice or ""
        assert SHARED_SLACK in notice
        assert "Verify it on your profile" in notice
    for key in ("cat", "dan"):
        assert people[key].phone == SHARED_PHONE
        assert people[key].phone_verified_at is None
        assert SHARED_PHONE in (people[key].contact_notice or "")
    eve = people["eve"]
    assert (eve.phone_verified_at, eve.slack_verified_at, eve.contact_notice) == (None, None, None)

    # From now on a verified value belongs to one person: the unique index refuses a second.
    async with sessions() as db:
        (await db.get_one(UserProfile, ids["ann"])).slack_verified_at = datetime.datetime.now(datetime.UTC)
        await db.commit()
        (await db.get_one(UserProfile, ids["bob"])).slack_verified_at = datetime.datetime.now(datetime.UTC)
        with pytest.raises(IntegrityError):
            await db.commit()
        await db.rollback()
    await engine.dispose()


async def test_people_whose_values_were_shared_are_told_on_their_next_page_view(empty_database_url: str) -> None:
    url = empty_database_url
    ids = await _at_0004_with_people(url)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        workspace = Workspace(slug="acme", name="Acme", slack_channel_id="C0INCIDENT")
        db.add(workspace)
        await db.flush()
        for key in PEOPLE:
            db.add(Membership(workspace_id=workspace.id, user_id=ids[key], role="member", is_active=True))
        await db.commit()
    await engine.dispose()

    settings = Settings(
        env=Environment.TEST,
        database_url=url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        public_url="http://testserver.local",
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "cat@acme.test", PASSWORD)
        home = (await client.get("/ws/acme/")).text
        assert 'id="contact-notice"' in home
        assert f"Your phone number {SHARED_PHONE} was also on another account" in home
        people = (await client.get("/ws/acme/people/")).text
        assert 'id="contact-notice"' in people  # on every page until they act on it

        client.cookies.clear()
        await login(client, "ann@acme.test", PASSWORD)
        home = (await client.get("/ws/acme/")).text
        assert 'id="contact-notice"' in home
        assert f"Your Slack id {SHARED_SLACK} was also on another account" in home

        client.cookies.clear()
        await login(client, "solo@acme.test", PASSWORD)
        assert 'id="contact-notice"' not in (await client.get("/ws/acme/")).text
