"""The alert sources API: /api/v1/ws/{slug}/alert-sources (admins). A source's URL is given only when
it is made and when it is rotated."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, TypedDict

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import settings_of
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.inputs import Text, instant_param
from app.routes.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from app.routes.api.views import maybe_instant
from app.services.alert_sources import (
    SourceView,
    create_source,
    delete_source,
    get_source,
    list_sources,
    rotate_source,
    source_url,
    source_view,
    update_source,
)
from app.services.identity import WorkspaceAccess

ADMIN = {"role": Role.ADMIN}
UNSET = msgspec.UNSET


class SourceCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text
    kind: Text  # alertmanager | grafana | generic
    schedule_id: Text | None = None  # the target: a schedule…
    escalation_policy_id: Text | None = None  # …or an escalation policy
    severity_map: dict[Text, Text] | None = None  # label value → SEV1 to SEV4 (default critical/error/warning/info)
    default_severity: Text = "SEV3"
    auto_resolve: bool = True  # a resolved group resolves its incident (false: it is noted)


class SourcePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text | msgspec.UnsetType = UNSET
    schedule_id: Text | msgspec.UnsetType | None = UNSET
    escalation_policy_id: Text | msgspec.UnsetType | None = UNSET
    severity_map: dict[Text, Text] | msgspec.UnsetType = UNSET
    default_severity: Text | msgspec.UnsetType = UNSET
    auto_resolve: bool | msgspec.UnsetType = UNSET
    maintenance_until: Text | msgspec.UnsetType | None = UNSET  # silence until this instant; null ends it


class Notified(TypedDict):
    at: str
    title: str
    firing: bool
    outcome: str
    incident_number: int | None


class SourceOut(TypedDict):
    id: str
    name: str
    kind: str
    schedule_id: str | None
    escalation_policy_id: str | None
    target: str
    severity_map: dict[str, str]
    default_severity: str
    auto_resolve: bool
    state: str  # ready | in maintenance | rate-limited
    maintenance_until: str | None
    last_notifications: list[Notified]


class SourceCreated(SourceOut):
    url: str  # given only here and by rotate: Alertmanager's or Grafana's webhook posts to it


class SourceUrl(TypedDict):
    id: str
    url: str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _out(view: SourceView) -> SourceOut:
    source = view.source
    return {
        "id": str(source.id),
        "name": source.name,
        "kind": source.kind,
        "schedule_id": str(source.schedule_id) if source.schedule_id else None,
        "escalation_policy_id": str(source.escalation_policy_id) if source.escalation_policy_id else None,
        "target": view.target,
        "severity_map": dict(source.severity_map or {}),
        "default_severity": source.default_severity,
        "auto_resolve": source.auto_resolve,
        "state": view.state,
        "maintenance_until": maybe_instant(view.silenced_until),
        "last_notifications": [
            {
                "at": r.at.astimezone(datetime.UTC).isoformat(),
                "title": r.title,
                "firing": r.firing,
                "outcome": r.outcome,
                "incident_number": r.incident_number,
            }
            for r in view.last
        ],
    }


async def _view(db: AsyncSession, access: WorkspaceAccess, source_id: uuid.UUID) -> SourceOut:
    return _out(await source_view(db, access.workspace.id, source_id, _now()))


class AlertSourcesApi(Controller):
    path = "/api/v1/ws/{slug:str}/alert-sources"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["alert sources"]

    @post(
        "/",
        opt=ADMIN,
        responses=WRITE_PROBLEMS,
        status_code=HTTP_201_CREATED,
        summary="Add an alert source (its URL is given only in this answer)",
    )
    async def create(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: SourceCreate
    ) -> SourceCreated:
        source, token = await create_source(db_session, access.workspace.id, msgspec.to_builtins(data))
        out = await _view(db_session, access, source.id)
        return {**out, "url": source_url(settings_of(request).public_url, token)}

    @get("/", opt=ADMIN, responses=READ_PROBLEMS, summary="The workspace's alert sources and their last notifications")
    async def list_all(self, db_session: AsyncSession, access: WorkspaceAccess) -> list[SourceOut]:
        return [_out(v) for v in await list_sources(db_session, access.workspace.id, _now())]

    @get("/{source_id:str}", opt=ADMIN, responses=READ_PROBLEMS, summary="An alert source")
    async def read(self, db_session: AsyncSession, access: WorkspaceAccess, source_id: str) -> SourceOut:
        source = await get_source(db_session, access.workspace.id, source_id)
        return await _view(db_session, access, source.id)

    @patch("/{source_id:str}", opt=ADMIN, responses=WRITE_PROBLEMS, summary="Change an alert source")
    async def change(
        self, db_session: AsyncSession, access: WorkspaceAccess, source_id: str, data: SourcePatch
    ) -> SourceOut:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not UNSET}
        if changes.get("maintenance_until"):  # read before anything is written
            changes["maintenance_until"] = instant_param(changes["maintenance_until"], "maintenance_until", _now())
        source = await get_source(db_session, access.workspace.id, source_id)
        await update_source(db_session, access.workspace.id, source.id, changes, _now())
        return await _view(db_session, access, source.id)

    @post(
        "/{source_id:str}/rotate",
        opt=ADMIN,
        responses=WRITE_PROBLEMS,
        status_code=HTTP_200_OK,
        summary="A new URL for the source; the old one stops answering",
    )
    async def rotate(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, source_id: str
    ) -> SourceUrl:
        source, token = await rotate_source(db_session, access.workspace.id, source_id)
        return {"id": str(source.id), "url": source_url(settings_of(request).public_url, token)}

    @delete(
        "/{source_id:str}",
        opt=ADMIN,
        responses=READ_PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an alert source",
    )
    async def remove(self, db_session: AsyncSession, access: WorkspaceAccess, source_id: str) -> None:
        await delete_source(db_session, access.workspace.id, source_id)
