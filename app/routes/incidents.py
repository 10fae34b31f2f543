"""Incidents: the list with a Declare form, and each incident's page (live), with Resolve."""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.domain.acks import Source
from app.domain.paging import Severity
from app.domain.roles import Role
from app.routes.access import pace_of, provide_access, settings_of
from app.routes.forms import field
from app.routes.notices import back_to
from app.services.acks import acknowledge
from app.services.acks import decline as decline_page
from app.services.errors import Conflict, FieldError
from app.services.identity import WorkspaceAccess
from app.services.incidents import declare_incident, describe_incident, get_incident, list_incidents, resolve_incident
from app.services.memberships import slot_holders
from app.services.paging import add_responder, escalate_now
from app.services.policies import list_policies
from app.services.schedules import list_schedules

VIEWER = {"role": Role.VIEWER}
MEMBER = {"role": Role.MEMBER}
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def paging_gaps(settings: Settings, slack_channel: str | None) -> list[str]:
    """What this installation cannot do when it pages, said before someone declares."""
    gaps = []
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number):
        gaps.append("Twilio is not configured, so nobody gets an SMS (VIGILO_TWILIO_* settings)")
    if not settings.slack_bot_token:
        gaps.append("Slack is not configured, so nobody is paged in Slack (VIGILO_SLACK_BOT_TOKEN)")
    elif not slack_channel:
        gaps.append("this workspace has no Slack incident channel (Settings → Integrations)")
    return gaps


class IncidentPages(Controller):
    path = "/ws/{slug:str}/incidents"
    dependencies = {"access": Provide(provide_access)}

    async def _list(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        return Template(
            "incidents/index.html",
            context={
                "access": access,
                "nav": "incidents",
                "incidents": await list_incidents(db_session, access.workspace.id),
                "schedules": await list_schedules(db_session, access.workspace.id),
                "policies": await list_policies(db_session, access.workspace.id),
                "severities": [s.value for s in Severity],
                "form": form or {"severity": "SEV2"},
                "errors": errors or {},
                "can_declare": access.allows(Role.MEMBER),
                "paging_gaps": paging_gaps(settings_of(request), access.workspace.slack_channel_id),
                "zone": ZoneInfo(access.user.time_zone),
            },
            status_code=status_code,
        )

    @get("/", name="incidents", opt=VIEWER)
    async def index(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess
    ) -> Template:
        return await self._list(request, db_session, access)

    @post("/", name="incident_declare", opt=MEMBER, status_code=303)
    async def declare(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: FormData
    ) -> Template | Redirect:
        form = {k: field(data, k) for k in ("title", "severity", "schedule_id", "escalation_policy_id")}
        settings = settings_of(request)
        try:
            incident = await declare_incident(
                db_session,
                access,
                form["title"],
                form["severity"],
                form["schedule_id"],
                _now(),
                settings.seconds_per_delay_minute,
                settings.public_url,
                policy_id=form["escalation_policy_id"],
                secret_key=settings.secret_key,
            )
        except FieldError as exc:
            return await self._list(request, db_session, access, form, exc.errors, status_code=422)
        return Redirect(f"/ws/{access.workspace.slug}/incidents/{incident.id}", status_code=303)

    async def _show(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        incident_id: str,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        incident = await get_incident(db_session, access.workspace.id, incident_id)
        view = await describe_incident(db_session, incident)
        context = {
            "form": form or {},
            "errors": errors or {},
            "people": await slot_holders(db_session, access.workspace.id) if access.allows(Role.MEMBER) else [],
            "access": access,
            "nav": "incidents",
            "view": view,
            "incident": incident,
            "zone": ZoneInfo(access.user.time_zone),
            "can_act": access.allows(Role.MEMBER),
            "now": _now(),
            "is_responder": any(user.id == access.user.id for _, user in view.responders),
            "has_pending_page": any(
                page.status == "pending" and page.user_id == access.user.id for page, _ in view.pages
            ),
        }
        htmx = getattr(request, "htmx", None)
        if htmx and htmx.target == "incident-live":
            return Template("incidents/_live.html", context=context)
        return Template("incidents/show.html", context=context, status_code=status_code)

    @get("/{incident_id:str}", name="incident", opt=VIEWER)
    async def show(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        incident_id: str,
    ) -> Template:
        return await self._show(request, db_session, access, incident_id)

    @post("/{incident_id:str}/escalate", name="incident_escalate", opt=MEMBER, status_code=303)
    async def escalate(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        incident_id: str,
        data: FormData,
    ) -> Redirect:
        incident = await get_incident(db_session, access.workspace.id, incident_id)
        url = f"/ws/{access.workspace.slug}/incidents/{incident.id}"
        try:
            seen = datetime.datetime.fromisoformat(field(data, "seen_due")) if field(data, "seen_due") else None
        except ValueError:
            seen = None
        if seen is not None and seen.tzinfo is None:
            seen = None
        try:
            text = await escalate_now(db_session, access, incident, _now(), pace_of(request), seen)
        except Conflict as exc:
            return back_to(request, url, error=str(exc))
        return back_to(request, url, notice=text)

    @post("/{incident_id:str}/responders", name="incident_add_responder", opt=MEMBER, status_code=303)
    async def add_responder(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        incident_id: str,
        data: FormData,
    ) -> Template | Redirect:
        incident = await get_incident(db_session, access.workspace.id, incident_id)
        url = f"/ws/{access.workspace.slug}/incidents/{incident.id}"
        form = {"user": field(data, "user")}
        try:
            text = await add_responder(db_session, access, incident, form["user"], _now(), pace_of(request))
        except FieldError as exc:
            return await self._show(request, db_session, access, incident_id, form, exc.errors, status_code=422)
        except Conflict as exc:
            return back_to(request, url, error=str(exc))
        return back_to(request, url, notice=text)

    @post("/{incident_id:str}/ack", name="incident_ack", opt=MEMBER, status_code=303)
    async def ack(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, incident_id: str
    ) -> Redirect:
        incident = await get_incident(db_session, access.workspace.id, incident_id)
        reply = await acknowledge(db_session, incident.id, access.user.id, Source.WEB, _now())
        return back_to(request, f"/ws/{access.workspace.slug}/incidents/{incident.id}", notice=reply.text)

    @post("/{incident_id:str}/decline", name="incident_decline", opt=MEMBER, status_code=303)
    async def decline(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, incident_id: str
    ) -> Redirect:
        incident = await get_incident(db_session, access.workspace.id, incident_id)
        settings = settings_of(request)
        reply = await decline_page(
            db_session,
            incident.id,
            access.user.id,
            Source.WEB,
            _now(),
            settings.seconds_per_delay_minute,
            settings.public_url,
            secret_key=settings.secret_key,
        )
        return back_to(request, f"/ws/{access.workspace.slug}/incidents/{incident.id}", notice=reply.text)

    @post("/{incident_id:str}/resolve", name="incident_resolve", opt=MEMBER, status_code=303)
    async def resolve(self, db_session: AsyncSession, access: WorkspaceAccess, incident_id: str) -> Response[Any]:
        try:
            incident = await resolve_incident(db_session, access, incident_id, _now())
        except Conflict:
            incident = await get_incident(db_session, access.workspace.id, incident_id)
        return Redirect(f"/ws/{access.workspace.slug}/incidents/{incident.id}", status_code=303)
