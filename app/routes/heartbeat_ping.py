"""A heartbeat monitor's ping URL, /integrations/heartbeats/<token> (GET or POST, no login, no body
read): the token names the monitor (unknown: 404); the ping moves its deadline and resolves the
incident a missed ping opened."""

from __future__ import annotations

import datetime
from typing import Any

from litestar import Request, Response, route
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics import INBOUND
from app.routes.access import pace_of
from app.routes.errors import problem
from app.services.heartbeats import PING_PATH, ping


@route(
    PING_PATH + "{token:str}",
    http_method=["GET", "POST"],
    name="heartbeat_ping",
    opt={"public": True},
    request_max_body_size=64 * 1024,
)
async def heartbeat_ping(request: Request[Any, Any, Any], db_session: AsyncSession, token: str) -> Response[Any]:
    now = datetime.datetime.now(datetime.UTC)
    try:
        pinged = await ping(db_session, token, now, pace_of(request))
    except (OperationalError, InterfaceError):
        await db_session.rollback()
        INBOUND.labels("heartbeat", "retry").inc()
        return problem(503, "Try again shortly.", headers={"Retry-After": "5"})
    if pinged is None:
        INBOUND.labels("heartbeat", "unknown").inc()
        return problem(404, "No such heartbeat monitor.")
    INBOUND.labels("heartbeat", "received").inc()
    resolved = f"INC-{pinged.resolved}" if pinged.resolved is not None else None
    return Response({"ok": True, "monitor": pinged.name, "resolved": resolved}, status_code=200)
