"""The on-call load report page (viewers and above): a period, a bar chart, a table and the CSV."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import provide_access
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.load_report import as_csv, check_period, load_report

VIEWER = {"role": Role.VIEWER}
DEFAULT_DAYS = 30


def _period(access: WorkspaceAccess, first: str, last: str) -> tuple[str, str, str | None, str | None]:
    """The local dates asked for (default: the last 30 days) as the instants of their midnights (the
    last day included), or the field's error."""
    zone = ZoneInfo(access.user.time_zone)
    today = datetime.datetime.now(zone).date()
    first = first or (today - datetime.timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    last = last or today.isoformat()
    try:
        start = datetime.datetime.combine(datetime.date.fromisoformat(first), datetime.time(0), tzinfo=zone)
    except ValueError:
        return first, last, None, None
    try:
        end_day = datetime.date.fromisoformat(last) + datetime.timedelta(days=1)
        end = datetime.datetime.combine(end_day, datetime.time(0), tzinfo=zone)
    except (ValueError, OverflowError):
        return first, last, start.isoformat(), None
    return first, last, start.isoformat(), end.isoformat()


class ReportPages(Controller):
    path = "/ws/{slug:str}/reports"
    dependencies = {"access": Provide(provide_access)}

    @get("/oncall", name="load_report", opt=VIEWER)
    async def oncall(
        self, db_session: AsyncSession, access: WorkspaceAccess, first: str = "", last: str = ""
    ) -> Template:
        first, last, start, end = _period(access, first[:10], last[:10])
        errors: dict[str, str] = {}
        rows = []
        try:
            start_at, end_at = check_period(start, end)
            rows = await load_report(db_session, access.workspace.id, start_at, end_at)
        except FieldError as exc:
            errors = {"first" if k == "start" else "last": v for k, v in exc.errors.items()}
        top = max((row.hours for row in rows), default=0.0) or 1.0
        return Template(
            "reports/oncall.html",
            context={
                "access": access,
                "nav": "reports",
                "first": first,
                "last": last,
                "rows": rows,
                "errors": errors,
                "top": top,
            },
            status_code=422 if errors else 200,
        )

    @get("/oncall.csv", name="load_report_csv", opt=VIEWER)
    async def oncall_csv(
        self, db_session: AsyncSession, access: WorkspaceAccess, first: str = "", last: str = ""
    ) -> Response[Any]:
        _, _, start, end = _period(access, first[:10], last[:10])
        start_at, end_at = check_period(start, end)
        rows = await load_report(db_session, access.workspace.id, start_at, end_at)
        return Response(
            as_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="oncall-load.csv"'},
        )
