"""The demo workspace `vigilo demo` and `make run` create: idempotent, safe to run again."""

from __future__ import annotations

import datetime
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Membership, UserProfile, Workspace
from app.db.transactions import writing
from app.domain.roles import Role
from app.services.accounts import hash_password
from app.services.identity import WorkspaceRef
from app.services.policies import create_policy, list_policies
from app.services.schedules import create_schedule, list_schedules

DEMO_SLUG = "demo"
DEMO_CHANNEL = "C0DEMOINC1"


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    role: Role
    phone: str | None
    slack_user_id: str | None
    time_zone: str


DEMO_PEOPLE = (
    DemoPerson("admin@example.com", "Ada Admin", Role.OWNER, "+15550100001", "U0DEMOADMN", "Europe/Berlin"),
    DemoPerson("alice@example.com", "Alice Archer", Role.MEMBER, "+15550100002", "U0DEMOALIC", "Europe/Berlin"),
    DemoPerson("bob@example.com", "Bob Baker", Role.MEMBER, "+15550100003", "U0DEMOBOB1", "America/New_York"),
    DemoPerson("carol@example.com", "Carol Chen", Role.MEMBER, "+15550100004", "U0DEMOCARL", "Asia/Kolkata"),
    DemoPerson("dave@example.com", "Dave Diaz", Role.MEMBER, "+15550100005", "U0DEMODAVE", "America/New_York"),
    DemoPerson("viewer@example.com", "Vic Viewer", Role.VIEWER, None, None, "UTC"),
)


@dataclass(frozen=True)
class DemoResult:
    workspace: WorkspaceRef
    password: str
    created: bool


DEMO_SCHEDULES: tuple[dict[str, object], ...] = (
    {
        "name": "Platform — primary",
        "rotation": "weekly",
        "timezone": "Europe/Berlin",
        "handoff_time": "09:00",
        "handoff_weekday": 0,
        "members": ["alice@example.com", "bob@example.com", "carol@example.com"],
        "escalation_to": "dave@example.com",
        "escalation_delay_minutes": 15,
    },
    {
        "name": "Database — primary",
        "rotation": "daily",
        "timezone": "America/New_York",
        "handoff_time": "09:00",
        "members": ["dave@example.com", "carol@example.com", "bob@example.com"],
        "escalation_to": "alice@example.com",
        "escalation_delay_minutes": 10,
    },
)


async def seed_demo(db: AsyncSession, now: datetime.datetime, password: str | None = None) -> DemoResult:
    """Create what is missing of the demo workspace; existing rows are left alone.

    Every demo person gets `password` (a fresh random one when None) so the printed password
    always works, also on a second run.
    """
    password = password or secrets.token_urlsafe(9)
    password_hash = hash_password(password)
    async with writing(db):
        workspace, created = await _seed(db, password_hash, now)
    existing = {schedule.name for schedule in await list_schedules(db, workspace.id)}
    for body in DEMO_SCHEDULES:
        if body["name"] not in existing:
            # Started two weeks ago, so the calendar shows some history too.
            start = (now - datetime.timedelta(days=14)).isoformat()
            await create_schedule(db, workspace.id, {**body, "starts_at": start}, now)
    await _seed_policy(db, workspace.id)
    return DemoResult(WorkspaceRef.of(workspace), password, created)


DEMO_POLICY = "Platform — follow the sun"


async def _seed_policy(db: AsyncSession, workspace_id: uuid.UUID) -> None:
    """A policy beside the schedules' own backups (no schedule uses it): declare an incident through
    it to see a chain of steps and a repeat."""
    if any(view.policy.name == DEMO_POLICY for view in await list_policies(db, workspace_id)):
        return
    by_name = {schedule.name: schedule.id for schedule in await list_schedules(db, workspace_id)}
    body = {
        "name": DEMO_POLICY,
        "repeat": 1,
        "steps": [
            {"delay_minutes": 5, "targets": [{"schedule_id": str(by_name["Platform — primary"])}]},
            {"delay_minutes": 10, "targets": [{"user": "dave@example.com"}, {"user": "carol@example.com"}]},
            {"delay_minutes": 15, "targets": [{"user": "admin@example.com"}]},
        ],
    }
    await create_policy(db, workspace_id, body)


async def _seed(db: AsyncSession, password_hash: str, now: datetime.datetime) -> tuple[Workspace, bool]:
    workspace = await db.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
    created = workspace is None
    if workspace is None:
        workspace = Workspace(slug=DEMO_SLUG, name="Demo", slack_channel_id=DEMO_CHANNEL)
        db.add(workspace)
        await db.flush()
    for person in DEMO_PEOPLE:
        user = await db.scalar(select(UserProfile).where(UserProfile.email == person.email))
        if user is None:
            user = UserProfile(
                email=person.email,
                display_name=person.name,
                phone=person.phone,
                slack_user_id=person.slack_user_id,
                time_zone=person.time_zone,
                # The demo's people are seeded verified, so the demo pages them at once.
                phone_verified_at=now if person.phone else None,
                slack_verified_at=now if person.slack_user_id else None,
            )
            db.add(user)
        user.password_hash = password_hash
        user.is_installation_admin = person.role is Role.OWNER  # the demo's owner sees the Workspaces page
        await db.flush()
        membership = await db.scalar(
            select(Membership).where(Membership.workspace_id == workspace.id, Membership.user_id == user.id)
        )
        if membership is None:
            db.add(Membership(workspace_id=workspace.id, user_id=user.id, role=person.role.value, is_active=True))
    await db.flush()
    return workspace, created
