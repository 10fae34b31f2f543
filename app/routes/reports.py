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
from app.services.load_report import as_csv, load_report

VIEWER = {"role": Role.VIEWER}
DEFAULT_DAYS = 30


def _period(
    access: WorkspaceAccess, first: str, last: str
) -> tuple[str, str, datetime.datetime | None, datetime.datetime | None, dict[str, str]]:
    """The local dates asked for (default: the last 30 days) as the instants of their midnights (the
    last day included), with an error per field that is wrong. The limit is 366 local days, so a year
    across an autumn clock change (an hour longer) is still one year."""
    zone = ZoneInfo(access.user.time_zone)
    today = datetime.datetime.now(zone).date()
    first = first or (today - datetime.timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    last = last or today.isoformat()
    errors: dict[str, str] = {}
    days: dict[str, datetime.date] = {}
    for name, raw in (("first", first), ("last", last)):
        try:
            days[name] = datetime.date.fromisoformat(raw)
        except ValueError:
            errors[name] = "Give a date such as 2026-12-01."
    if errors:
        return first, last, None, None, errors
    if days["last"] < days["first"]:
        return first, last, None, None, {"last": "The period must end on or after its first day."}
    if (days["last"] - days["first"]).days + 1 > 366:
        return first, last, None, None, {"last": "Ask for at most 366 days at a time."}
    try:
        start = datetime.datetime.combine(days["first"], datetime.time(0), tzinfo=zone)
        end = datetime.datetime.combine(days["last"] + datetime.timedelta(days=1), datetime.time(0), tzinfo=zone)
    except OverflowError:
        return first, last, None, None, {"last": "Give a date such as 2026-12-01."}
    return first, last, start.astimezone(datetime.UTC), end.astimezone(datetime.UTC), {}


class ReportPages(Controller):
    path = "/ws/{slug:str}/reports"
    dependencies = {"access": Provide(provide_access)}

    @get("/oncall", name="load_report", opt=VIEWER)
    async def oncall(
        self, db_session: AsyncSession, access: WorkspaceAccess, first: str = "", last: str = ""
    ) -> Template:
        first, last, start, end, errors = _period(access, first[:10], last[:10])
        rows = []
        if start is not None and end is not None:
            rows = await load_report(db_session, access.workspace.id, start, end)
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
        _, _, start, end, errors = _period(access, first[:10], last[:10])
        if start is None or end is None:
            raise FieldError(errors)
        rows = await load_report(db_session, access.workspace.id, start, end)
        return Response(
            as_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="oncall-load.csv"'},
        )
