"""The pager watches itself, on both databases: /healthz/engine (the tick, the deliveries waiting, the
workers, Redis and the database), the admins' banner, and /metrics."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Environment, Settings
from app.db.models import DeliveryLog, PeriodicLease, WorkerHeartbeat
from app.db.transactions import writing
from app.domain.engine import EngineFacts, troubles
from app.main import create_app
from app.services.deliveries import queue_delivery
from app.services.engine_health import beat, engine_facts
from app.services.periodic import TICK_JOB
from tests.conftest import REDIS_URL, require_service
from tests.factories import PASSWORD, make_team
from tests.web import login

ENGINE = "/healthz/engine"
CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once
STUCK_TEXT = "A message has waited 3 minutes to be sent: pages are not going out."
NO_WORKER_YET = "No worker has run yet: pages and escalations are waiting."
REDIS_TEXT = "Redis does not answer: pages and escalations are waiting to be queued."
DATABASE_TEXT = "The database does not answer: nothing can be paged or recorded."


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def ago(**delta: float) -> datetime.datetime:
    return utcnow() - datetime.timedelta(**delta)


async def queue(
    db: AsyncSession,
    at: datetime.datetime,
    *,
    status: str = "pending",
    not_before: datetime.datetime | None = None,
) -> DeliveryLog:
    """An outbound SMS queued at `at` the way the app queues one, then left in `status`."""
    async with writing(db):
        row = queue_delivery(
            db,
            workspace_id=None,
            channel="sms",
            target="+15550001111",
            text="INC-1 Disk full",
            now=at,
            not_before=not_before,
        )
        await db.flush()
        if status != "pending":
            row.status = status
    return row


async def insert(db: AsyncSession, **columns: Any) -> DeliveryLog:
    """A delivery row written directly (e.g. as rows from before `due_at` existed look)."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "direction": "outbound",
        "channel": "sms",
        "target": "+15550001111",
        "status": "pending",
        "summary": "INC-1 Disk full",
        **columns,
    }
    async with writing(db):
        row = DeliveryLog(**values)
        db.add(row)
    return row


