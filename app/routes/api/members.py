"""GET /api/v1/ws/{slug}/members: who is in the workspace."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.problems import READ_PROBLEMS
from app.routes.api.views import MemberOut, member_view
from app.services.identity import WorkspaceAccess
from app.services.memberships import list_memberships


class MembersApi(Controller):
    path = "/api/v1/ws/{slug:str}/members"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["people"]

    @get("/", opt={"role": Role.VIEWER}, responses=READ_PROBLEMS, summary="Workspace members with their roles")
    async def list_members(self, db_session: AsyncSession, access: WorkspaceAccess) -> list[MemberOut]:
        return [member_view(m) for m in await list_memberships(db_session, access.workspace.id)]
