"""Calendar feeds and your shifts through the API: /api/v1/ws/{slug}/calendar-feeds, /me/shifts."""

from __future__ import annotations

import datetime
from typing import Any, TypedDict

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.roles import Role
from app.routes.access import settings_of
from app.routes.api.access import authenticate_api, provide_api_access
from app.routes.api.inputs import Text, instant_param
from app.routes.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from app.routes.api.views import instant
from app.services.calendar_feeds import create_feed, feed_urls, revoke_feed
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.shifts import MAX_WINDOW, person_shifts

VIEWER = {"role": Role.VIEWER}
DEFAULT_WINDOW = datetime.timedelta(days=28)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class FeedCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    schedule_id: Text | None = None  # absent: your own shifts on every schedule


class FeedCreated(TypedDict):
    id: str
    url: str  # https; given only here (the token is stored hashed)
    webcal_url: str


class ShiftSchedule(TypedDict):
    id: str
    name: str


class ShiftOut(TypedDict):
    schedule: ShiftSchedule
    start: str
    end: str
    is_override: bool  # any part of the shift is an override


class CalendarFeedsApi(Controller):
    path = "/api/v1/ws/{slug:str}"
    dependencies = {"access": Provide(provide_api_access)}
    guards = [authenticate_api]
    tags = ["calendar"]

    @post(
        "/calendar-feeds",
        opt=VIEWER,
        responses=WRITE_PROBLEMS,
        status_code=HTTP_201_CREATED,
        summary="Create a calendar feed of your shifts, or of a schedule (its URL is given only here)",
    )
    async def create(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, access: WorkspaceAccess, data: FeedCreate
    ) -> FeedCreated:
        if data.schedule_id is not None and not data.schedule_id.strip():
            raise FieldError.one("schedule_id", "Give a schedule's id, or leave schedule_id out for your own shifts.")
        feed, token = await create_feed(db_session, access, data.schedule_id, _now())
        url, webcal = feed_urls(settings_of(request).public_url, token)
        return {"id": str(feed.id), "url": url, "webcal_url": webcal}

    @delete(
        "/calendar-feeds/{feed_id:str}",
        opt=VIEWER,
        responses=READ_PROBLEMS,
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke one of your calendar feeds",
    )
    async def revoke(self, db_session: AsyncSession, access: WorkspaceAccess, feed_id: str) -> None:
        await revoke_feed(db_session, access, feed_id, _now())

    @get("/me/shifts", opt=VIEWER, responses=READ_PROBLEMS, summary="Your shifts that overlap a window, whole")
    async def my_shifts(
        self, db_session: AsyncSession, access: WorkspaceAccess, start: str | None = None, end: str | None = None
    ) -> list[ShiftOut]:
        window_start = instant_param(start, "start", _now())
        window_end = instant_param(end, "end", window_start + DEFAULT_WINDOW)
        if window_end <= window_start:
            raise FieldError.one("end", "The window must end after it starts.")
        if window_end - window_start > MAX_WINDOW:
            raise FieldError.one("end", "Ask for at most 400 days of shifts at a time.")
        found = await person_shifts(db_session, access.workspace.id, access.user.id, window_start, window_end)
        return [
            {
                "schedule": {"id": str(schedule.id), "name": schedule.name},
                "start": instant(shift.start),
                "end": instant(shift.end),
                "is_override": shift.is_override,
            }
            for shift, schedule in found
        ]
