"""The periodic tick: a small thread in every worker sends `periodic.tick`; the actor runs each job
whose lease it wins, so with any number of processes each job runs once per interval."""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.metrics import TICK_DURATION
from app.services import jobs
from app.services.deliveries import stalled_inbound, sweep_stalled
from app.services.engine_health import beat
from app.services.heartbeats import open_late
from app.services.housekeeping import purge_expired_rows
from app.services.paging import Pace, due_incident_ids
from app.services.periodic import TICK_JOB, claim
from app.services.reminders import plan_reminders
from app.services.schedules import extend_all
from app.tasks.context import task_session, task_settings
from app.tasks.notifications import deliver
from app.tasks.paging import escalate
from app.tasks.webhooks import pagerduty_event, slack_event, sms_event, voice_event

logger = logging.getLogger(__name__)


async def _extend_rotations(db: AsyncSession, now: datetime.datetime) -> None:
    written = await extend_all(db, now, slack=datetime.timedelta(0))
    if written:
        logger.info("extended rotations: %d slots written", written)


async def _sweep_pages(db: AsyncSession, now: datetime.datetime) -> None:
    # Steps whose wake-up message was lost (worker killed, Redis flushed): wake them again.
    for incident_id in await due_incident_ids(db, now):
        await asyncio.to_thread(escalate.send, str(incident_id))


async def _sweep_deliveries(db: AsyncSession, now: datetime.datetime) -> None:
    # Messages whose wake-up was lost: send the pending ones, give up on the ones cut off mid-send.
    settings = task_settings()
    grace = datetime.timedelta(seconds=2 * settings.tick_seconds)
    sending_grace = datetime.timedelta(seconds=2 * settings.send_timeout_seconds + settings.tick_seconds)
    for log_id in await sweep_stalled(db, now, grace, sending_grace):
        await asyncio.to_thread(deliver.send, str(log_id))
    handlers = {"slack": slack_event, "sms": sms_event, "voice": voice_event, "pagerduty": pagerduty_event}
    for row_id, channel in await stalled_inbound(db, now, grace):
        await asyncio.to_thread(handlers[channel].send, str(row_id))


async def _plan_reminders(db: AsyncSession, now: datetime.datetime) -> None:
    for row_id, at in await plan_reminders(db, now, task_settings().seconds_per_delay_minute):
        if at is None:
            await jobs.deliver([row_id])
        else:
            await jobs.deliver_at(row_id, at)


async def _purge_expired(db: AsyncSession, now: datetime.datetime) -> None:
    await purge_expired_rows(db, now)


async def _open_late_heartbeats(db: AsyncSession, now: datetime.datetime) -> None:
    settings = task_settings()
    opened = await open_late(db, now, Pace(settings.seconds_per_delay_minute, settings.public_url, settings.secret_key))
    if opened:
        logger.info("heartbeat monitors: %d incidents opened for missed pings", opened)


EVERY_TICK = datetime.timedelta(0)  # the job runs on every tick (VIGILO_TICK_SECONDS)
JOBS: tuple[tuple[str, datetime.timedelta, Callable[[AsyncSession, datetime.datetime], Awaitable[None]]], ...] = (
    (TICK_JOB, EVERY_TICK, _sweep_pages),  # its lease's last run is the tick's, for /healthz/engine
    ("notifications.sweep_stalled", EVERY_TICK, _sweep_deliveries),
    ("oncall.extend_rotations", datetime.timedelta(seconds=60), _extend_rotations),
    ("reminders.plan", EVERY_TICK, _plan_reminders),
    ("maintenance.purge_expired", datetime.timedelta(hours=1), _purge_expired),
    ("heartbeats.open_late", EVERY_TICK, _open_late_heartbeats),
)


@dramatiq.actor(actor_name="periodic.tick", queue_name="periodic", max_retries=0, time_limit=55_000)
async def tick() -> None:
    """Run the periodic jobs that are due and that this tick wins."""
    now = datetime.datetime.now(datetime.UTC)
    started = time.monotonic()
    settings = task_settings()
    tick_interval = datetime.timedelta(seconds=settings.tick_seconds)
    async with task_session() as db:
        try:
            await beat(db, embedded=not settings.redis_url, now=now)  # this process is alive and ticking
        except (IntegrityError, OperationalError):
            await db.rollback()  # seen again on the next tick
        for name, interval, job in JOBS:
            # Leases are a little shorter than the interval, so a tick that comes slightly early still wins.
            lease = max(interval, tick_interval) * 0.9
            try:
                won = await claim(db, name, lease, now)
            except (IntegrityError, OperationalError):
                won = False  # another process claimed it at the same moment
            if won:
                try:
                    await job(db, now)
                except Exception:  # one job failing never keeps the others from running
                    logger.exception("periodic job %s failed; it runs again on the next tick", name)
                    await db.rollback()
    TICK_DURATION.observe(time.monotonic() - started)


class Ticker(dramatiq.Middleware):
    """Starts a thread per worker process that sends `periodic.tick` every `interval` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vigilo-ticker", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                tick.send()
            except Exception:  # a broker hiccup must not kill the ticker; the next tick retries
                logger.exception("could not send the periodic tick")
            self._stop.wait(self.interval)
