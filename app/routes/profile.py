"""Each person edits their own profile: name and time zone, and verifies their own contact points
(a code sent to the phone number or Slack user, typed back here)."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.contact import zone_choices
from app.domain.roles import Role
from app.domain.verification import ContactKind
from app.integrations.slack import SlackAdapter
from app.routes.access import provide_access, settings_of
from app.routes.forms import Form, MultiForm, field
from app.routes.notices import back_to
from app.services.accounts import ProfileInput, get_user, set_paging_choice, update_profile
from app.services.contact_points import confirm_code, pending_code, remove_contact, send_code
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.reminders import choice_of, set_reminder_choice
from app.services.test_pages import last_test_page, send_test_page

VIEWER = {"role": Role.VIEWER}


def _kind(raw: str) -> ContactKind:
    try:
        return ContactKind(raw)
    except ValueError:
        raise NotFoundException("No such contact point.") from None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class ProfilePages(Controller):
    path = "/ws/{slug:str}/profile"
    dependencies = {"access": Provide(provide_access)}

    async def _render(
        self,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Template:
        user = await get_user(db_session, access.user.id)
        assert user is not None
        now = _now()
        form = {
            "display_name": user.display_name,
            "time_zone": user.time_zone,
            # The field offers the value still to verify; a verified one is shown above it, not in it.
            "phone": "" if user.paging_phone else (user.phone or ""),
            "slack_user_id": "" if user.paging_slack_id else (user.slack_user_id or ""),
            "page_by": ",".join(user.page_by),
            "voice_after_minutes": str(user.voice_after_minutes),
            "reminder_minutes": str(user.reminder_minutes),
            "reminder_channels": ",".join(choice_of(user).channels),
            **(form or {}),
        }
        context = {
            "access": access,
            "nav": "profile",
            "form": form,
            "errors": errors or {},
            "zones": zone_choices(),
            "notice": notice,
            "user": user,
            "phone_code_to": await pending_code(db_session, user.id, ContactKind.PHONE, now),
            "slack_code_to": await pending_code(db_session, user.id, ContactKind.SLACK, now),
            "test_page": await last_test_page(db_session, user.id),
        }
        return Template("profile/edit.html", context=context, status_code=status_code)

    def _back(self, request: Request[Any, Any, Any], access: WorkspaceAccess, notice: str) -> Redirect:
        return back_to(request, f"/ws/{access.workspace.slug}/profile/", notice=notice)

    @get("/", name="profile", opt=VIEWER)
    async def edit(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        return await self._render(db_session, access)

    @post("/", name="profile_save", opt=VIEWER, status_code=303)
    async def save(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: Form
    ) -> Template | Redirect:
        form = {k: field(data, k) for k in ("display_name", "time_zone")}
        try:
            await update_profile(db_session, access.user.id, ProfileInput(**form))
        except FieldError as exc:
            return await self._render(db_session, access, form, exc.errors, status_code=422)
        return self._back(request, access, "Saved")

    @post("/paging", name="profile_paging", opt=VIEWER, status_code=303)
    async def paging(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: MultiForm
    ) -> Template | Redirect:
        raw = data.get("page_by", [])
        ways = [str(way) for way in (raw if isinstance(raw, list) else [raw])]
        after = str(data.get("voice_after_minutes", "0"))[:10]
        try:
            await set_paging_choice(db_session, access.user.id, ways, after)
        except FieldError as exc:
            form = {"page_by": ",".join(ways), "voice_after_minutes": after}
            return await self._render(db_session, access, form, exc.errors, status_code=422)
        return self._back(request, access, "Saved how you are paged")

    @post("/reminders", name="profile_reminders", opt=VIEWER, status_code=303)
    async def reminders(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: MultiForm
    ) -> Template | Redirect:
        raw = data.get("reminder_channels", [])
        channels = [str(c) for c in (raw if isinstance(raw, list) else [raw])]
        minutes = str(data.get("reminder_minutes", "0"))[:10]
        try:
            await set_reminder_choice(db_session, access.user.id, minutes, channels)
        except FieldError as exc:
            form = {"reminder_minutes": minutes, "reminder_channels": ",".join(channels)}
            return await self._render(db_session, access, form, exc.errors, status_code=422)
        return self._back(request, access, "Saved your shift reminders")

    @post("/contact/{kind:str}/send", name="contact_send", opt=VIEWER, status_code=303)
    async def send(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, kind: str, data: Form
    ) -> Template | Redirect:
        contact = _kind(kind)
        name = "phone" if contact is ContactKind.PHONE else "slack_user_id"
        value = field(data, name)
        try:
            sent = await send_code(db_session, access.user.id, contact, value, _now())
        except FieldError as exc:
            return await self._render(db_session, access, {name: value}, exc.errors, status_code=422)
        where = "by SMS" if contact is ContactKind.PHONE else "by Slack direct message"
        return self._back(request, access, f"Sent a code to {sent.value} {where}; type it below within 10 minutes.")

    @post("/contact/{kind:str}/verify", name="contact_verify", opt=VIEWER, status_code=303)
    async def verify(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, kind: str, data: Form
    ) -> Template | Redirect:
        contact = _kind(kind)
        secret = settings_of(request).secret_key
        typed = field(data, "phone_code" if contact is ContactKind.PHONE else "slack_user_id_code")
        try:
            value = await confirm_code(db_session, access.user.id, contact, typed, secret, _now())
        except FieldError as exc:
            return await self._render(db_session, access, errors=exc.errors, status_code=422)
        return self._back(request, access, f"Verified {value}: pages can reach you there.")

    @post("/contact/{kind:str}/remove", name="contact_remove", opt=VIEWER, status_code=303)
    async def remove(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, kind: str
    ) -> Redirect:
        contact = _kind(kind)
        await remove_contact(db_session, access.user.id, contact, _now())
        return self._back(request, access, f"Removed your {contact.label}.")

    @post("/test-page", name="profile_test_page", opt=VIEWER, status_code=303)
    async def test_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess
    ) -> Template | Redirect:
        """Page yourself for a test: an SMS and a Slack DM that say so; their states show below."""
        try:
            await send_test_page(
                db_session, access.workspace.id, access.workspace.name, access.user.id, access.user.display_name, _now()
            )
        except FieldError as exc:
            return await self._render(db_session, access, errors=exc.errors, status_code=422)
        return self._back(request, access, "Test page sent; its state shows under “Test page”.")

    @post("/slack-lookup", name="contact_slack_lookup", opt=VIEWER, status_code=200)
    async def slack_lookup(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess
    ) -> Template:
        """Find the person's Slack id by their account email. Finding is not verifying: the form is
        filled in, and the person still sends themselves a code."""
        found, problem = await asyncio.to_thread(SlackAdapter(settings_of(request)).lookup_by_email, access.user.email)
        if found is None:
            return await self._render(
                db_session, access, errors={"slack_user_id": problem or "Not found."}, status_code=422
            )
        return await self._render(
            db_session,
            access,
            {"slack_user_id": found},
            notice=f"Slack knows {access.user.email} as {found}. Send a code to verify it is you.",
        )
