"""The on-call load report through the API: /api/v1/ws/{slug}/reports/oncall (JSON, or CSV)."""

from __future__ import annotations

from typing import Any, TypedDict

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.problems import READ_PROBLEMS
from app.routes.api.views import UserOut, user_view
from app.services.identity import WorkspaceAccess
from app.services.load_report import as_csv, check_period, load_report


class ReportSchedule(TypedDict):
    id: str
    name: str


class LoadOut(TypedDict):
    user: UserOut
    schedule: ReportSchedule
    hours: float  # on call in the period, clipped to it (may be planned, in the future)
    night_hours: float  # of those, 22:00 to 07:00 in the schedule's zone
    weekend_hours: float  # of those, Saturday 00:00 to Monday 00:00 in the schedule's zone
    shifts: int  # shifts that started in the period
    pages: int  # pages received for the schedule's incidents
    acks: int  # of those pages, the ones the person acknowledged


class ReportsApi(Controller):
    path = "/api/v1/ws/{slug:str}/reports"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["reports"]

    @get(
        "/oncall",
        opt={"role": Role.VIEWER},
        responses=READ_PROBLEMS,
        summary="On-call load per schedule and person over a period (CSV with Accept: text/csv)",
    )
    async def oncall(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        access: WorkspaceAccess,
        start: str | None = None,
        end: str | None = None,
    ) -> Response[Any]:
        start_at, end_at = check_period(start, end)
        rows = await load_report(db_session, access.workspace.id, start_at, end_at)
        if "text/csv" in request.headers.get("accept", ""):
            return Response(
                as_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="oncall-load.csv"'},
            )
        body: list[LoadOut] = [
            {
                "user": user_view(row.user),
                "schedule": {"id": str(row.schedule.id), "name": row.schedule.name},
                "hours": row.hours,
                "night_hours": row.night_hours,
                "weekend_hours": row.weekend_hours,
                "shifts": row.shifts,
                "pages": row.pages,
                "acks": row.acks,
            }
            for row in rows
        ]
        return Response(body)
