"""/healthz/engine: is the pager paging? (no login; 200 or 503 with what is wrong), and /metrics for
Prometheus (optionally behind VIGILO_METRICS_TOKEN)."""

from __future__ import annotations

import datetime
import hmac
from typing import Any

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.engine import DUE_TOO_LONG, TICKS_LATE, WORKER_SEEN_WITHIN, EngineFacts, troubles
from app.metrics import exposition
from app.routes.access import settings_of
from app.routes.api.views import maybe_instant
from app.services.engine_health import engine_facts


def _age(facts: EngineFacts, at: datetime.datetime | None) -> float | None:
    return round((facts.now - at).total_seconds(), 3) if at is not None else None


@get("/healthz/engine", name="healthz_engine", opt={"public": True}, include_in_schema=False)
async def healthz_engine(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[dict[str, Any]]:
    """The engine's health: 503 when the tick is late, a due delivery waits too long, no worker runs,
    or the database or Redis does not answer."""
    facts = await engine_facts(db_session, settings_of(request), datetime.datetime.now(datetime.UTC))
    found = troubles(facts)
    body = {
        "status": "failing" if found else "ok",
        "checked_at": maybe_instant(facts.now),
        "troubles": [{"check": t.code, "message": t.text} for t in found],
        "database": {"ok": facts.database_ok},
        "redis": None if facts.redis_ok is None else {"ok": facts.redis_ok},
        "tick": {
            "expected": facts.runs_tick,
            "last_at": maybe_instant(facts.last_tick_at),
            "age_seconds": _age(facts, facts.last_tick_at),
            "late_after_seconds": TICKS_LATE * facts.tick_seconds,
        },
        "deliveries": {
            "waiting": facts.waiting,
            "oldest_due_at": maybe_instant(facts.oldest_due_at),
            "oldest_due_age_seconds": _age(facts, facts.oldest_due_at),
            "stuck_after_seconds": DUE_TOO_LONG.total_seconds(),
            "unknown_last_hour": facts.unknown_last_hour,
        },
        "workers": {
            "required": facts.separate_workers,
            "seen_last_minute": facts.workers_seen,
            "last_seen_at": maybe_instant(facts.last_worker_seen_at),
            "missing_after_seconds": WORKER_SEEN_WITHIN.total_seconds(),
        },
    }
    return Response(body, status_code=503 if found else 200, headers={"Cache-Control": "no-store"})


@get("/metrics", name="metrics", opt={"public": True}, include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    """Every process's counters and histograms, and the engine's state read now from the database."""
    token = settings_of(request).metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response(
                "401: /metrics needs Authorization: Bearer <VIGILO_METRICS_TOKEN>\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    facts = await engine_facts(db_session, settings_of(request), datetime.datetime.now(datetime.UTC))
    gauges = [
        ("vigilo_engine_healthy", "1 when /healthz/engine answers 200, else 0.", 0.0 if troubles(facts) else 1.0),
        ("vigilo_deliveries_waiting", "Outbound messages pending or waiting to retry.", float(facts.waiting)),
        (
            "vigilo_oldest_due_delivery_age_seconds",
            "How long the longest-waiting due message has waited (0: none waits).",
            _age(facts, facts.oldest_due_at) or 0.0,
        ),
        (
            "vigilo_tick_age_seconds",
            "Seconds since the periodic tick last ran (-1: never).",
            -1.0 if facts.last_tick_at is None else _age(facts, facts.last_tick_at) or 0.0,
        ),
        ("vigilo_workers_seen", "Worker processes that ran a tick in the last minute.", float(facts.workers_seen)),
        (
            "vigilo_unknown_sends_last_hour",
            "Sends of unknown outcome in the last hour.",
            float(facts.unknown_last_hour),
        ),
        ("vigilo_database_up", "1 when the database answers.", 1.0 if facts.database_ok else 0.0),
    ]
    return Response(exposition(gauges), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
