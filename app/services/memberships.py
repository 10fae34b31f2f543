"""Workspaces and who belongs to them, with which role."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Membership, UserProfile, Workspace
from app.db.transactions import lock_row, writing
from app.domain.roles import (
    MembershipRefused,
    MembershipView,
    Role,
    check_membership_change,
)
from app.services import jobs
from app.services.errors import FieldError, Forbidden, NotFound, parse_id
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.schedules import rotate_after_membership_change


async def active_membership(db: AsyncSession, slug: str, user_id: uuid.UUID) -> Membership | None:
    """The user's active membership in the workspace `slug`, with the person and the workspace, in one query."""
    if "\x00" in slug:
        return None  # never a slug, and PostgreSQL cannot even compare it
    return await db.scalar(
        select(Membership)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Workspace.slug == slug, Membership.user_id == user_id, Membership.is_active)
    )


async def access_for(db: AsyncSession, slug: str, user_id: uuid.UUID) -> WorkspaceAccess | None:
    """The user's active membership in the workspace `slug`, or None (callers answer 404)."""
    membership = await active_membership(db, slug, user_id)
    if membership is None:
        return None
    return WorkspaceAccess(WorkspaceRef.of(membership.workspace), UserRef.of(membership.user), Role(membership.role))


async def workspaces_of(db: AsyncSession, user_id: uuid.UUID) -> list[Workspace]:
    """Workspaces where the user has an active membership, by name."""
    rows = await db.scalars(
        select(Workspace)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id, Membership.is_active)
        .order_by(Workspace.name)
    )
    return list(rows)


async def list_memberships(db: AsyncSession, workspace_id: uuid.UUID) -> list[Membership]:
    """Everyone in the workspace, active first, then by name."""
    rows = await db.scalars(
        select(Membership)
        .join(UserProfile, UserProfile.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.is_active.desc(), UserProfile.display_name)
    )
    return list(rows)


async def membership_in(db: AsyncSession, workspace_id: uuid.UUID, membership_id: str) -> Membership:
    """A membership of this workspace by id, or NotFound."""
    membership = await db.get(Membership, parse_id(membership_id, "member"))
    if membership is None or membership.workspace_id != workspace_id:
        raise NotFound("No such member.")
    return membership


def parse_role(raw: str) -> Role:
    try:
        return Role(raw.strip().lower())
    except ValueError:
        raise FieldError.one("role", "Choose viewer, member, admin or owner.") from None


async def change_member(
    db: AsyncSession,
    access: WorkspaceAccess,
    membership_id: uuid.UUID,
    role_raw: str,
    is_active: bool,
    now: datetime.datetime,
) -> Membership:
    """Change a member's role or activity under the workspace lock, so two owners cannot both step down."""
    role = parse_role(role_raw)
    async with writing(db):
        membership = await _change_member(db, access, membership_id, role, is_active)
        notices = await rotate_after_membership_change(db, access.workspace.id, membership.user_id, now, access.user.id)
    await jobs.deliver(notices)
    return membership


async def _change_member(
    db: AsyncSession, access: WorkspaceAccess, membership_id: uuid.UUID, role: Role, is_active: bool
) -> Membership:
    await lock_row(db, Workspace, access.workspace.id)
    membership = await db.get(Membership, membership_id)
    if membership is None or membership.workspace_id != access.workspace.id:
        raise NotFound("no such member")
    owners = await db.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.workspace_id == access.workspace.id,
            Membership.role == Role.OWNER.value,
            Membership.is_active,
        )
    )
    try:
        check_membership_change(
            access.role,
            MembershipView(Role(membership.role), membership.is_active),
            role,
            is_active,
            owners or 0,
        )
    except MembershipRefused as exc:
        raise Forbidden(str(exc)) from None
    membership.role = role.value
    membership.is_active = is_active
    return membership


async def slot_holders(db: AsyncSession, workspace_id: uuid.UUID) -> list[UserProfile]:
    """People who may hold slots and be a backup: active members with role member or above, by name."""
    rows = await db.scalars(
        select(UserProfile)
        .join(Membership, Membership.user_id == UserProfile.id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.is_active,
            Membership.role.in_((Role.MEMBER.value, Role.ADMIN.value, Role.OWNER.value)),
        )
        .order_by(UserProfile.display_name)
    )
    return list(rows)


async def set_incident_channel(db: AsyncSession, workspace_id: uuid.UUID, raw: str) -> None:
    """Set the Slack channel incidents are posted in (a channel id such as C024BE91L)."""
    channel = raw.strip().upper()
    if channel and not (channel[0] in "CG" and channel[1:].isalnum() and 8 <= len(channel) <= 20):
        raise FieldError.one("channel", "Use the channel id (Channel details → copy the ID, such as C024BE91L).")
    async with writing(db):
        workspace = await db.get_one(Workspace, workspace_id)
        workspace.slack_channel_id = channel or None
