"""People: who is in the workspace, with which role; admins add and change, owners manage admins."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import provide_access, settings_of
from app.routes.forms import Form, field
from app.routes.notices import back_to
from app.services.contact_points import admin_clear_contacts
from app.services.errors import Conflict, FieldError, Forbidden, NotFound
from app.services.identity import WorkspaceAccess
from app.services.memberships import change_member, list_memberships, membership_in
from app.services.onboarding import invite, issue_reset_link, pending_invitations, revoke_invitation
from app.services.test_pages import last_test_page, send_test_page


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class PeoplePages(Controller):
    path = "/ws/{slug:str}/people"
    dependencies = {"access": Provide(provide_access)}

    async def _render(
        self,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        *,
        errors: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        notice: str | None = None,
        status_code: int = 200,
        link: tuple[str, str] | None = None,
        test_page: tuple[str, list[Any]] | None = None,
    ) -> Template:
        members = await list_memberships(db_session, access.workspace.id)
        can_manage = access.allows(Role.ADMIN)
        invitations = await pending_invitations(db_session, access.workspace.id, _now()) if can_manage else []
        return Template(
            "people/index.html",
            context={
                "access": access,
                "nav": "people",
                "members": members,
                "roles": list(Role),
                "errors": errors or {},
                "form": form or {},
                "notice": notice,
                "can_manage": can_manage,
                "invitations": invitations,
                "link": link,  # (what it is for, the one-time URL): shown this once
                "test_page": test_page,  # (whose, the states of their latest test page)
                "is_owner": access.role is Role.OWNER,
            },
            status_code=status_code,
        )

    @get("/", name="people", opt={"role": Role.VIEWER})
    async def index(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        return await self._render(db_session, access)

    @post("/", name="people_invite", opt={"role": Role.ADMIN}, status_code=200)
    async def invite(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: Form
    ) -> Template:
        """Invite an email with a role. The answer is the same whether or not the email has an account;
        the one-time link is shown to the inviting admin this once."""
        form = {k: field(data, k) for k in ("email", "role")}
        try:
            token = await invite(db_session, access, form["email"], form["role"] or "member", _now())
        except FieldError as exc:
            return await self._render(db_session, access, errors=exc.errors, form=form, status_code=422)
        except Forbidden as exc:
            return await self._render(db_session, access, errors={"role": str(exc)}, form=form, status_code=403)
        url = f"{settings_of(request).public_url}/invite/{token}"
        what = f"Invited {form['email'].strip().lower()} as {form['role'] or 'member'}. Send them this one-time link (valid 7 days)"
        return await self._render(db_session, access, link=(what, url))

    @post(
        "/invitations/{invitation_id:str}/revoke", name="invitation_revoke", opt={"role": Role.ADMIN}, status_code=303
    )
    async def revoke(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, invitation_id: str
    ) -> Redirect:
        back = f"/ws/{access.workspace.slug}/people/"
        try:
            invitation = await revoke_invitation(db_session, access, invitation_id, _now())
        except NotFound:
            raise NotFoundException("No such invitation.") from None
        except Conflict as exc:
            return back_to(request, back, error=str(exc))
        return back_to(
            request, back, notice=f"Withdrew the invitation of {invitation.email}; its link no longer works."
        )

    @post("/{membership_id:str}/test-page", name="people_test_page", opt={"role": Role.ADMIN}, status_code=200)
    async def test_page(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, membership_id: str
    ) -> Template:
        """An admin pages someone for a test (an SMS and a Slack DM that say so) and sees the states."""
        membership = await membership_in(db_session, access.workspace.id, membership_id)
        try:
            await send_test_page(
                db_session,
                access.workspace.id,
                access.workspace.name,
                membership.user_id,
                access.user.display_name,
                _now(),
            )
        except FieldError as exc:
            errors = {f"member-{membership_id}": "; ".join(exc.errors.values())}
            return await self._render(db_session, access, errors=errors, status_code=422)
        states = await last_test_page(db_session, membership.user_id)
        return await self._render(db_session, access, test_page=(membership.user.display_name, states))

    @post("/{membership_id:str}/reset-link", name="people_reset_link", opt={"role": Role.ADMIN}, status_code=200)
    async def reset_link(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, membership_id: str
    ) -> Template:
        try:
            user, token = await issue_reset_link(db_session, access, membership_id, _now())
        except NotFound:
            raise NotFoundException("No such member.") from None
        except Forbidden as exc:
            return await self._render(db_session, access, errors={f"member-{membership_id}": str(exc)}, status_code=403)
        url = f"{settings_of(request).public_url}/password/{token}"
        what = f"A one-time link for {user.display_name} to set a new password (valid 2 days; it ends their other sessions)"
        return await self._render(db_session, access, link=(what, url))

    @post(
        "/{membership_id:str}/clear-contacts", name="people_clear_contacts", opt={"role": Role.ADMIN}, status_code=303
    )
    async def clear_contacts(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, membership_id: str
    ) -> Template | Redirect:
        try:
            user = await admin_clear_contacts(db_session, access, membership_id, datetime.datetime.now(datetime.UTC))
        except NotFound:
            raise NotFoundException("No such member.") from None
        except Forbidden as exc:
            return await self._render(db_session, access, errors={f"member-{membership_id}": str(exc)}, status_code=403)
        notice = f"Cleared the contact points of {user.display_name}"
        return back_to(request, f"/ws/{access.workspace.slug}/people/", notice=notice)

    @post("/{membership_id:str}", name="people_change", opt={"role": Role.ADMIN}, status_code=303)
    async def change(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        membership_id: str,
        data: Form,
    ) -> Template | Redirect:
        try:
            target = uuid.UUID(membership_id)
        except ValueError:
            raise NotFoundException("No such member.") from None
        try:
            await change_member(
                db_session,
                access,
                target,
                field(data, "role"),
                field(data, "is_active") in {"on", "true", "1"},
                datetime.datetime.now(datetime.UTC),
            )
        except (FieldError, Forbidden) as exc:
            message = "; ".join(exc.errors.values()) if isinstance(exc, FieldError) else str(exc)
            status = 422 if isinstance(exc, FieldError) else 403
            return await self._render(
                db_session, access, errors={f"member-{membership_id}": message}, status_code=status
            )
        return back_to(request, f"/ws/{access.workspace.slug}/people/", notice="Saved")
