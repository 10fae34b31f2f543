"""My shifts: the person's shifts on every schedule for the whole horizon, with a timeline."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from litestar import Controller, get
from litestar.di import Provide
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import provide_access
from app.services.identity import WorkspaceAccess
from app.services.schedules import list_schedules, slot_at
from app.services.shifts import (
    build_timeline,
    clamp_weeks,
    handed_over_by,
    person_shifts,
    schedule_shifts,
    timeline_window,
)


class MyShiftsPages(Controller):
    path = "/ws/{slug:str}/my-shifts"
    dependencies = {"access": Provide(provide_access)}

    @get("/", name="my_shifts", opt={"role": Role.VIEWER})
    async def index(self, db_session: AsyncSession, access: WorkspaceAccess, span: int | None = None) -> Template:
        now = datetime.datetime.now(datetime.UTC)
        zone = ZoneInfo(access.user.time_zone)
        mine = await person_shifts(db_session, access.workspace.id, access.user.id, now)
        rows = []
        for shift, schedule in mine:
            # Hand off the slot covering now when the shift is under way (its first slot may have ended).
            covering = await slot_at(db_session, schedule.id, now) if shift.start <= now else None
            slot_id = covering.id if covering is not None else shift.first_slot_id
            rows.append((shift, schedule, await handed_over_by(db_session, shift), slot_id))
        weeks = clamp_weeks(span)
        start, end = timeline_window(now, zone, weeks)
        # A lane for each schedule the person holds time in (everyone's bars, theirs marked).
        held = {schedule.id for _, schedule in mine}
        lanes = [
            (schedule.name, await schedule_shifts(db_session, schedule.id, start, end))
            for schedule in await list_schedules(db_session, access.workspace.id)
            if schedule.id in held
        ]
        timeline = await build_timeline(db_session, lanes, start, end, now, zone, weeks)
        return Template(
            "oncall/my_shifts.html",
            context={
                "access": access,
                "nav": "my-shifts",
                "rows": rows,
                "zone": zone,
                "now": now,
                "can_edit": access.allows(Role.MEMBER),
                "tl": timeline,
                "tl_url": f"/ws/{access.workspace.slug}/my-shifts/",
                "tl_query": "",
                "mine": access.user.id,
            },
        )
