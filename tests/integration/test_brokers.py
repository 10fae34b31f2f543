"""Actors run on real Dramatiq workers: the StubBroker of the embedded mode and real Redis."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from dataclasses import replace

import dramatiq
import pytest
from dramatiq import Worker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import LoginFailure, WebSession
from app.tasks import broker as task_broker
from app.tasks import context as task_context
from app.tasks.maintenance import purge_expired
from tests.conftest import REDIS_URL, require_service


@pytest.fixture
def stub_worker(settings: Settings) -> Iterator[dramatiq.Broker]:
    broker = task_broker.configure(settings, with_ticker=False)
    task_context.use_settings(settings)
    worker = Worker(broker, worker_timeout=100)
    worker.start()
    yield broker
    worker.stop()


@pytest.fixture
def redis_worker(settings: Settings) -> Iterator[dramatiq.Broker]:
    url = require_service("redis", REDIS_URL)
    redis_settings = replace(settings, redis_url=url)
    broker = task_broker.configure(redis_settings, namespace=f"vigilo-test-{uuid.uuid4().hex[:8]}", with_ticker=False)
    task_context.use_settings(redis_settings)
    worker = Worker(broker, worker_timeout=100)
    worker.start()
    yield broker
    worker.stop()
    broker.flush_all()
    broker.close()


async def _arrange_expired_rows(db: AsyncSession) -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC)
    db.add(WebSession(session_id="old", data=b"{}", expires_at=now - datetime.timedelta(hours=1)))
    db.add(WebSession(session_id="fresh", data=b"{}", expires_at=now + datetime.timedelta(hours=1)))
    db.add(LoginFailure(email="a@b.test", address="127.0.0.1", at=now - datetime.timedelta(days=1)))
    await db.commit()
    return now


async def _remaining(db: AsyncSession) -> tuple[list[str], int]:
    await db.commit()
    sessions = sorted(await db.scalars(select(WebSession.session_id)))
    failures = await db.scalar(select(func.count()).select_from(LoginFailure)) or 0
    return sessions, failures


async def test_purge_runs_on_the_stub_broker_worker(stub_worker: dramatiq.Broker, db: AsyncSession) -> None:
    await _arrange_expired_rows(db)
    purge_expired.send()
    stub_worker.join(purge_expired.queue_name)  # type: ignore[attr-defined]
    assert await _remaining(db) == (["fresh"], 0)


async def test_purge_runs_on_a_redis_worker(redis_worker: dramatiq.Broker, db: AsyncSession) -> None:
    await _arrange_expired_rows(db)
    purge_expired.send()
    redis_worker.join(purge_expired.queue_name, timeout=20_000)  # type: ignore[attr-defined]
    assert await _remaining(db) == (["fresh"], 0)


async def test_periodic_tick_runs_each_job_once_per_interval(stub_worker: dramatiq.Broker, db: AsyncSession) -> None:
    from app.db.models import PeriodicLease
    from app.tasks.periodic import tick

    for _ in range(3):  # three processes ticking at the same moment
        tick.send()
    stub_worker.join(tick.queue_name)  # type: ignore[attr-defined]
    await db.commit()
    leases = list(await db.scalars(select(PeriodicLease)))
    from app.tasks.periodic import JOBS

    assert sorted(lease.name for lease in leases) == sorted(name for name, _, _ in JOBS)
    first_run = leases[0].last_run_at
    tick.send()
    stub_worker.join(tick.queue_name)  # type: ignore[attr-defined]
    await db.commit()
    again = await db.scalar(
        select(PeriodicLease.last_run_at)
        .where(PeriodicLease.name == leases[0].name)
        .execution_options(populate_existing=True)
    )
    assert again == first_run  # within the interval nobody runs it again
