"""The calendar feed itself: GET /calendar/<token>.ics, no login (the token is the secret)."""

from __future__ import annotations

import datetime
from typing import Any

from litestar import Request, Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from app.routes.access import settings_of
from app.services.calendar_feeds import FEED_PATH, render_feed


@get(FEED_PATH + "{name:str}", name="calendar_feed", opt={"public": True}, include_in_schema=False)
async def calendar_feed(request: Request[Any, Any, Any], db_session: AsyncSession, name: str) -> Response[Any]:
    """A revoked or unknown token, or one whose owner is no longer an active member, is 404."""
    token = name.removesuffix(".ics")
    body = None
    if name.endswith(".ics"):
        body = await render_feed(
            db_session, token, datetime.datetime.now(datetime.UTC), settings_of(request).public_url
        )
    if body is None:
        return Response("No such calendar feed.", status_code=404, media_type="text/plain")
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300", "Content-Disposition": 'inline; filename="oncall.ics"'},
    )
