"""The on-call load report: per schedule and person over a period, hours on call (night and weekend
hours in the schedule's zone), shifts that started in it, pages received and how many of them the
person acknowledged."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Incident, OnCallSchedule, Page, UserProfile
from app.domain.load import MAX_PERIOD, held_hours
from app.domain.schedules import parse_instant
from app.services.errors import FieldError
from app.services.shifts import people_of, schedule_shifts

CSV_COLUMNS = (
    "user_email",
    "user_name",
    "schedule_id",
    "schedule_name",
    "hours",
    "night_hours",
    "weekend_hours",
    "shifts",
    "pages",
    "acks",
)


@dataclass(frozen=True)
class LoadRow:
    user: UserProfile
    schedule: OnCallSchedule
    hours: float
    night_hours: float
    weekend_hours: float
    shifts: int
    pages: int
    acks: int

    def csv_values(self) -> list[str]:
        return [
            _cell(self.user.email),
            _cell(self.user.display_name),
            str(self.schedule.id),
            _cell(self.schedule.name),
            f"{self.hours:.2f}",
            f"{self.night_hours:.2f}",
            f"{self.weekend_hours:.2f}",
            str(self.shifts),
            str(self.pages),
            str(self.acks),
        ]


def _cell(text: str) -> str:
    """Text people typed, made safe for a spreadsheet: one that starts like a formula (=, +, -, @) is
    read as text (a leading apostrophe), so opening the CSV runs nothing."""
    return f"'{text}" if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def check_period(raw_start: object, raw_end: object) -> tuple[datetime.datetime, datetime.datetime]:
    """The period asked for: both instants required, the end after the start, at most 366 days."""
    errors: dict[str, str] = {}
    start = parse_instant(raw_start, "start", errors) if raw_start else None
    end = parse_instant(raw_end, "end", errors) if raw_end else None
    if start is None:
        errors.setdefault("start", "Give the start of the period.")
    if end is None:
        errors.setdefault("end", "Give the end of the period.")
    if start is not None and end is not None:
        if end <= start:
            errors["end"] = "The period must end after it starts."
        elif end - start > MAX_PERIOD:
            errors["end"] = "Ask for at most 366 days at a time."
    if errors:
        raise FieldError(errors)
    assert start is not None
    assert end is not None
    return start, end


async def _page_counts(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    start: datetime.datetime,
    end: datetime.datetime,
    acknowledged: bool = False,
) -> dict[tuple[uuid.UUID | None, uuid.UUID | None], int]:
    """Pages sent in the period per (the incident's schedule, person); only the acknowledged ones when asked."""
    query = (
        select(Incident.schedule_id, Page.user_id, func.count(Page.id))
        .join(Incident, Incident.id == Page.incident_id)
        .where(
            Incident.workspace_id == workspace_id,
            Incident.schedule_id.is_not(None),
            Page.user_id.is_not(None),
            Page.sent_at >= start,
            Page.sent_at < end,
        )
        .group_by(Incident.schedule_id, Page.user_id)
    )
    if acknowledged:
        query = query.where(Page.status == "acknowledged")
    return {(schedule_id, user_id): count for schedule_id, user_id, count in (await db.execute(query)).all()}


async def load_report(
    db: AsyncSession, workspace_id: uuid.UUID, start: datetime.datetime, end: datetime.datetime
) -> list[LoadRow]:
    """One row per (schedule, person) with hours in the period or pages received in it; hours are
    clipped to the period (and may lie in the future: planned hours); a shift counts when it starts
    inside the period."""
    schedules = {
        s.id: s for s in await db.scalars(select(OnCallSchedule).where(OnCallSchedule.workspace_id == workspace_id))
    }
    held: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[datetime.datetime, datetime.datetime]]] = {}
    started: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for schedule in schedules.values():
        for shift in await schedule_shifts(db, schedule.id, start, end):
            key = (schedule.id, shift.user_id)
            held.setdefault(key, []).append((shift.start, shift.end))
            if start <= shift.start < end:
                started[key] = started.get(key, 0) + 1
    pages = await _page_counts(db, workspace_id, start, end)
    acks = await _page_counts(db, workspace_id, start, end, acknowledged=True)  # so acks never exceed pages
    keys: set[tuple[uuid.UUID, uuid.UUID]] = {
        (schedule_id, user_id)
        for schedule_id, user_id in (*held, *pages, *acks)
        if schedule_id is not None and user_id is not None and schedule_id in schedules
    }
    people = await people_of(db, {user_id for _, user_id in keys})
    await db.commit()
    rows: list[LoadRow] = []
    for schedule_id, user_id in keys:
        if user_id not in people:
            continue
        schedule = schedules[schedule_id]
        hours, night, weekend = held_hours(
            held.get((schedule_id, user_id), []), (start, end), ZoneInfo(schedule.time_zone)
        )
        rows.append(
            LoadRow(
                people[user_id],
                schedule,
                hours,
                night,
                weekend,
                started.get((schedule_id, user_id), 0),
                pages.get((schedule_id, user_id), 0),
                acks.get((schedule_id, user_id), 0),
            )
        )
    return sorted(rows, key=lambda r: (r.schedule.name, r.user.display_name, r.user.email))


def as_csv(rows: list[LoadRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(row.csv_values())
    return out.getvalue()
