"""Factories for the rows tests need; they go through the same services the app uses."""

from __future__ import annotations

import datetime
import zlib
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Membership, UserProfile, Workspace
from app.db.transactions import writing
from app.domain.roles import Role
from app.services.accounts import add_user

PASSWORD = "correct horse battery"
T = TypeVar("T")


@dataclass
class Team:
    workspace: Workspace
    people: dict[str, UserProfile]

    def __getitem__(self, key: str) -> UserProfile:
        return self.people[key]


async def make_team(
    db: AsyncSession, slug: str = "acme", roles: dict[str, Role] | None = None, password: str = PASSWORD
) -> Team:
    """A workspace `slug` with one person per entry of `roles` (key → key@<slug>.test)."""
    roles = roles or {"owner": Role.OWNER, "admin": Role.ADMIN, "member": Role.MEMBER, "viewer": Role.VIEWER}
    people: dict[str, UserProfile] = {}
    # Contact points are unique installation-wide once verified, so each workspace gets its own numbers.
    block = zlib.crc32(slug.encode()) % 1000
    async with writing(db):
        workspace = Workspace(slug=slug, name=slug.title(), slack_channel_id="C0INCIDENT")
        db.add(workspace)
        await db.flush()
        for index, (key, role) in enumerate(roles.items()):
            user = await add_user(
                db,
                f"{key}@{slug}.test",
                key.title(),
                password=password,
                phone=f"+1555{block:03d}{index:04d}",
                slack_user_id=f"U0{slug.upper()[:4]}{index:02d}",
                verified_at=datetime.datetime.now(datetime.UTC),
            )
            db.add(Membership(workspace_id=workspace.id, user_id=user.id, role=role.value, is_active=True))
            people[key] = user
    return Team(workspace, people)


async def reload(db: AsyncSession, model: type[T], row_id: object) -> T:
    """The row as the database has it now (ends the test session's snapshot first)."""
    await db.commit()
    row = await db.get(model, row_id, populate_existing=True)
    assert row is not None, f"{model.__name__} {row_id} is gone"
    return row


async def fresh(db: AsyncSession) -> AsyncSession:
    """The test session, reset to read what others committed since (new snapshot, empty identity map)."""
    await db.commit()
    db.expunge_all()
    return db


async def make_paging_schedule(db: AsyncSession, team: Team, delay_minutes: int) -> Any:
    """A daily schedule started an hour ago: ann is on call, ben is the backup."""
    from app.services.schedules import create_schedule

    now = datetime.datetime.now(datetime.UTC)
    body = {
        "name": "Ops",
        "rotation": "daily",
        "timezone": "UTC",
        "handoff_time": "00:00",
        "starts_at": (now - datetime.timedelta(hours=1)).isoformat(),
        "members": [team["ann"].email],
        "escalation_to": team["ben"].email,
        "escalation_delay_minutes": delay_minutes,
    }
    return await create_schedule(db, team.workspace.id, body, now)
