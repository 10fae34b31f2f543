"""API tokens: bound to one workspace and one user, stored hashed, revocable."""

from __future__ import annotations

import datetime
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiToken, Membership
from app.db.transactions import writing
from app.domain.roles import Role
from app.services.errors import NotFound
from app.services.identity import UserRef, WorkspaceRef

TOKEN_PREFIX = "vgl_"  # noqa: S105 - a label, not a secret


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID, name: str = "") -> str:
    """A new token for the user in the workspace; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with writing(db):
        membership = await db.scalar(
            select(Membership).where(
                Membership.workspace_id == workspace_id, Membership.user_id == user_id, Membership.is_active
            )
        )
        if membership is None:
            raise NotFound("Only active members of the workspace get API tokens.")
        db.add(
            ApiToken(
                workspace_id=workspace_id,
                user_id=user_id,
                name=name[:120],
                token_hash=_digest(token),
                prefix=token[:12],
            )
        )
    return token


async def revoke_token(db: AsyncSession, token_id: uuid.UUID, now: datetime.datetime) -> None:
    """Revoke a token; later requests with it get 401."""
    async with writing(db):
        row = await db.get(ApiToken, token_id)
        if row is None:
            raise NotFound("No such token.")
        if row.revoked_at is None:
            row.revoked_at = now


@dataclass(frozen=True)
class TokenIdentity:
    """Who a valid token speaks for."""

    token_id: uuid.UUID
    user: UserRef
    workspace: WorkspaceRef
    role: Role


async def resolve_token(db: AsyncSession, token: str) -> TokenIdentity | None:
    """The identity behind `token`, or None when unknown, revoked, or its membership is inactive."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    # One query: the token, its membership, the person and the workspace (with its board version).
    found = (
        await db.execute(
            select(ApiToken.id, Membership)
            .join(
                Membership,
                (Membership.workspace_id == ApiToken.workspace_id) & (Membership.user_id == ApiToken.user_id),
            )
            .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None), Membership.is_active)
        )
    ).first()
    if found is None:
        return None
    token_id, membership = found
    return TokenIdentity(
        token_id, UserRef.of(membership.user), WorkspaceRef.of(membership.workspace), Role(membership.role)
    )


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
