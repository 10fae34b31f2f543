"""The schedules API: /api/v1/ws/{slug}/schedules and /api/v1/ws/{slug}/oncall."""

from __future__ import annotations

import datetime
from typing import Any, Literal

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.inputs import Text, instant_param
from app.routes.api.problems import CONFLICT_PROBLEMS, READ_PROBLEMS, WRITE_PROBLEMS
from app.routes.api.views import (
    OnCallOut,
    OnCallOverviewOut,
    ScheduleOut,
    SlotOut,
    SlotsWritten,
    oncall_view,
    schedule_view,
    slot_view,
)
from app.services.board import KEEP
from app.services.board_cache import ProcessCache
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.schedules import (
    create_schedule,
    delete_schedule,
    describe,
    extend_schedule,
    get_schedule,
    list_schedules,
    oncall_at,
    oncall_changes_at,
    oncall_for_all,
    regenerate_schedule,
    set_active,
    slots_between,
    update_schedule,
)

READ = {"role": Role.VIEWER}
WRITE = {"role": Role.ADMIN}
MAX_WINDOW = datetime.timedelta(days=366)
UNSET = msgspec.UNSET
_WHOS_UP: ProcessCache[list[OnCallOut]] = ProcessCache()  # who's up now, per (workspace, board version)


class ScheduleCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text
    rotation: Literal["daily", "weekly", "custom"]
    timezone: Text
    handoff_time: Text
    members: list[Text]
    handoff_weekday: int | None = None
    shift_hours: int | None = None
    shift_days: int | None = None
    starts_at: Text | None = None
    escalation_to: Text | None = None
    escalation_delay_minutes: int = 15
    escalation_policy_id: Text | None = None
    is_active: bool = True


class SchedulePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text | msgspec.UnsetType = UNSET
    rotation: Literal["daily", "weekly", "custom"] | msgspec.UnsetType = UNSET
    timezone: Text | msgspec.UnsetType = UNSET
    handoff_time: Text | msgspec.UnsetType = UNSET
    members: list[Text] | msgspec.UnsetType = UNSET
    handoff_weekday: int | msgspec.UnsetType | None = UNSET
    shift_hours: int | msgspec.UnsetType | None = UNSET
    shift_days: int | msgspec.UnsetType | None = UNSET
    escalation_to: Text | msgspec.UnsetType | None = UNSET
    escalation_delay_minutes: int | msgspec.UnsetType = UNSET
    escalation_policy_id: Text | msgspec.UnsetType | None = UNSET
    is_active: bool | msgspec.UnsetType = UNSET


class RegenerateBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    from_: Text | None = msgspec.field(default=None, name="from")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _given(struct: msgspec.Struct) -> dict[str, Any]:
    return {name: value for name in struct.__struct_fields__ if (value := getattr(struct, name)) is not UNSET}