async def set_lease(db: AsyncSession, last_run_at: datetime.datetime) -> None:
    """The tick's lease row, as if the tick last ran at `last_run_at`."""
    async with writing(db):
        moved = await db.execute(
            update(PeriodicLease).where(PeriodicLease.name == TICK_JOB).values(last_run_at=last_run_at)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            db.add(PeriodicLease(id=uuid.uuid4(), name=TICK_JOB, last_run_at=last_run_at))


async def engine(client: AsyncTestClient[Any], expected_status: int) -> dict[str, Any]:
    response = await client.get(ENGINE)
    assert response.status_code == expected_status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["status"] == ("ok" if expected_status == 200 else "failing")
    return body


def checks(body: dict[str, Any]) -> list[str]:
    return [trouble["check"] for trouble in body["troubles"]]


def development(settings: Settings) -> Settings:
    return replace(settings, env=Environment.DEVELOPMENT)


@pytest.fixture
def no_ticker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded worker runs without its ticker thread, so only the test moves the tick's lease."""
    from app.tasks.periodic import Ticker

    monkeypatch.setattr(Ticker, "after_worker_boot", lambda self, broker, worker: None)
    monkeypatch.setattr(Ticker, "before_worker_shutdown", lambda self, broker, worker: None)


# --- a. healthy -----------------------------------------------------------------------------------


async def test_a_healthy_engine_answers_200_without_login(settings: Settings, db: AsyncSession) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        body = await engine(client, 200)
    assert body["troubles"] == []
    assert body["database"] == {"ok": True}
    assert body["redis"] is None  # no Redis configured: the embedded default
    assert body["tick"] == {"expected": False, "last_at": None, "age_seconds": None, "late_after_seconds": 45.0}
    assert body["deliveries"] == {
        "waiting": 0,
        "oldest_due_at": None,
        "oldest_due_age_seconds": None,
        "stuck_after_seconds": 120.0,
        "unknown_last_hour": 0,
    }
    assert body["workers"] == {
        "required": False,
        "seen_last_minute": 0,
        "last_seen_at": None,
        "missing_after_seconds": 60.0,
    }
    checked = datetime.datetime.fromisoformat(body["checked_at"].replace("Z", "+00:00"))
    assert abs((utcnow() - checked).total_seconds()) < 60
    assert set(body) == {"status", "checked_at", "troubles", "database", "redis", "tick", "deliveries", "workers"}


# --- b. deliveries --------------------------------------------------------------------------------


async def test_a_delivery_due_for_3_minutes_makes_the_engine_fail_until_it_is_sent(
    settings: Settings, db: AsyncSession
) -> None:
    queued_at = ago(minutes=3)
    row = await queue(db, queued_at)
    assert row.queued_at == queued_at
    assert row.due_at == queued_at
    async with AsyncTestClient(app=create_app(settings)) as client:
        body = await engine(client, 503)
        assert body["troubles"] == [{"check": "deliveries", "message": STUCK_TEXT}]
        assert body["deliveries"]["waiting"] == 1
        assert 180 <= body["deliveries"]["oldest_due_age_seconds"] < 240
        oldest = datetime.datetime.fromisoformat(body["deliveries"]["oldest_due_at"].replace("Z", "+00:00"))
        assert abs((oldest - queued_at).total_seconds()) < 1

        async with writing(db):
            await db.execute(update(DeliveryLog).where(DeliveryLog.id == row.id).values(status="sent"))
        body = await engine(client, 200)
        assert body["troubles"] == []
        assert body["deliveries"]["waiting"] == 0
        assert body["deliveries"]["oldest_due_at"] is None


async def test_rows_not_due_long_enough_or_not_waiting_do_not_count(settings: Settings, db: AsyncSession) -> None:
    # Queued 3 minutes ago but not to be sent before 10 minutes from now (a call after a text).
    later = await queue(db, ago(minutes=3), not_before=ago(minutes=-10))
    assert later.due_at == later.retry_at
    assert later.due_at is not None and later.due_at > utcnow()
    await queue(db, ago(minutes=1))  # due, but only for a minute
    await queue(db, ago(minutes=30), status="sent")
    await queue(db, ago(minutes=30), status="failed")
    await queue(db, ago(minutes=30), status="skipped")
    # Inbound webhooks waiting are no outbound delivery.
    await insert(db, direction="inbound", channel="slack", at=ago(minutes=30), external_id="Ev0001")
    async with AsyncTestClient(app=create_app(settings)) as client:
        body = await engine(client, 200)
    assert body["troubles"] == []
    assert body["deliveries"]["waiting"] == 2  # the later one and the one-minute one
    assert 60 <= body["deliveries"]["oldest_due_age_seconds"] < 120


async def test_a_retry_counts_from_its_retry_time_and_an_old_row_from_its_at(
    settings: Settings, db: AsyncSession
) -> None:
    # A retry due 30 s ago, first queued an hour ago: waiting since its retry time, so not stuck.
    await insert(db, status="retrying", at=ago(minutes=60), queued_at=ago(minutes=60), due_at=ago(seconds=30))
    now = utcnow()
    found = troubles(await engine_facts(db, settings, now))
    assert found == []

    # A row written before due_at existed waits since `at`.
    await insert(db, at=now - datetime.timedelta(minutes=5), due_at=None)
    facts = await engine_facts(db, settings, now)
    assert facts.waiting == 2
    assert facts.oldest_due_at == now - datetime.timedelta(minutes=5)
    assert [(t.code, t.text) for t in troubles(facts)] == [
        ("deliveries", "A message has waited 5 minutes to be sent: pages are not going out.")
    ]

    # A retry due 4 minutes ago is stuck, whatever its `at` says.
    await insert(db, status="retrying", at=now, queued_at=now, due_at=now - datetime.timedelta(minutes=4))
    async with AsyncTestClient(app=create_app(settings)) as client:
        body = await engine(client, 503)
    assert body["troubles"] == [
        {"check": "deliveries", "message": "A message has waited 5 minutes to be sent: pages are not going out."}
    ]
    assert body["deliveries"]["waiting"] == 3


async def test_unknown_sends_of_the_last_hour_are_counted_but_are_no_trouble(
    settings: Settings, db: AsyncSession
) -> None:
    now = utcnow()
    await insert(db, status="unknown", at=now - datetime.timedelta(minutes=10))
    await insert(db, status="unknown", at=now - datetime.timedelta(minutes=59))
    await insert(db, status="unknown", at=now - datetime.timedelta(minutes=61))
    facts = await engine_facts(db, settings, now)
    assert facts.unknown_last_hour == 2
    assert troubles(facts) == []
    async with AsyncTestClient(app=create_app(settings)) as client:
        body = await engine(client, 200)
    assert body["deliveries"]["unknown_last_hour"] == 2


@pytest.mark.parametrize(("minutes", "stuck"), [(1.9, False), (2.1, True)])
async def test_the_two_minute_threshold_read_from_the_database(
    settings: Settings, db: AsyncSession, minutes: float, stuck: bool
) -> None:
    now = utcnow()
    await queue(db, now - datetime.timedelta(minutes=minutes))
    found = troubles(await engine_facts(db, settings, now))
    assert [t.code for t in found] == (["deliveries"] if stuck else [])


# --- c. the tick ----------------------------------------------------------------------------------


async def test_the_tick_is_late_after_3_ticks_outside_tests(settings: Settings, db: AsyncSession) -> None:
    dev = development(settings)
    tick = datetime.timedelta(seconds=dev.tick_seconds)
    now = utcnow()

    never = await engine_facts(db, dev, now)
    assert never.runs_tick and never.last_tick_at is None
    assert [(t.code, t.text) for t in troubles(never)] == [
        ("tick", "The periodic tick has not run yet: lost pages and escalations are not swept up.")
    ]

    await set_lease(db, now - 10 * tick)
    stale = await engine_facts(db, dev, now)
    assert stale.last_tick_at == now - 10 * tick
    assert [(t.code, t.text) for t in troubles(stale)] == [
        ("tick", "The periodic tick has not run for 2 minutes: lost pages and escalations are not swept up.")
    ]
    # The test environment expects no tick: the same lease is no trouble there.
    assert troubles(await engine_facts(db, settings, now)) == []

    await set_lease(db, now - 3 * tick - datetime.timedelta(seconds=1))
    assert [t.code for t in troubles(await engine_facts(db, dev, now))] == ["tick"]
    await set_lease(db, now - 3 * tick)
    assert troubles(await engine_facts(db, dev, now)) == []
    await set_lease(db, now - tick)
    assert troubles(await engine_facts(db, dev, now)) == []


@pytest.mark.usefixtures("no_ticker")
async def test_a_stale_tick_answers_503_and_a_fresh_one_200(settings: Settings, db: AsyncSession) -> None:
    dev = development(settings)
    await set_lease(db, ago(seconds=10 * dev.tick_seconds))
    async with AsyncTestClient(app=create_app(dev)) as client:
        body = await engine(client, 503)
        assert checks(body) == ["tick"]
        assert body["troubles"][0]["message"] == (
            "The periodic tick has not run for 2 minutes: lost pages and escalations are not swept up."
        )
        assert body["tick"]["expected"] is True
        assert body["tick"]["late_after_seconds"] == 3 * dev.tick_seconds
        assert 10 * dev.tick_seconds <= body["tick"]["age_seconds"] < 10 * dev.tick_seconds + 30

        await set_lease(db, utcnow())
        body = await engine(client, 200)
        assert body["troubles"] == []
        assert 0 <= body["tick"]["age_seconds"] < 30


async def test_the_embedded_worker_ticks_the_engine_back_to_health(settings: Settings, db: AsyncSession) -> None:
    """The real ticker: a lease left stale by a stopped process is moved on by the next tick."""
    dev = development(settings)
    await set_lease(db, ago(seconds=10 * dev.tick_seconds))
    async with AsyncTestClient(app=create_app(dev)) as client:
        for _ in range(300):
            response = await client.get(ENGINE)
            if response.status_code == 200:
                break
            await asyncio.sleep(0.1)
        body = await engine(client, 200)
    assert body["tick"]["age_seconds"] < dev.tick_seconds
    await db.commit()
    embedded = list(await db.scalars(select(WorkerHeartbeat)))
    assert len(embedded) == 1 and embedded[0].embedded is True


# --- d. Redis and separate workers ----------------------------------------------------------------


async def test_redis_down_and_no_worker_answers_503(settings: Settings, db: AsyncSession) -> None:
    broken = replace(settings, redis_url=CLOSED_REDIS)
    async with AsyncTestClient(app=create_app(broken)) as client:
        body = await engine(client, 503)
    assert body["redis"] == {"ok": False}
    assert body["troubles"] == [
        {"check": "redis", "message": REDIS_TEXT},
        {"check": "workers", "message": NO_WORKER_YET},
    ]
    assert body["workers"]["required"] is True
    assert body["workers"]["seen_last_minute"] == 0
    assert body["workers"]["last_seen_at"] is None
    assert body["tick"]["expected"] is False


async def test_a_worker_heartbeat_clears_the_workers_trouble(settings: Settings, db: AsyncSession) -> None:
    broken = replace(settings, redis_url=CLOSED_REDIS)
    now = utcnow()

    # The embedded worker's heartbeat is seen, but is no separate worker.
    await beat(db, embedded=True, now=now)
    facts = await engine_facts(db, broken, now)
    assert facts.workers_seen == 1
    assert facts.last_worker_seen_at is None
    assert [t.code for t in troubles(facts)] == ["redis", "workers"]
    async with writing(db):
        await db.execute(delete(WorkerHeartbeat))

    # A `vigilo worker` seen 2 minutes ago is missing, and says for how long.
    await beat(db, embedded=False, now=now - datetime.timedelta(minutes=2))
    facts = await engine_facts(db, broken, now)
    assert facts.workers_seen == 0
    assert [(t.code, t.text) for t in troubles(facts)] == [
        ("redis", REDIS_TEXT),
        ("workers", "No worker has run for 2 minutes: pages and escalations are waiting."),
    ]

    # It ticks again: the same row moves forward, and only Redis is left to complain about.
    await beat(db, embedded=False, now=now)
    await db.commit()
    assert await db.scalar(select(func.count()).select_from(WorkerHeartbeat)) == 1
    facts = await engine_facts(db, broken, now)
    assert facts.workers_seen == 1
    assert facts.last_worker_seen_at == now
    assert facts.redis_ok is False
    assert [t.code for t in troubles(facts)] == ["redis"]


async def test_with_redis_up_and_a_worker_seen_the_engine_is_healthy(settings: Settings, db: AsyncSession) -> None:
    with_redis = replace(settings, redis_url=require_service("redis", REDIS_URL))
    now = utcnow()
    facts = await engine_facts(db, with_redis, now)
    assert facts.redis_ok is True
    assert [(t.code, t.text) for t in troubles(facts)] == [("workers", NO_WORKER_YET)]

    await beat(db, embedded=False, now=now)
    facts = await engine_facts(db, with_redis, now)
    assert facts == EngineFacts(
        now=now,
        tick_seconds=with_redis.tick_seconds,
        runs_tick=False,
        separate_workers=True,
        database_ok=True,
        redis_ok=True,
        last_tick_at=None,
        oldest_due_at=None,
        waiting=0,
        unknown_last_hour=0,
        workers_seen=1,
        last_worker_seen_at=now,
    )
    assert troubles(facts) == []
    # A minute and a bit later, with no new heartbeat, the worker is missing again.
    later = now + datetime.timedelta(seconds=61)
    assert [t.code for t in troubles(await engine_facts(db, with_redis, later))] == ["workers"]


# --- the database down ----------------------------------------------------------------------------


async def test_the_database_down_is_the_only_trouble_told(settings: Settings, tmp_path: Path) -> None:
    if settings.uses_sqlite:
        unreachable = f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/vigilo.db"
    else:
        unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"
    down = replace(settings, database_url=unreachable, redis_url=CLOSED_REDIS)
    async with AsyncTestClient(app=create_app(down)) as client:
        body = await engine(client, 503)
    assert body["troubles"] == [{"check": "database", "message": DATABASE_TEXT}]
    assert body["database"] == {"ok": False}


# --- e. the banner --------------------------------------------------------------------------------


async def fragment(settings: Settings, who: str, path: str = "/ws/acme/engine-status") -> Any:
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, f"{who}@acme.test", PASSWORD)
        return await client.get(path, follow_redirects=False)


