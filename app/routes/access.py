"""Who is asking: the session user for pages, and their role in the workspace of the URL.

Every handler under /ws/{slug}/ declares the least role it needs in `opt={"role": Role.X}`;
`provide_access` enforces it, and refuses handlers that forgot to say (so no route is open by
accident).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import ImproperlyConfiguredException, NotFoundException, PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import UserProfile
from app.domain.roles import Role
from app.services.accounts import get_user
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.memberships import active_membership
from app.services.paging import Pace
from app.sessions import REFRESHED, rotate_session

SESSION_USER_KEY = "uid"
LOGIN_AT_KEY = "login_at"  # when this session logged in: a password reset ends the sessions before it


def log_in(request: Request[Any, Any, Any], user: UserProfile) -> None:
    """Start a fresh session (a new id, so one planted before login is worthless) for `user`."""
    rotate_session(request)
    now = time.time()
    request.set_session({SESSION_USER_KEY: str(user.id), REFRESHED: now, LOGIN_AT_KEY: now})


class LoginRequired(Exception):
    """No logged-in user; pages redirect to the login form."""


def required_role(connection: ASGIConnection[Any, Any, Any, Any]) -> Role:
    role = connection.route_handler.opt.get("role")
    if not isinstance(role, Role):
        raise ImproperlyConfiguredException(f"{connection.route_handler} declares no opt['role']")
    return role


def _session_user_id(request: Request[Any, Any, Any]) -> uuid.UUID:
    raw = request.session.get(SESSION_USER_KEY) if request.scope.get("session") else None
    if not raw:
        raise LoginRequired  # an anonymous session keeps what it holds (a notice for the login page)
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return _no_login(request)


def _no_login(request: Request[Any, Any, Any]) -> uuid.UUID:
    if request.scope.get("session"):
        request.clear_session()
    raise LoginRequired


def _still_valid(request: Request[Any, Any, Any], user: UserProfile | None) -> UserProfile:
    """`user` unless missing or their sessions were ended (a password reset) after this one logged in."""
    valid_after = user.sessions_valid_after if user is not None else None
    if user is None or (valid_after and float(request.session.get(LOGIN_AT_KEY, 0)) < valid_after.timestamp()):
        _no_login(request)
    assert user is not None
    return user


async def session_user(request: Request[Any, Any, Any], db_session: AsyncSession) -> UserProfile:
    """The logged-in user, or LoginRequired."""
    user_id = _session_user_id(request)
    return _still_valid(request, await get_user(db_session, user_id))


def settings_of(request: Request[Any, Any, Any]) -> Settings:
    """The settings the app was built with."""
    settings = request.app.state["settings"]
    assert isinstance(settings, Settings)
    return settings


def pace_of(request: Request[Any, Any, Any]) -> Pace:
    """How long a configured minute lasts and where links point, for the paging services."""
    settings = settings_of(request)
    return Pace(settings.seconds_per_delay_minute, settings.public_url, settings.secret_key)


async def provide_user(request: Request[Any, Any, Any], db_session: AsyncSession) -> UserProfile:
    return await session_user(request, db_session)


async def provide_access(request: Request[Any, Any, Any], db_session: AsyncSession, slug: str) -> WorkspaceAccess:
    """The caller's membership of workspace `slug`: 404 when they have none, 403 when the role is too low."""
    needed = required_role(request)
    user_id = _session_user_id(request)
    # One query in the common case: the membership comes with the person and the workspace.
    found = await active_membership(db_session, slug, user_id)
    if found is None:
        await session_user(request, db_session)  # logged out (to the login form), or not a member: 404
        raise NotFoundException("No such workspace.")
    _still_valid(request, found.user)
    access = WorkspaceAccess(WorkspaceRef.of(found.workspace), UserRef.of(found.user), Role(found.role))
    if not access.allows(needed):
        raise PermissionDeniedException(f"This needs the {needed.value} role; you are a {access.role.value}.")
    return access
