"""GET and PATCH /api/v1/ws/{slug}/me: the token's own person, role, and how they are paged."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, patch
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.reminders import parse_reminder_choice
from app.domain.roles import Role
from app.domain.voice import parse_paging_choice
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.problems import READ_PROBLEMS
from app.routes.api.views import MeOut, me_view
from app.services.accounts import get_user, set_paging_choice
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.reminders import choice_of, set_reminder_choice

UNSET = msgspec.UNSET


class MePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    page_by: list[str] | msgspec.UnsetType = UNSET  # "sms", "voice", or both
    voice_after_minutes: int | msgspec.UnsetType = UNSET  # 0 to 10: with both, the call's wait after the text
    reminder_minutes: int | msgspec.UnsetType = UNSET  # before each shift: 0 (off), 15, 60 or 1440
    reminder_channels: list[str] | msgspec.UnsetType = UNSET  # "slack", "sms" or both


class MeApi(Controller):
    path = "/api/v1/ws/{slug:str}/me"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["people"]

    @get("/", opt={"role": Role.VIEWER}, responses=READ_PROBLEMS, summary="You: your role and how you are paged")
    async def read(self, db_session: AsyncSession, access: WorkspaceAccess) -> MeOut:
        user = await get_user(db_session, access.user.id)
        assert user is not None
        return me_view(user, access.role)

    @patch(
        "/",
        opt={"role": Role.VIEWER},
        responses=READ_PROBLEMS,
        summary="Change how you are paged and reminded of your shifts",
    )
    async def change(self, db_session: AsyncSession, access: WorkspaceAccess, data: MePatch) -> MeOut:
        user = await get_user(db_session, access.user.id)
        assert user is not None
        page_by = data.page_by if not isinstance(data.page_by, msgspec.UnsetType) else user.page_by
        after = (
            data.voice_after_minutes
            if not isinstance(data.voice_after_minutes, msgspec.UnsetType)
            else user.voice_after_minutes
        )
        reminding = not isinstance(data.reminder_minutes, msgspec.UnsetType) or not isinstance(
            data.reminder_channels, msgspec.UnsetType
        )
        if reminding:  # checked before anything is written: a bad reminder changes nothing
            minutes = (
                data.reminder_minutes
                if not isinstance(data.reminder_minutes, msgspec.UnsetType)
                else user.reminder_minutes
            )
            channels = (
                data.reminder_channels
                if not isinstance(data.reminder_channels, msgspec.UnsetType)
                else choice_of(user).channels
            )
            _, errors = parse_reminder_choice(minutes, channels)
            _, paging_errors = parse_paging_choice(page_by, after)
            if errors or paging_errors:
                raise FieldError({**paging_errors, **errors})  # every bad field named at once
        user = await set_paging_choice(db_session, access.user.id, page_by, after)
        if reminding:
            user = await set_reminder_choice(db_session, access.user.id, minutes, channels)
        return me_view(user, access.role)
