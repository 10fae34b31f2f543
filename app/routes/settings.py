"""Settings: the workspace and API tokens (yours; admins see everyone's)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.integrations.twilio_sms import STATUS_PATH, VOICE_ANSWER_PATH, VOICE_STATUS_PATH
from app.routes.access import provide_access, settings_of
from app.routes.forms import Form, field
from app.routes.notices import back_to
from app.services.deliveries import recent_deliveries
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.memberships import set_incident_channel
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

    @get("/integrations", name="integrations", opt={"role": Role.ADMIN})
    async def integrations(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
    ) -> Template:
        settings = settings_of(request)
        return Template(
            "settings/integrations.html",
            context={
                "access": access,
                "nav": "settings",
                "slack_ready": bool(settings.slack_bot_token and settings.slack_signing_secret),
                "slack_token_set": bool(settings.slack_bot_token),
                "signing_secret_set": bool(settings.slack_signing_secret),
                "events_url": f"{settings.public_url}/integrations/slack/events",
                "sms_url": f"{settings.public_url}/integrations/twilio_sms/",
                "status_url": f"{settings.public_url}{STATUS_PATH}",
                "voice_answer_url": f"{settings.public_url}{VOICE_ANSWER_PATH}",
                "voice_status_url": f"{settings.public_url}{VOICE_STATUS_PATH}",
                "from_number": settings.twilio_from_number,
                "twilio_ready": bool(settings.twilio_account_sid and settings.twilio_auth_token),
                "channel": access.workspace.slack_channel_id or "",
                "deliveries": await recent_deliveries(db_session, access.workspace.id),
            },
        )

    @post("/integrations/slack-channel", name="slack_channel", opt={"role": Role.ADMIN}, status_code=303)
    async def set_channel(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: Form
    ) -> Redirect:
        back = f"/ws/{access.workspace.slug}/settings/integrations"
        try:
            await set_incident_channel(db_session, access.workspace.id, field(data, "channel"))
        except FieldError as exc:
            return back_to(request, back, error=exc.errors["channel"])
        return back_to(request, back, notice="Saved")

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
