"""Settings → Integrations → Alert sources (admins): add, change, rotate the URL, delete, silence a
source or every source. The URL is shown once, on the page that follows adding or rotating."""

from __future__ import annotations

import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.alerts import SEVERITIES, ShapeError, SourceKind, map_text, parse_map_text
from app.domain.roles import Role
from app.routes.access import provide_access, settings_of
from app.routes.forms import Form, field
from app.routes.notices import back_to
from app.services.alert_sources import (
    create_source,
    delete_source,
    get_source,
    parse_until,
    rotate_source,
    set_maintenance,
    source_url,
    update_source,
)
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.policies import list_policies
from app.services.schedules import list_schedules

ADMIN = {"role": Role.ADMIN}
KINDS = [
    (SourceKind.ALERTMANAGER.value, "Prometheus Alertmanager"),
    (SourceKind.GRAFANA.value, "Grafana alerting"),
    (SourceKind.GENERIC.value, "Generic JSON webhook"),
]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _read_form(data: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's fields as the service takes them, and the errors only the form can make."""
    errors: dict[str, str] = {}
    raw: dict[str, Any] = {
        "name": field(data, "name"),
        "kind": field(data, "kind"),
        "default_severity": field(data, "default_severity"),
        "auto_resolve": field(data, "auto_resolve") == "on",
    }
    kind, _, target_id = field(data, "target").partition(":")
    raw["schedule_id"] = target_id if kind == "schedule" else None
    raw["escalation_policy_id"] = target_id if kind == "policy" else None
    try:
        raw["severity_map"] = parse_map_text(data.get("severity_map", "")[:4000])
    except ShapeError as exc:
        errors["severity_map"] = str(exc)
    return raw, errors


class AlertSourcePages(Controller):
    path = "/ws/{slug:str}/settings/alert-sources"
    dependencies = {"access": Provide(provide_access)}

    @staticmethod
    def _back(access: WorkspaceAccess) -> str:
        return f"/ws/{access.workspace.slug}/settings/integrations#alert-sources"

    async def _form(
        self,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        form: dict[str, str],
        errors: dict[str, str] | None = None,
        source_id: str | None = None,
        status_code: int = 200,
    ) -> Template:
        return Template(
            "settings/alert_source_form.html",
            context={
                "access": access,
                "nav": "settings",
                "form": form,
                "errors": errors or {},
                "source_id": source_id,
                "kinds": KINDS,
                "severities": SEVERITIES,
                "schedules": await list_schedules(db_session, access.workspace.id),
                "policies": await list_policies(db_session, access.workspace.id),
            },
            status_code=status_code,
        )

    def _shown_once(
        self, request: Request[Any, Any, Any], access: WorkspaceAccess, name: str, kind: str, token: str
    ) -> Template:
        return Template(
            "settings/alert_source_url.html",
            context={
                "access": access,
                "nav": "settings",
                "name": name,
                "kind": kind,
                "url": source_url(settings_of(request).public_url, token),
            },
            headers={"Cache-Control": "no-store"},  # a secret: kept in no cache, not even the browser's
        )

    @get("/new", name="alert_source_new", opt=ADMIN)
    async def new(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        form = {"kind": "alertmanager", "default_severity": "SEV3", "auto_resolve": "on", "severity_map": ""}
        form["severity_map"] = map_text({"critical": "SEV1", "error": "SEV2", "warning": "SEV3", "info": "SEV4"})
        return await self._form(db_session, access, form)

    @post("/", name="alert_source_create", opt=ADMIN, status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: Form
    ) -> Template:
        raw, errors = _read_form(data)
        if not errors:
            try:
                source, token = await create_source(db_session, access.workspace.id, raw)
            except FieldError as exc:
                errors = exc.errors
            else:
                return self._shown_once(request, access, source.name, source.kind, token)
        return await self._form(db_session, access, _kept(data), _on_form(errors), status_code=422)

    @get("/{source_id:str}/edit", name="alert_source_edit", opt=ADMIN)
    async def edit(self, db_session: AsyncSession, access: WorkspaceAccess, source_id: str) -> Template:
        source = await get_source(db_session, access.workspace.id, source_id)
        target = f"schedule:{source.schedule_id}" if source.schedule_id else f"policy:{source.escalation_policy_id}"
        form = {
            "name": source.name,
            "kind": source.kind,
            "target": target,
            "default_severity": source.default_severity,
            "auto_resolve": "on" if source.auto_resolve else "",
            "severity_map": map_text(source.severity_map or {}),
        }
        return await self._form(db_session, access, form, source_id=str(source.id))

    @post("/{source_id:str}", name="alert_source_update", opt=ADMIN, status_code=303)
    async def update(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        source_id: str,
        data: Form,
    ) -> Response[Any]:
        source = await get_source(db_session, access.workspace.id, source_id)
        kind, sid = source.kind, str(source.id)  # read now: a refused change rolls back and expires the row
        raw, errors = _read_form(data)
        raw.pop("kind")  # the kind is fixed once made: the sender is configured for it
        if not errors:
            try:
                await update_source(db_session, access.workspace.id, sid, raw)
            except FieldError as exc:
                errors = exc.errors
            else:
                return back_to(request, self._back(access), notice=f"Saved {raw['name']}.")
        form = {**_kept(data), "kind": kind}
        return await self._form(db_session, access, form, _on_form(errors), sid, status_code=422)

    @post("/{source_id:str}/rotate", name="alert_source_rotate", opt=ADMIN, status_code=200)
    async def rotate(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, source_id: str
    ) -> Template:
        source, token = await rotate_source(db_session, access.workspace.id, source_id)
        return self._shown_once(request, access, source.name, source.kind, token)

    @post("/{source_id:str}/delete", name="alert_source_delete", opt=ADMIN, status_code=303)
    async def remove(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, source_id: str
    ) -> Redirect:
        source = await get_source(db_session, access.workspace.id, source_id)
        await delete_source(db_session, access.workspace.id, source.id)
        return back_to(request, self._back(access), notice=f"Deleted {source.name}: its URL no longer answers.")

    @post("/{source_id:str}/silence", name="alert_source_silence", opt=ADMIN, status_code=303)
    async def silence(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        source_id: str,
        data: Form,
    ) -> Redirect:
        source = await get_source(db_session, access.workspace.id, source_id)
        return await self._silence(request, db_session, access, source.id, source.name, data)

    @post("/silence", name="alert_sources_silence", opt=ADMIN, status_code=303)
    async def silence_all(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: Form
    ) -> Redirect:
        return await self._silence(request, db_session, access, None, "Every alert source", data)

    async def _silence(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        source_id: Any,
        what: str,
        data: dict[str, str],
    ) -> Redirect:
        now = _now()
        try:
            until = parse_until(field(data, "minutes"), now)
            await set_maintenance(db_session, access.workspace.id, source_id, until, now)
        except FieldError as exc:
            return back_to(request, self._back(access), error=f"{what}: {next(iter(exc.errors.values()))}")
        if until is None:
            return back_to(
                request, self._back(access), notice=f"{what}: maintenance ended; alerts open incidents again."
            )
        return back_to(
            request,
            self._back(access),
            notice=f"{what}: in maintenance until {until:%Y-%m-%d %H:%M} UTC; what arrives is recorded and opens nothing.",
        )


def _kept(data: dict[str, str]) -> dict[str, str]:
    kept = {k: field(data, k) for k in ("name", "kind", "target", "default_severity", "auto_resolve")}
    kept["severity_map"] = data.get("severity_map", "")[:4000]
    return kept


def _on_form(errors: dict[str, str]) -> dict[str, str]:
    """Service field names as the form's: the target is one select; a map entry's error is the map's."""
    shown: dict[str, str] = {}
    for name, message in errors.items():
        if name in ("schedule_id", "escalation_policy_id"):
            shown["target"] = message
        elif name.startswith("severity_map"):
            shown["severity_map"] = message
        else:
            shown[name] = message
    return shown