def assert_banner(response: Any, *texts: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    if not texts:
        assert response.text.strip() == ""
        return
    assert "The pager is in trouble." in response.text
    for text in texts:
        assert text in response.text


async def test_admins_and_owners_see_the_banner_when_a_delivery_is_stuck(settings: Settings, db: AsyncSession) -> None:
    """One login per role: the home page loads the banner for admins and owners only, and the banner
    tells them a stuck delivery (and nothing when all is well); members and viewers are refused it."""
    await make_team(db)
    loader = 'hx-get="/ws/acme/engine-status"'

    async with AsyncTestClient(app=create_app(settings)) as owner:
        await login(owner, "owner@acme.test", PASSWORD)
        home = await owner.get("/ws/acme/")
        assert home.status_code == 200, home.text
        assert loader in home.text
        assert_banner(await owner.get("/ws/acme/engine-status"))  # healthy: empty
        row = await queue(db, ago(minutes=3))
        stuck = await owner.get("/ws/acme/engine-status")
        assert_banner(stuck, STUCK_TEXT, 'data-check="deliveries"')

    for who in ("member", "viewer"):
        async with AsyncTestClient(app=create_app(settings)) as client:
            await login(client, f"{who}@acme.test", PASSWORD)
            home = await client.get("/ws/acme/")
            assert home.status_code == 200, home.text
            assert loader not in home.text
            assert "engine-status" not in home.text
            refused = await client.get("/ws/acme/engine-status", follow_redirects=False)
            assert refused.status_code == 403, refused.text
            assert STUCK_TEXT not in refused.text

    async with AsyncTestClient(app=create_app(settings)) as anonymous:
        refused = await anonymous.get("/ws/acme/engine-status", follow_redirects=False)
        assert refused.status_code != 200
        assert STUCK_TEXT not in refused.text

    async with AsyncTestClient(app=create_app(settings)) as admin:
        await login(admin, "admin@acme.test", PASSWORD)
        home = await admin.get("/ws/acme/")
        assert home.status_code == 200, home.text
        assert loader in home.text
        assert_banner(await admin.get("/ws/acme/engine-status"), STUCK_TEXT, 'data-check="deliveries"')
        async with writing(db):
            await db.execute(update(DeliveryLog).where(DeliveryLog.id == row.id).values(status="sent"))
        assert_banner(await admin.get("/ws/acme/engine-status"))  # sent: all is well again


async def test_the_banner_tells_redis_and_workers(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    response = await fragment(replace(settings, redis_url=CLOSED_REDIS), "admin")
    assert_banner(response, REDIS_TEXT, NO_WORKER_YET, 'data-check="redis"', 'data-check="workers"')


# --- f. /metrics ----------------------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    parsed: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            parsed[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return parsed


def value(parsed: Samples, name: str, **labels: str) -> float:
    return parsed.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def in_memory_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's own counters (not a multi-process folder another test may have named)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.mark.usefixtures("in_memory_metrics")
async def test_metrics_need_the_token_when_one_is_set(settings: Settings, db: AsyncSession) -> None:
    guarded = replace(settings, metrics_token="scrape-secret-0123456789")
    async with AsyncTestClient(app=create_app(guarded)) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "scrape-secret-0123456789"},
            {"Authorization": "Bearer scrape-secret-0123456789x"},
            {"Authorization": "Basic c2NyYXBlOnNlY3JldA=="},
        ):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert "vigilo_" not in response.text
            assert response.headers["www-authenticate"].startswith("Bearer")
        response = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert value(samples(response.text), "vigilo_engine_healthy") == 1.0
    async with AsyncTestClient(app=create_app(settings)) as client:  # no token set: open
        assert (await client.get("/metrics")).status_code == 200


