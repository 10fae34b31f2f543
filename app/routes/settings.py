"""Settings: the workspace, API tokens (yours; admins see everyone's) and Integrations (Slack,
Twilio, PagerDuty connections, the delivery log)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.integrations.twilio_sms import STATUS_PATH, VOICE_ANSWER_PATH, VOICE_STATUS_PATH
from app.routes.access import provide_access, settings_of
from app.routes.forms import Form, field
from app.routes.notices import back_to
from app.services.alert_sources import list_sources
from app.services.calendar_feeds import create_feed, feed_urls, my_feeds, revoke_feed
from app.services.deliveries import describe, recent_deliveries
from app.services.errors import Conflict, FieldError
from app.services.identity import WorkspaceAccess
from app.services.memberships import set_incident_channel
from app.services.pagerduty import (
    create_service,
    delete_service,
    list_services,
    replace_keys,
    send_test_event,
    webhook_url,
)
from app.services.schedules import list_schedules
from app.services.tokens import issue_token, list_tokens, revoke_workspace_token

VIEWER = {"role": Role.VIEWER}
ADMIN = {"role": Role.ADMIN}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class SettingsPages(Controller):
    path = "/ws/{slug:str}/settings"
    dependencies = {"access": Provide(provide_access)}

    async def _render(
        self,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        new_token: str | None = None,
        new_feed: tuple[str, str, str] | None = None,
        feed_error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        is_admin = access.allows(Role.ADMIN)
        tokens = await list_tokens(db_session, access.workspace.id, None if is_admin else access.user.id)
        return Template(
            "settings/index.html",
            context={
                "access": access,
                "nav": "settings",
                "tokens": tokens,
                "new_token": new_token,
                "is_admin": is_admin,
                "feeds": await my_feeds(db_session, access.workspace.id, access.user.id),
                "schedules": await list_schedules(db_session, access.workspace.id),
                "new_feed": new_feed,  # (what, https URL, webcal URL): shown this once
                "feed_error": feed_error,
            },
            status_code=status_code,
        )

    @post("/feeds", name="feed_create", opt=VIEWER, status_code=200)
    async def create_feed(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: Form
    ) -> Template:
        schedule_id = field(data, "schedule_id") or None
        try:
            feed, token = await create_feed(db_session, access, schedule_id, _now())
        except FieldError as exc:
            return await self._render(db_session, access, feed_error=exc.errors["schedule_id"], status_code=422)
        url, webcal = feed_urls(settings_of(request).public_url, token)
        what = "your shifts" if feed.schedule_id is None else "the schedule"
        return await self._render(db_session, access, new_feed=(what, url, webcal))

    @post("/feeds/{feed_id:str}/revoke", name="feed_revoke", opt=VIEWER, status_code=303)
    async def revoke_feed(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, feed_id: str
    ) -> Redirect:
        await revoke_feed(db_session, access, feed_id, _now())  # another's feed: 404, like a token's
        return back_to(
            request, f"/ws/{access.workspace.slug}/settings/", notice="Calendar feed revoked: its URL no longer works."
        )

    @get("/", name="settings", opt=VIEWER)
    async def index(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        return await self._render(db_session, access)

    async def _integrations(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        *,
        pd_form: dict[str, str] | None = None,
        pd_errors: dict[str, str] | None = None,
        pd_new: tuple[str, str] | None = None,
        keys_for: str = "",
        status_code: int = 200,
    ) -> Template:
        settings = settings_of(request)
        services = await list_services(db_session, access.workspace.id, settings.secret_key)
        return Template(
            "settings/integrations.html",
            context={
                "access": access,
                "nav": "settings",
                "slack_ready": bool(settings.slack_bot_token and settings.slack_signing_secret),
                "slack_token_set": bool(settings.slack_bot_token),
                "signing_secret_set": bool(settings.slack_signing_secret),
                "events_url": f"{settings.public_url}/integrations/slack/events",
                "sms_url": f"{settings.public_url}/integrations/twilio_sms/",
                "status_url": f"{settings.public_url}{STATUS_PATH}",
                "voice_answer_url": f"{settings.public_url}{VOICE_ANSWER_PATH}",
                "voice_status_url": f"{settings.public_url}{VOICE_STATUS_PATH}",
                "from_number": settings.twilio_from_number,
                "twilio_ready": bool(settings.twilio_account_sid and settings.twilio_auth_token),
                "channel": access.workspace.slack_channel_id or "",
                "deliveries": await recent_deliveries(db_session, access.workspace.id),
                "services": services,
                "pd_form": pd_form or {},
                "pd_errors": pd_errors or {},
                "pd_new": pd_new,  # (label, inbound URL): the URL is shown this once
                "keys_for": keys_for,  # the connection whose "enter the keys again" form has errors
                "service_labels": {str(v.service.id): f"PagerDuty: {v.service.label}" for v in services},
                "describe": describe,
                "test_waiting": any(state.tone == "waiting" for v in services for _, state in v.last_test),
                "alert_sources": await list_sources(db_session, access.workspace.id, _now()),
                "alert_rate_limit": settings.alert_rate_limit,
                "now": _now(),
                "zone": access.user.time_zone,
            },
            status_code=status_code,
        )

    @get("/integrations", name="integrations", opt=ADMIN)
    async def integrations(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
    ) -> Template:
        return await self._integrations(request, db_session, access)

    @post("/integrations/pagerduty", name="pagerduty_create", opt=ADMIN, status_code=200)
    async def pagerduty_create(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: Form
    ) -> Template:
        form = {k: field(data, k) for k in ("label", "routing_key", "signing_secret", "api_key")}
        settings = settings_of(request)
        try:
            service, token = await create_service(db_session, access.workspace.id, settings.secret_key, form)
        except FieldError as exc:
            kept = {"label": form["label"]}  # keys are never echoed back into the page
            return await self._integrations(
                request, db_session, access, pd_form=kept, pd_errors=exc.errors, status_code=422
            )
        url = webhook_url(settings.public_url, token)
        return await self._integrations(request, db_session, access, pd_new=(service.label, url))

    @post("/integrations/pagerduty/{service_id:str}/keys", name="pagerduty_keys", opt=ADMIN, status_code=303)
    async def pagerduty_keys(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        service_id: str,
        data: Form,
    ) -> Response[Any]:
        form = {k: field(data, k) for k in ("routing_key", "signing_secret", "api_key")}
        settings = settings_of(request)
        try:
            service = await replace_keys(db_session, access.workspace.id, service_id, settings.secret_key, form)
        except FieldError as exc:
            return await self._integrations(
                request, db_session, access, pd_errors=exc.errors, keys_for=service_id, status_code=422
            )
        return back_to(request, self._back(access), notice=f"New keys saved for {service.label}.")

    @post("/integrations/pagerduty/{service_id:str}/test", name="pagerduty_test", opt=ADMIN, status_code=303)
    async def pagerduty_test(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, service_id: str
    ) -> Redirect:
        settings = settings_of(request)
        try:
            await send_test_event(db_session, access.workspace.id, service_id, settings.secret_key, _now())
        except FieldError as exc:
            return back_to(request, self._back(access), error=next(iter(exc.errors.values())))
        return back_to(
            request, self._back(access), notice="Test event sent: a trigger, then the resolve that closes it."
        )

    @post("/integrations/pagerduty/{service_id:str}/delete", name="pagerduty_delete", opt=ADMIN, status_code=303)
    async def pagerduty_delete(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, service_id: str
    ) -> Redirect:
        try:
            await delete_service(db_session, access.workspace.id, service_id)
        except Conflict as exc:
            return back_to(request, self._back(access), error=str(exc))
        return back_to(request, self._back(access), notice="PagerDuty connection deleted.")

    @staticmethod
    def _back(access: WorkspaceAccess) -> str:
        return f"/ws/{access.workspace.slug}/settings/integrations"

    @post("/integrations/slack-channel", name="slack_channel", opt=ADMIN, status_code=303)
    async def set_channel(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: Form
    ) -> Redirect:
        back = f"/ws/{access.workspace.slug}/settings/integrations"
        try:
            await set_incident_channel(db_session, access.workspace.id, field(data, "channel"))
        except FieldError as exc:
            return back_to(request, back, error=exc.errors["channel"])
        return back_to(request, back, notice="Saved")

    @post("/tokens", name="token_create", opt=VIEWER, status_code=200)
    async def create_token(self, db_session: AsyncSession, access: WorkspaceAccess, data: Form) -> Template:
        # Shown once, on this response; only its hash is stored.
        token = await issue_token(db_session, access.workspace.id, access.user.id, field(data, "name"))
        return await self._render(db_session, access, new_token=token)

    @post("/tokens/{token_id:str}/revoke", name="token_revoke", opt=VIEWER, status_code=303)
    async def revoke(self, db_session: AsyncSession, access: WorkspaceAccess, token_id: str) -> Redirect:
        try:
            parsed = uuid.UUID(token_id)
        except ValueError:
            raise NotFoundException("No such token.") from None
        await revoke_workspace_token(
            db_session,
            access.workspace.id,
            parsed,
            access.user.id,
            access.allows(Role.ADMIN),
            datetime.datetime.now(datetime.UTC),
        )
        return Redirect(f"/ws/{access.workspace.slug}/settings/", status_code=303)
