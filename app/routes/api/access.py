"""Who is calling the JSON API: a Bearer token only; a session cookie never authenticates here."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

from app.routes.access import required_role
from app.services.identity import WorkspaceAccess
from app.services.tokens import resolve_token


async def provide_api_access(request: Request[Any, Any, Any], db_session: AsyncSession, slug: str) -> WorkspaceAccess:
    """401 without a valid token; 404 when the token belongs to another workspace; 403 for a low role."""
    needed = required_role(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
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
