"""The paging engine's health, read from the database (and Redis when there is one): the periodic
tick's last run, the longest-waiting due delivery, sends of unknown outcome, the workers seen. Each
process that runs the tick writes its heartbeat here."""

from __future__ import annotations

import datetime
import os
import socket
import uuid
from dataclasses import replace

import redis.asyncio as aioredis
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Environment, Settings
from app.db.models import DeliveryLog, PeriodicLease, WorkerHeartbeat
from app.db.transactions import writing
from app.domain.engine import WORKER_SEEN_WITHIN, EngineFacts
from app.services.periodic import TICK_JOB

WAITING = ("pending", "retrying")


async def beat(db: AsyncSession, embedded: bool, now: datetime.datetime) -> None:
    """This process ran a tick: say so (one row per process, moved forward)."""
    name = f"{socket.gethostname()}:{os.getpid()}"  # read now: a forked worker has its own pid
    async with writing(db):
        moved = await db.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.name == name)
            .values(seen_at=now)
            .execution_options(synchronize_session=False)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            db.add(WorkerHeartbeat(id=uuid.uuid4(), name=name, embedded=embedded, started_at=now, seen_at=now))


async def redis_reachable(url: str) -> bool:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        return bool(await client.ping())
    except (aioredis.RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def engine_facts(db: AsyncSession, settings: Settings, now: datetime.datetime) -> EngineFacts:
    """Everything /healthz/engine and the admins' banner tell, in one query (and a Redis ping)."""
    waiting_since = func.coalesce(DeliveryLog.due_at, DeliveryLog.at)
    query = select(
        select(func.max(PeriodicLease.last_run_at)).where(PeriodicLease.name == TICK_JOB).scalar_subquery(),
        select(func.min(waiting_since))
        .where(
            DeliveryLog.direction == "outbound",
            DeliveryLog.status.in_(WAITING),
            waiting_since <= now,
        )
        .scalar_subquery(),
        select(func.count())
        .select_from(DeliveryLog)
        .where(DeliveryLog.direction == "outbound", DeliveryLog.status.in_(WAITING))
        .scalar_subquery(),
        select(func.count())
        .select_from(DeliveryLog)
        .where(DeliveryLog.status == "unknown", DeliveryLog.at >= now - datetime.timedelta(hours=1))
        .scalar_subquery(),
        select(func.count())
        .select_from(WorkerHeartbeat)
        .where(WorkerHeartbeat.seen_at >= now - WORKER_SEEN_WITHIN)
        .scalar_subquery(),
        select(func.max(WorkerHeartbeat.seen_at)).where(WorkerHeartbeat.embedded.is_(False)).scalar_subquery(),
    )
    redis_ok = await redis_reachable(settings.redis_url) if settings.redis_url else None
    unread = EngineFacts(
        now=now,
        tick_seconds=settings.tick_seconds,
        runs_tick=settings.env is not Environment.TEST,
        separate_workers=bool(settings.redis_url),
        database_ok=False,
        redis_ok=redis_ok,
        last_tick_at=None,
        oldest_due_at=None,
        waiting=0,
        unknown_last_hour=0,
        workers_seen=0,
        last_worker_seen_at=None,
    )
    try:
        last_tick, oldest_due, waiting, unknown, seen, last_worker = (await db.execute(query)).one()
        await db.commit()
    except (DBAPIError, OSError):
        await db.rollback()
        return unread
    return replace(
        unread,
        database_ok=True,
        last_tick_at=last_tick,
        oldest_due_at=oldest_due,
        waiting=int(waiting or 0),
        unknown_last_hour=int(unknown or 0),
        workers_seen=int(seen or 0),
        last_worker_seen_at=last_worker,
    )