@pytest.mark.usefixtures("in_memory_metrics")
async def test_metrics_count_webhooks_and_requests_by_route_and_read_the_engine(
    settings: Settings, db: AsyncSession
) -> None:
    token = "hb-" + uuid.uuid4().hex  # a secret ping URL's token: never a label
    await queue(db, ago(minutes=3))
    await queue(db, ago(seconds=10))
    await queue(db, ago(minutes=30), status="sent")
    await insert(db, status="retrying", at=ago(minutes=1), due_at=ago(seconds=-30))
    headers = {"Authorization": "Bearer metrics-token-abc"}
    async with AsyncTestClient(app=create_app(replace(settings, metrics_token="metrics-token-abc"))) as client:
        before = await client.get("/metrics", headers=headers)
        assert before.status_code == 200, before.text
        ping = await client.get(f"/integrations/heartbeats/{token}")
        assert ping.status_code == 404, ping.text
        after = await client.get("/metrics", headers=headers)
        assert after.status_code == 200, after.text

    was, now = samples(before.text), samples(after.text)
    inbound = "vigilo_inbound_webhooks_total"
    assert value(now, inbound, kind="heartbeat", outcome="unknown") == (
        value(was, inbound, kind="heartbeat", outcome="unknown") + 1
    )
    assert value(now, inbound, kind="heartbeat", outcome="received") == value(
        was, inbound, kind="heartbeat", outcome="received"
    )

    routes = {dict(labels).get("path") for name, labels in now if name == "vigilo_http_requests_total"}
    assert "/integrations/heartbeats/{token}" in routes
    ping_label = {
        "method": "GET",
        "path": "/integrations/heartbeats/{token}",
        "status_code": "404",
        "app_name": "vigilo",
    }
    assert value(now, "vigilo_http_requests_total", **ping_label) >= 1
    assert value(now, "vigilo_http_requests_total", **ping_label) == (
        value(was, "vigilo_http_requests_total", **ping_label) + 1
    )
    assert token not in after.text
    for _name, labels in now:
        for _key, label in labels:
            assert token not in label

    assert value(now, "vigilo_deliveries_waiting") == 3  # two pending and one retrying; the sent one is done
    assert value(now, "vigilo_engine_healthy") == 0.0
    assert 180 <= value(now, "vigilo_oldest_due_delivery_age_seconds") < 240
    assert value(now, "vigilo_tick_age_seconds") == -1.0  # never ran (no tick under VIGILO_ENV=test)
    assert value(now, "vigilo_workers_seen") == 0.0
    assert value(now, "vigilo_database_up") == 1.0
    for family in (
        "vigilo_deliveries_total",
        "vigilo_delivery_latency_seconds",
        "vigilo_escalation_lateness_seconds",
        "vigilo_tick_duration_seconds",
        "vigilo_unknown_sends_last_hour",
    ):
        assert f"# HELP {family} " in after.text, family
