"""The incidents API: declare (and page), read, resolve, escalate now, add a responder."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import pace_of, settings_of
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.inputs import Text
from app.routes.api.problems import CONFLICT_PROBLEMS, READ_PROBLEMS, WRITE_PROBLEMS
from app.routes.api.views import IncidentOut, IncidentSummaryOut, incident_summary, incident_view
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.incidents import (
    declare_incident,
    describe_incident,
    get_incident,
    list_incidents,
    resolve_incident,
)
from app.services.paging import add_responder, escalate_now


class IncidentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Text
    severity: Text
    schedule_id: Text | None = None
    escalation_policy_id: Text | None = None


class ResponderAdd(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user: Text


STATUSES = ("triggered", "acknowledged", "resolved")
MAX_LIST = 200


def _optional_id(raw: str | None, name: str, errors: dict[str, str]) -> uuid.UUID | None:
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        errors[name] = f"{name} must be an id (a UUID)."
        return None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class IncidentsApi(Controller):
    path = "/api/v1/ws/{slug:str}/incidents"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["incidents"]

    @post(
        "/",
        opt={"role": Role.MEMBER},
        status_code=HTTP_201_CREATED,
        responses=WRITE_PROBLEMS,
        summary="Declare an incident and page",
    )
    async def declare(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: IncidentCreate
    ) -> IncidentOut:
        settings = settings_of(request)
        incident = await declare_incident(
            db_session,
            access,
            data.title,
            data.severity,
            data.schedule_id,
            _now(),
            settings.seconds_per_delay_minute,
            settings.public_url,
            policy_id=data.escalation_policy_id,
            secret_key=settings.secret_key,
        )
        return incident_view(await describe_incident(db_session, incident))

    @get(
        "/",
        opt={"role": Role.VIEWER},
        responses=READ_PROBLEMS,
        summary="Incidents, newest first (?status=, ?source_id=, ?limit= up to 200, ?before= an incident id)",
    )
    async def list_all(
        self,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        status: str | None = None,
        source_id: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[IncidentSummaryOut]:
        errors: dict[str, str] = {}
        if status is not None and status not in STATUSES:
            errors["status"] = "status is triggered, acknowledged or resolved."
        if not 1 <= limit <= MAX_LIST:
            errors["limit"] = f"limit is 1 to {MAX_LIST}."
        source = _optional_id(source_id, "source_id", errors)
        after = _optional_id(before, "before", errors)
        if errors:
            raise FieldError(errors)
        rows = await list_incidents(
            db_session, access.workspace.id, limit, status=status, source_id=source, before=after
        )
        return [incident_summary(row) for row in rows]

    @get(
        "/{incident_id:str}",
        opt={"role": Role.VIEWER},
        responses=READ_PROBLEMS,
        summary="An incident with its pages and timeline",
    )
    async def read(self, db_session: AsyncSession, access: WorkspaceAccess, incident_id: str) -> IncidentOut:
        incident = await get_incident(db_session, access.workspace.id, incident_id)
        return incident_view(await describe_incident(db_session, incident))

    @post(
        "/{incident_id:str}/resolve",
        opt={"role": Role.MEMBER},
        status_code=200,
        responses=CONFLICT_PROBLEMS,
        summary="Resolve an incident",
    )
    async def resolve(self, db_session: AsyncSession, access: WorkspaceAccess, incident_id: str) -> IncidentOut:
        incident = await resolve_incident(db_session, access, incident_id, _now())
        return incident_view(await describe_incident(db_session, incident))

    @post(
        "/{incident_id:str}/escalate",
        opt={"role": Role.MEMBER},
        status_code=200,
        responses=CONFLICT_PROBLEMS,
        summary="Escalate now: page the chain's next step at once (409 when none is left)",
    )
    async def escalate(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, incident_id: str
    ) -> IncidentOut:
        incident = await get_incident(db_session, access.workspace.id, incident_id)
        await escalate_now(db_session, access, incident, _now(), pace_of(request))
        return incident_view(await describe_incident(db_session, incident))

    @post(
        "/{incident_id:str}/responders",
        opt={"role": Role.MEMBER},
        status_code=200,
        responses=CONFLICT_PROBLEMS,
        summary="Add a responder: page a chosen person outside the chain, once (409 when already added)",
    )
    async def add(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        incident_id: str,
        data: ResponderAdd,
    ) -> IncidentOut:
        incident = await get_incident(db_session, access.workspace.id, incident_id)
        await add_responder(db_session, access, incident, data.user, _now(), pace_of(request))
        return incident_view(await describe_incident(db_session, incident))
