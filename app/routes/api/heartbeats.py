"""The heartbeat monitors API: /api/v1/ws/{slug}/heartbeats (admins). A monitor's ping URL is given
only when it is made."""

from __future__ import annotations

import datetime
from typing import Any, TypedDict

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import pace_of, settings_of
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.inputs import Text
from app.routes.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from app.routes.api.views import maybe_instant
from app.services.heartbeats import MonitorView, create_monitor, delete_monitor, list_monitors, ping_url
from app.services.identity import WorkspaceAccess

ADMIN = {"role": Role.ADMIN}


class MonitorCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text
    interval_minutes: int  # a ping at least this often, or an incident opens
    schedule_id: Text | None = None  # the target: a schedule…
    escalation_policy_id: Text | None = None  # …or an escalation policy


class MonitorOut(TypedDict):
    id: str
    name: str
    interval_minutes: int
    schedule_id: str | None
    escalation_policy_id: str | None
    last_ping_at: str | None
    due_at: str | None  # the next ping is due by then
    state: str  # waiting for its first ping | up | late
    incident_id: str | None  # the incident a missed ping opened, while it is open


class MonitorCreated(TypedDict):
    id: str
    name: str
    interval_minutes: int
    ping_url: str  # given only here: GET or POST it from the job
    last_ping_at: str | None


def _out(view: MonitorView) -> MonitorOut:
    monitor = view.monitor
    return {
        "id": str(monitor.id),
        "name": monitor.name,
        "interval_minutes": monitor.interval_minutes,
        "schedule_id": str(monitor.schedule_id) if monitor.schedule_id else None,
        "escalation_policy_id": str(monitor.escalation_policy_id) if monitor.escalation_policy_id else None,
        "last_ping_at": maybe_instant(monitor.last_ping_at),
        "due_at": maybe_instant(monitor.due_at),
        "state": view.state,
        "incident_id": str(view.open_incident_id) if view.open_incident_id else None,
    }


class HeartbeatsApi(Controller):
    path = "/api/v1/ws/{slug:str}/heartbeats"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["heartbeat monitors"]

    @post(
        "/",
        opt=ADMIN,
        responses=WRITE_PROBLEMS,
        status_code=HTTP_201_CREATED,
        summary="Add a heartbeat monitor (its ping URL is given only in this answer)",
    )
    async def create(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: MonitorCreate
    ) -> MonitorCreated:
        now = datetime.datetime.now(datetime.UTC)
        raw = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
        monitor, token = await create_monitor(db_session, access.workspace.id, raw, now, pace_of(request))
        return {
            "id": str(monitor.id),
            "name": monitor.name,
            "interval_minutes": monitor.interval_minutes,
            "ping_url": ping_url(settings_of(request).public_url, token),
            "last_ping_at": None,
        }

    @get("/", opt=ADMIN, responses=READ_PROBLEMS, summary="The workspace's heartbeat monitors")
    async def list_all(self, db_session: AsyncSession, access: WorkspaceAccess) -> list[MonitorOut]:
        return [_out(m) for m in await list_monitors(db_session, access.workspace.id)]

    @delete(
        "/{monitor_id:str}",
        opt=ADMIN,
        responses=READ_PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a heartbeat monitor (its URL stops answering)",
    )
    async def remove(self, db_session: AsyncSession, access: WorkspaceAccess, monitor_id: str) -> None:
        await delete_monitor(db_session, access.workspace.id, monitor_id)
