"""Escalation policies: the list (viewers read), and the form admins create and edit them with."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import provide_access
from app.routes.forms import MultiForm
from app.routes.notices import back_to
from app.routes.policy_form import PolicyForm
from app.services.errors import Conflict, FieldError
from app.services.identity import WorkspaceAccess
from app.services.memberships import slot_holders
from app.services.pagerduty import connected_services
from app.services.policies import (
    PolicyView,
    create_policy,
    delete_policy,
    describe_policy,
    get_policy,
    list_policies,
    update_policy,
)
from app.services.schedules import list_schedules

VIEWER = {"role": Role.VIEWER}
ADMIN = {"role": Role.ADMIN}
_PATH = re.compile(r"^steps\[(\d+)\]\.(delay_minutes|targets)")


def form_errors(errors: dict[str, str]) -> dict[str, str]:
    """The service names fields by JSON path (`steps[1].targets[0].user`); the form by its inputs."""
    mapped: dict[str, str] = {}
    for path, message in errors.items():
        match = _PATH.match(path)
        key = f"step_{match.group(1)}_{'delay' if match.group(2) == 'delay_minutes' else 'targets'}" if match else path
        mapped.setdefault(key, message)
    return mapped


def _done(request: HTMXRequest, url: str, notice: str) -> Response[Any]:
    if request.htmx:
        back_to(request, url, notice=notice)  # flashes the notice for the page htmx goes to
        return ClientRedirect(url)
    return back_to(request, url, notice=notice)


class PolicyPages(Controller):
    path = "/ws/{slug:str}/escalation-policies"
    dependencies = {"access": Provide(provide_access)}

    async def _form(
        self,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        form: PolicyForm,
        policy: PolicyView | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        return Template(
            "policies/form.html",
            context={
                "access": access,
                "nav": "policies",
                "form": form,
                "policy": policy,
                "errors": form_errors(errors or {}),
                "schedules": await list_schedules(db_session, access.workspace.id),
                "people": await slot_holders(db_session, access.workspace.id),
                "services": await connected_services(db_session, access.workspace.id),
            },
            status_code=status_code,
        )

    @get("/", name="policies", opt=VIEWER)
    async def index(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        return Template(
            "policies/index.html",
            context={
                "access": access,
                "nav": "policies",
                "policies": await list_policies(db_session, access.workspace.id),
                "can_edit": access.allows(Role.ADMIN),
            },
        )

    @get("/new", name="policy_new", opt=ADMIN)
    async def new(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        return await self._form(db_session, access, PolicyForm())

    @post("/new", name="policy_create", opt=ADMIN, status_code=303)
    async def create(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, data: MultiForm
    ) -> Template | Response[Any]:
        form, action = PolicyForm.from_data(data)
        if form.apply_row_action(action):
            return await self._form(db_session, access, form)
        try:
            policy = await create_policy(db_session, access.workspace.id, form.body())
        except FieldError as exc:
            return await self._form(db_session, access, form, errors=exc.errors, status_code=422)
        return _done(request, f"/ws/{access.workspace.slug}/escalation-policies/", f"Created {policy.name}.")

    @get("/{policy_id:str}", name="policy_edit", opt=ADMIN)
    async def edit(self, db_session: AsyncSession, access: WorkspaceAccess, policy_id: str) -> Template:
        view = await describe_policy(db_session, await get_policy(db_session, access.workspace.id, policy_id))
        return await self._form(db_session, access, PolicyForm.of_policy(view), view)

    @post("/{policy_id:str}", name="policy_update", opt=ADMIN, status_code=303)
    async def update(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, policy_id: str, data: MultiForm
    ) -> Template | Response[Any]:
        view = await describe_policy(db_session, await get_policy(db_session, access.workspace.id, policy_id))
        form, action = PolicyForm.from_data(data)
        if form.apply_row_action(action):
            return await self._form(db_session, access, form, view)
        try:
            policy = await update_policy(db_session, access.workspace.id, view.policy.id, form.body())
        except FieldError as exc:
            view = await describe_policy(db_session, await get_policy(db_session, access.workspace.id, policy_id))
            return await self._form(db_session, access, form, view, exc.errors, status_code=422)
        return _done(request, f"/ws/{access.workspace.slug}/escalation-policies/", f"Saved {policy.name}.")

    @post("/{policy_id:str}/delete", name="policy_delete", opt=ADMIN, status_code=303)
    async def remove(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, policy_id: str
    ) -> Redirect:
        url = f"/ws/{access.workspace.slug}/escalation-policies/"
        policy = await get_policy(db_session, access.workspace.id, policy_id)
        name = policy.name
        try:
            await delete_policy(db_session, access.workspace.id, policy.id)
        except Conflict as exc:
            return back_to(request, url, error=str(exc))
        return back_to(request, url, notice=f"Deleted {name}. Running incidents keep their copy of it.")
