"""Slot edits and hand-offs over the API: the same service calls and rules as the dialogs."""

from __future__ import annotations

import datetime

import msgspec
from litestar import Controller, delete, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_204_NO_CONTENT
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OnCallSlot, UserProfile
from app.domain.roles import Role
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.inputs import Text
from app.routes.api.problems import CONFLICT_PROBLEMS
from app.routes.api.views import SlotOut, slot_view
from app.services.identity import WorkspaceAccess
from app.services.overrides import edit_slot, hand_off, remove_override, slot_in_workspace

EDIT = {"role": Role.MEMBER}


class SlotPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user: Text | msgspec.UnsetType = msgspec.UNSET
    start: Text | msgspec.UnsetType = msgspec.UNSET
    end: Text | msgspec.UnsetType = msgspec.UNSET


class HandoffBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    to: Text
    at: Text | None = None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def _views(db: AsyncSession, slots: list[OnCallSlot]) -> list[SlotOut]:
    users = {
        u.id: u for u in await db.scalars(select(UserProfile).where(UserProfile.id.in_([s.user_id for s in slots])))
    }
    return [slot_view(slot, users[slot.user_id]) for slot in slots]


class SlotsApi(Controller):
    path = "/api/v1/ws/{slug:str}"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["slots"]

    @patch(
        "/slots/{slot_id:str}",
        opt=EDIT,
        responses=CONFLICT_PROBLEMS,
        summary="Override a slot: another person and/or new bounds",
    )
    async def edit(self, db_session: AsyncSession, access: WorkspaceAccess, slot_id: str, data: SlotPatch) -> SlotOut:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        result = await edit_slot(db_session, access, slot_id, changes, _now())
        # An edit that changes nothing (the same person and bounds) creates no override: the slot as it is.
        slots = result.slots or [await slot_in_workspace(db_session, access.workspace.id, slot_id)]
        return (await _views(db_session, slots))[0]

    @delete(
        "/slots/{slot_id:str}",
        opt=EDIT,
        responses=CONFLICT_PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove an override",
    )
    async def remove(self, db_session: AsyncSession, access: WorkspaceAccess, slot_id: str) -> None:
        await remove_override(db_session, access, slot_id, _now())

    @post(
        "/schedules/{schedule_id:str}/handoff",
        opt=EDIT,
        responses=CONFLICT_PROBLEMS,
        status_code=200,
        summary="Hand off the slot at a time",
    )
    async def handoff(
        self, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str, data: HandoffBody
    ) -> list[SlotOut]:
        result = await hand_off(db_session, access, schedule_id, data.to, data.at, _now())
        return await _views(db_session, result.slots)
