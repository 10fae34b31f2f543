"""The workspace home: where you stand and your own on-call duty."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from litestar import Controller, get
from litestar.di import Provide
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import provide_access
from app.services.board import own_duty
from app.services.identity import WorkspaceAccess

VIEWER = {"role": Role.VIEWER}


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