class SchedulesApi(Controller):
    path = "/api/v1/ws/{slug:str}"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["schedules"]

    @post(
        "/schedules",
        opt=WRITE,
        responses=WRITE_PROBLEMS,
        status_code=HTTP_201_CREATED,
        summary="Create a schedule and its slots",
    )
    async def create(self, db_session: AsyncSession, access: WorkspaceAccess, data: ScheduleCreate) -> ScheduleOut:
        body = msgspec.structs.asdict(data)
        active = body.pop("is_active")
        schedule = await create_schedule(db_session, access.workspace.id, body, _now())
        if not active:  # made, then put aside: the same as the page's Deactivate
            schedule = await set_active(db_session, access.workspace.id, schedule.id, False, _now())
        return schedule_view(await describe(db_session, schedule))

    @get("/schedules", opt=READ, responses=READ_PROBLEMS, summary="Schedules of the workspace")
    async def list_all(self, db_session: AsyncSession, access: WorkspaceAccess) -> list[ScheduleOut]:
        schedules = await list_schedules(db_session, access.workspace.id)
        return [schedule_view(await describe(db_session, schedule)) for schedule in schedules]

    @get("/schedules/{schedule_id:str}", opt=READ, responses=READ_PROBLEMS, summary="One schedule")
    async def read(self, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str) -> ScheduleOut:
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        return schedule_view(await describe(db_session, schedule))

    @patch(
        "/schedules/{schedule_id:str}",
        opt=WRITE,
        responses=WRITE_PROBLEMS,
        summary="Change a schedule (from its next boundary)",
    )
    async def change(
        self, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str, data: SchedulePatch
    ) -> ScheduleOut:
        changes = _given(data)
        active = changes.pop("is_active", None)
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        if changes:
            schedule = await update_schedule(
                db_session, access.workspace.id, schedule.id, changes, _now(), access.user.id
            )
        if active is not None and active != schedule.is_active:
            schedule = await set_active(db_session, access.workspace.id, schedule.id, active, _now())
        return schedule_view(await describe(db_session, schedule))

    @delete(
        "/schedules/{schedule_id:str}",
        opt=WRITE,
        responses=CONFLICT_PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a schedule (409 while an escalation policy pages it)",
    )
    async def remove(self, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str) -> None:
        await delete_schedule(db_session, access.workspace.id, schedule_id)

    @get(
        "/schedules/{schedule_id:str}/slots",
        opt=READ,
        responses=READ_PROBLEMS,
        summary="Slots meeting a window, by start",
    )
    async def slots(
        self,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        schedule_id: str,
        start: str | None = None,
        end: str | None = None,
    ) -> list[SlotOut]:
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        window_start = instant_param(start, "start", _now())
        window_end = instant_param(end, "end", window_start + datetime.timedelta(days=7))
        if window_end <= window_start:
            raise FieldError.one("end", "The window must end after it starts.")
        if window_end - window_start > MAX_WINDOW:
            raise FieldError.one("end", "Ask for at most a year of slots at a time.")
        rows = await slots_between(db_session, schedule.id, window_start, window_end)
        return [slot_view(slot, user) for slot, user in rows]

    @get(
        "/schedules/{schedule_id:str}/oncall",
        opt=READ,
        responses=READ_PROBLEMS,
        summary="Who is on call for one schedule",
    )
    async def schedule_oncall(
        self, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str, at: str | None = None
    ) -> OnCallOut:
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        return oncall_view(await oncall_at(db_session, schedule, instant_param(at, "at", _now())))

    @get("/oncall", opt=READ, responses=READ_PROBLEMS, summary="Who is on call for every schedule")
    async def oncall(
        self, db_session: AsyncSession, access: WorkspaceAccess, at: str | None = None
    ) -> OnCallOverviewOut:
        now = _now()
        when = instant_param(at, "at", now)
        if at is not None:  # another moment: read it, keep nothing
            schedules = await list_schedules(db_session, access.workspace.id)
            return {
                "at": when.isoformat(),
                "schedules": [oncall_view(o) for o in await oncall_for_all(db_session, schedules, when)],
            }
        # Now: what this process built under the board version read with the token, until a hand-off.
        version = access.workspace.board_version
        views = _WHOS_UP.get(access.workspace.id, version, now)
        if views is None:
            oncall = await oncall_for_all(db_session, await list_schedules(db_session, access.workspace.id), now)
            views = [oncall_view(o) for o in oncall]
            _WHOS_UP.put(access.workspace.id, version, views, await oncall_changes_at(db_session, oncall, now, KEEP))
        return {"at": now.isoformat(), "schedules": views}

    @post(
        "/schedules/{schedule_id:str}/extend",
        opt=WRITE,
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Fill up to now + horizon",
    )
    async def extend(self, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str) -> SlotsWritten:
        return {"slots_written": await extend_schedule(db_session, access.workspace.id, schedule_id, _now())}

    @post(
        "/schedules/{schedule_id:str}/regenerate",
        opt=WRITE,
        responses=WRITE_PROBLEMS,
        status_code=200,
        summary="Recompute from a time",
    )
    async def regenerate(
        self, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str, data: RegenerateBody | None = None
    ) -> SlotsWritten:
        since = data.from_ if data is not None else None
        written = await regenerate_schedule(db_session, access.workspace.id, schedule_id, since, _now(), access.user.id)
        return {"slots_written": written}
