"""Settings: the workspace and API tokens (yours; admins see everyone's)."""

from __future__ import annotations

import datetime
import uuid

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import provide_access
from app.routes.forms import Form, field
from app.services.identity import WorkspaceAccess
from app.services.tokens import issue_token, list_tokens, revoke_workspace_token

VIEWER = {"role": Role.VIEWER}


class SettingsPages(Controller):
    path = "/ws/{slug:str}/settings"
    dependencies = {"access": Provide(provide_access)}

    async def _render(
        self, db_session: AsyncSession, access: WorkspaceAccess, new_token: str | None = None
    ) -> Template:
        is_admin = access.allows(Role.ADMIN)
        tokens = await list_tokens(db_session, access.workspace.id, None if is_admin else access.user.id)
        return Template(
            "settings/index.html",
            context={
                "access": access,
                "nav": "settings",
                "tokens": tokens,
                "new_token": new_token,
                "is_admin": is_admin,
            },
        )

    @get("/", name="settings", opt=VIEWER)
    async def index(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        return await self._render(db_session, access)

    @post("/tokens", name="token_create", opt=VIEWER, status_code=200)
    async def create_token(self, db_session: AsyncSession, access: WorkspaceAccess, data: Form) -> Template:
        # Shown once, on this response; only its hash is stored.
        token = await issue_token(db_session, access.workspace.id, access.user.id, field(data, "name"))
        return await self._render(db_session, access, new_token=token)

    @post("/tokens/{token_id:str}/revoke", name="token_revoke", opt=VIEWER, status_code=303)
    async def revoke(self, db_session: AsyncSession, access: WorkspaceAccess, token_id: str) -> Redirect:
        try:
            parsed = uuid.UUID(token_id)
        except ValueError:
            raise NotFoundException("No such token.") from None
        await revoke_workspace_token(
            db_session,
            access.workspace.id,
            parsed,
            access.user.id,
            access.allows(Role.ADMIN),
            datetime.datetime.now(datetime.UTC),
        )
        return Redirect(f"/ws/{access.workspace.slug}/settings/", status_code=303)
