"""API tokens: bound to one workspace and one user, stored hashed, revocable."""

from __future__ import annotations

import datetime
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiToken, Membership, UserProfile, Workspace
from app.db.transactions import begin_write
from app.domain.roles import Role
from app.services.errors import NotFound

TOKEN_PREFIX = "vgl_"  # noqa: S105 - a label, not a secret


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(db: AsyncSession, workspace: Workspace, user: UserProfile, name: str = "") -> str:
    """A new token for `user` in `workspace`; the plain token is returned once and never stored."""
    await begin_write(db)
    membership = await db.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace.id, Membership.user_id == user.id, Membership.is_active
        )
    )
    if membership is None:
        raise NotFound(f"{user.email} is not an active member of {workspace.slug}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.add(
        ApiToken(
            workspace_id=workspace.id,
            user_id=user.id,
            name=name[:120],
            token_hash=_digest(token),
            prefix=token[:12],
        )
    )
    await db.commit()
    return token


async def revoke_token(db: AsyncSession, token_id: uuid.UUID, now: datetime.datetime) -> None:
    """Revoke a token; later requests with it get 401."""
    await begin_write(db)
    row = await db.get(ApiToken, token_id)
    if row is None:
        raise NotFound("no such token")
    if row.revoked_at is None:
        row.revoked_at = now
    await db.commit()


@dataclass(frozen=True)
class TokenIdentity:
    """Who a valid token speaks for."""

    token_id: uuid.UUID
    user: UserProfile
    workspace: Workspace
    role: Role


async def resolve_token(db: AsyncSession, token: str) -> TokenIdentity | None:
    """The identity behind `token`, or None when unknown, revoked, or its membership is inactive."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await db.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    membership = await db.scalar(
        select(Membership).where(
            Membership.workspace_id == row.workspace_id,
            Membership.user_id == row.user_id,
            Membership.is_active,
        )
    )
    if membership is None:
        return None
    return TokenIdentity(row.id, membership.user, membership.workspace, Role(membership.role))


async def list_tokens(db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID | None) -> list[ApiToken]:
    """Tokens of the workspace (of one user when `user_id` is given), newest first."""
    query = select(ApiToken).where(ApiToken.workspace_id == workspace_id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(await db.scalars(query.order_by(ApiToken.created_at.desc())))


async def revoke_workspace_token(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    token_id: uuid.UUID,
    actor_id: uuid.UUID,
    actor_is_admin: bool,
    now: datetime.datetime,
) -> None:
    """Revoke a token of this workspace: your own, or anyone's when you are an admin."""
    row = await db.get(ApiToken, token_id)
    if row is None or row.workspace_id != workspace_id or (row.user_id != actor_id and not actor_is_admin):
        raise NotFound("No such token.")
    await revoke_token(db, token_id, now)
