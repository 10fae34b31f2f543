"""The workspace home: where you stand and your own on-call duty; and, on every page, the banner that
tells admins and owners when the paging engine is in trouble."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.engine import troubles
from app.domain.roles import Role
from app.routes.access import provide_access, settings_of
from app.services.board import own_duty
from app.services.engine_health import engine_facts
from app.services.identity import WorkspaceAccess

VIEWER = {"role": Role.VIEWER}
ADMIN = {"role": Role.ADMIN}


class WorkspacePages(Controller):
    path = "/ws/{slug:str}"
    dependencies = {"access": Provide(provide_access)}

    @get("/", name="ws_home", opt=VIEWER)
    async def home(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        now = datetime.datetime.now(datetime.UTC)
        duty = await own_duty(db_session, access.workspace.id, access.user.id, now)
        return Template(
            "workspace/home.html",
            context={
                "access": access,
                "nav": "home",
                "duty": duty,
                "now": now,
                "zone": ZoneInfo(access.user.time_zone),
            },
        )

    @get("/engine-status", name="ws_engine_status", opt=ADMIN)
    async def engine_status(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess
    ) -> Template:
        """The banner's content (base.html loads it and reloads it every 30 s): empty when all is well."""
        facts = await engine_facts(db_session, settings_of(request), datetime.datetime.now(datetime.UTC))
        return Template("workspace/_engine_status.html", context={"troubles": troubles(facts)})
