"""Each person edits their own profile: name, phone, Slack id, time zone."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.contact import zone_choices
from app.domain.roles import Role
from app.routes.access import provide_access
from app.routes.forms import Form, field
from app.services.accounts import ProfileInput, update_profile
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess

VIEWER = {"role": Role.VIEWER}


class ProfilePages(Controller):
    path = "/ws/{slug:str}/profile"
    dependencies = {"access": Provide(provide_access)}

    def _render(
        self,
        access: WorkspaceAccess,
        form: dict[str, str],
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Template:
        return Template(
            "profile/edit.html",
            context={
                "access": access,
                "nav": "profile",
                "form": form,
                "errors": errors or {},
                "zones": zone_choices(),
                "notice": notice,
            },
            status_code=status_code,
        )

    @get("/", name="profile", opt=VIEWER)
    async def edit(self, access: WorkspaceAccess, notice: str | None = None) -> Template:
        user = access.user
        form = {
            "display_name": user.display_name,
            "phone": user.phone or "",
            "slack_user_id": user.slack_user_id or "",
            "time_zone": user.time_zone,
        }
        return self._render(access, form, notice=notice)

    @post("/", name="profile_save", opt=VIEWER, status_code=303)
    async def save(self, db_session: AsyncSession, access: WorkspaceAccess, data: Form) -> Template | Redirect:
        form = {k: field(data, k) for k in ("display_name", "phone", "slack_user_id", "time_zone")}
        try:
            await update_profile(db_session, access.user.id, ProfileInput(**form))
        except FieldError as exc:
            return self._render(access, form, exc.errors, status_code=422)
        return Redirect(f"/ws/{access.workspace.slug}/profile/?notice=Saved", status_code=303)
