"""Who is calling the JSON API: a Bearer token only; a session cookie never authenticates here."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.routes.access import required_role
from app.routes.bodies import MAX_JSON_DEPTH, TOO_DEEP, json_depth
from app.services.identity import WorkspaceAccess
from app.services.tokens import resolve_token

ACCESS_KEY = "vigilo_api_access"


async def authenticate_api(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The API's guard: guards run before Litestar reads the body, so a caller without a valid token
    gets 401 whatever it sent, and nobody's body reaches a parser unless it is sane (64 levels)."""
    alchemy = connection.app.state["alchemy"]
    db: AsyncSession = alchemy.provide_session(connection.app.state, connection.scope)
    access = await _access(connection, db, str(connection.path_params.get("slug", "")))
    connection.state[ACCESS_KEY] = access
    if (
        isinstance(connection, Request)
        and connection.method in {"POST", "PUT", "PATCH"}
        and json_depth(await connection.body()) > MAX_JSON_DEPTH
    ):
        raise ClientException(TOO_DEEP)  # a 400 naming `body` (app/routes/errors.py)


async def provide_api_access(request: Request[Any, Any, Any]) -> WorkspaceAccess:
    """The caller the guard authenticated."""
    access = request.state.get(ACCESS_KEY)
    assert isinstance(access, WorkspaceAccess), "the API guard did not run"
    return access


async def _access(
    connection: ASGIConnection[Any, Any, Any, Any], db_session: AsyncSession, slug: str
) -> WorkspaceAccess:
    """401 without a valid token; 404 when the token belongs to another workspace; 403 for a low role."""
    needed = required_role(connection)
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("Send an API token as `Authorization: Bearer <token>`.")
    identity = await resolve_token(db_session, token.strip())
    if identity is None:
        raise NotAuthorizedException("The API token is unknown or revoked.")
    if identity.workspace.slug != slug:
        raise NotFoundException("No such workspace.")
    access = WorkspaceAccess(identity.workspace, identity.user, identity.role)
    if not access.allows(needed):
        raise PermissionDeniedException(f"This needs the {needed.value} role; the token acts as {identity.role.value}.")
    return access
