"""The escalation policies API: /api/v1/ws/{slug}/escalation-policies."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.inputs import Text
from app.routes.api.problems import CONFLICT_PROBLEMS, READ_PROBLEMS, WRITE_PROBLEMS
from app.routes.api.views import PolicyOut, policy_view
from app.services.identity import WorkspaceAccess
from app.services.policies import (
    create_policy,
    delete_policy,
    describe_policy,
    get_policy,
    list_policies,
    update_policy,
)

READ = {"role": Role.VIEWER}
WRITE = {"role": Role.ADMIN}
UNSET = msgspec.UNSET


class TargetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A schedule (whoever is on call in it when the step fires), a person by email, or a PagerDuty
    service (its own escalation pages the people): one of the three."""

    schedule_id: Text | None = None
    user: Text | None = None
    pagerduty_service_id: Text | None = None


class StepIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    delay_minutes: int
    targets: list[TargetIn]


class PolicyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text
    steps: list[StepIn]
    repeat: int = 0


class PolicyPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text | msgspec.UnsetType = UNSET
    repeat: int | msgspec.UnsetType = UNSET
    steps: list[StepIn] | msgspec.UnsetType = UNSET  # replaced whole


def _body(struct: msgspec.Struct) -> dict[str, Any]:
    given = {name: getattr(struct, name) for name in struct.__struct_fields__}
    return {k: msgspec.to_builtins(v) for k, v in given.items() if v is not UNSET}


class PoliciesApi(Controller):
    path = "/api/v1/ws/{slug:str}/escalation-policies"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["escalation policies"]

    @post(
        "/",
        opt=WRITE,
        responses=WRITE_PROBLEMS,
        status_code=HTTP_201_CREATED,
        summary="Create an escalation policy",
    )
    async def create(self, db_session: AsyncSession, access: WorkspaceAccess, data: PolicyCreate) -> PolicyOut:
        policy = await create_policy(db_session, access.workspace.id, _body(data))
        return policy_view(await describe_policy(db_session, policy))

    @get("/", opt=READ, responses=READ_PROBLEMS, summary="Escalation policies of the workspace")
    async def list_all(self, db_session: AsyncSession, access: WorkspaceAccess) -> list[PolicyOut]:
        return [policy_view(view) for view in await list_policies(db_session, access.workspace.id)]

    @get("/{policy_id:str}", opt=READ, responses=READ_PROBLEMS, summary="One escalation policy")
    async def read(self, db_session: AsyncSession, access: WorkspaceAccess, policy_id: str) -> PolicyOut:
        policy = await get_policy(db_session, access.workspace.id, policy_id)
        return policy_view(await describe_policy(db_session, policy))

    @patch(
        "/{policy_id:str}",
        opt=WRITE,
        responses=WRITE_PROBLEMS,
        summary="Change an escalation policy (running incidents keep their copy)",
    )
    async def change(
        self, db_session: AsyncSession, access: WorkspaceAccess, policy_id: str, data: PolicyPatch
    ) -> PolicyOut:
        policy = await update_policy(db_session, access.workspace.id, policy_id, _body(data))
        return policy_view(await describe_policy(db_session, policy))

    @delete(
        "/{policy_id:str}",
        opt=WRITE,
        responses=CONFLICT_PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an escalation policy (409 while a schedule pages through it)",
    )
    async def remove(self, db_session: AsyncSession, access: WorkspaceAccess, policy_id: str) -> None:
        await delete_policy(db_session, access.workspace.id, policy_id)
