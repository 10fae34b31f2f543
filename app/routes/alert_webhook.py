"""An alert source's webhook, /integrations/alerts/<token>: the token names the source (unknown: 404)
and counts the request in its window (over: 429) before the body is read; then 413, 400 and 422 for
bodies too large, not JSON, or of the wrong shape; then the notification is acted on and recorded in
one transaction."""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Any

from litestar import Request, Response, post
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.alerts import ShapeError, read
from app.metrics import INBOUND
from app.routes.access import pace_of, settings_of
from app.routes.bodies import BodyError, json_body
from app.routes.errors import problem
from app.services.alert_ingest import admit, ingest
from app.services.alert_sources import WEBHOOK_PATH
from app.services.errors import NotFound

logger = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # 1 MiB: Alertmanager's largest groups fit well inside


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@post(WEBHOOK_PATH + "{token:str}", name="alert_webhook", opt={"public": True}, request_max_body_size=MAX_BODY)
async def alert_webhook(request: Request[Any, Any, Any], db_session: AsyncSession, token: str) -> Response[Any]:
    settings = settings_of(request)
    admission = await admit(db_session, token, _now(), settings.alert_rate_limit)
    if admission is None:
        INBOUND.labels("alert", "unknown").inc()
        return problem(404, "No such alert source.")
    if admission.retry_after is not None:
        INBOUND.labels("alert", "rate_limited").inc()
        return problem(
            429,
            f"This source sent more than {settings.alert_rate_limit} requests this minute.",
            headers={"Retry-After": str(admission.retry_after)},
        )
    raw = await request.body()
    try:
        body = json_body(raw)
    except BodyError as exc:
        INBOUND.labels("alert", "refused").inc()
        return problem(400, str(exc), [{"field": "body", "message": str(exc)}])
    try:
        notification = read(admission.kind, body, fallback_key=uuid.uuid4().hex)
    except ShapeError as exc:
        INBOUND.labels("alert", "refused").inc()
        return problem(422, str(exc), [{"field": exc.field, "message": str(exc)}])
    try:
        outcome = await ingest(db_session, admission.source_id, notification, _now(), pace_of(request))
    except NotFound:  # deleted between the two steps
        return problem(404, "No such alert source.")
    except (OperationalError, InterfaceError):
        # The database was away or chose this transaction as a deadlock's victim: nothing was recorded
        # or acted on, and a retry can pass (Alertmanager retries on a 5xx). Other errors are bugs: 500.
        logger.exception("database error while taking an alert notification; asking the sender to retry")
        await db_session.rollback()
        INBOUND.labels("alert", "retry").inc()
        return problem(503, "Try again shortly.", headers={"Retry-After": "5"})
    INBOUND.labels("alert", outcome.status).inc()
    incident = (
        {"id": str(outcome.incident_id), "number": outcome.incident_number} if outcome.incident_id is not None else None
    )
    return Response({"ok": True, "outcome": outcome.text, "incident": incident}, status_code=202)
