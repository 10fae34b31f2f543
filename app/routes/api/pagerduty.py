"""The PagerDuty connections API: /api/v1/ws/{slug}/pagerduty-services (admins)."""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import settings_of
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.inputs import Text
from app.routes.api.problems import CONFLICT_PROBLEMS, READ_PROBLEMS, WRITE_PROBLEMS
from app.services.identity import WorkspaceAccess
from app.services.pagerduty import (
    ServiceView,
    create_service,
    delete_service,
    describe_service,
    list_services,
    webhook_url,
)

ADMIN = {"role": Role.ADMIN}


class ServiceCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    label: Text
    routing_key: Text  # the service's Events API v2 integration key
    signing_secret: Text  # the webhook subscription's signing secret
    api_key: Text | None = None  # optional read-only REST API key: acks name the PagerDuty user


class ServiceOut(TypedDict):
    id: str
    label: str
    routing_key_hint: str
    api_key_set: bool
    status: str  # "ready", or "cannot decrypt — enter the keys again"
    used_by: list[str]  # the policies that page through it


class ServiceCreated(ServiceOut):
    webhook_url: str  # given only here: PagerDuty's webhook subscription posts to it


def _out(view: ServiceView) -> ServiceOut:
    return {
        "id": str(view.service.id),
        "label": view.service.label,
        "routing_key_hint": view.service.routing_key_hint,
        "api_key_set": view.api_key_set,
        "status": view.status,
        "used_by": list(view.used_by),
    }


class PagerDutyApi(Controller):
    path = "/api/v1/ws/{slug:str}/pagerduty-services"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["pagerduty"]

    @post(
        "/",
        opt=ADMIN,
        responses=WRITE_PROBLEMS,
        status_code=HTTP_201_CREATED,
        summary="Connect a PagerDuty service (its webhook URL is given only in this answer)",
    )
    async def create(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: ServiceCreate
    ) -> ServiceCreated:
        settings = settings_of(request)
        body = msgspec.to_builtins(data)
        service, token = await create_service(db_session, access.workspace.id, settings.secret_key, body)
        view = await describe_service(db_session, service, settings.secret_key)
        return {**_out(view), "webhook_url": webhook_url(settings.public_url, token)}

    @get("/", opt=ADMIN, responses=READ_PROBLEMS, summary="PagerDuty services connected to the workspace")
    async def list_all(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess
    ) -> list[ServiceOut]:
        views = await list_services(db_session, access.workspace.id, settings_of(request).secret_key)
        return [_out(view) for view in views]

    @delete(
        "/{service_id:str}",
        opt=ADMIN,
        responses=CONFLICT_PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Disconnect a PagerDuty service (409 while a policy pages through it)",
    )
    async def remove(self, db_session: AsyncSession, access: WorkspaceAccess, service_id: str) -> None:
        await delete_service(db_session, access.workspace.id, service_id)
