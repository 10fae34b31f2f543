"""The engine's troubles (app/domain/engine.py), without a database: each threshold just under and
just over, what is skipped when, and the texts people read."""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any

import pytest

from app.domain.engine import DUE_TOO_LONG, TICKS_LATE, WORKER_SEEN_WITHIN, EngineFacts, Trouble, troubles

NOW = datetime.datetime(2026, 12, 2, 10, 0, tzinfo=datetime.UTC)
TICK = 15.0
LATE = datetime.timedelta(seconds=TICKS_LATE * TICK)  # 45 s
SECOND = datetime.timedelta(seconds=1)
EPSILON = datetime.timedelta(milliseconds=1)

# A healthy production-like engine: the tick ran a tick ago, nothing waits, Redis off (embedded).
HEALTHY = EngineFacts(
    now=NOW,
    tick_seconds=TICK,
    runs_tick=True,
    separate_workers=False,
    database_ok=True,
    redis_ok=None,
    last_tick_at=NOW - datetime.timedelta(seconds=TICK),
    oldest_due_at=None,
    waiting=0,
    unknown_last_hour=0,
    workers_seen=0,
    last_worker_seen_at=None,
)
# With Redis and `vigilo worker` processes: a worker seen a few seconds ago.
SEPARATE = replace(HEALTHY, separate_workers=True, redis_ok=True, workers_seen=1, last_worker_seen_at=NOW - 5 * SECOND)

TICK_TEXT = "The periodic tick has not run {}: lost pages and escalations are not swept up."
WORKER_TEXT = "No worker has run {}: pages and escalations are waiting."
DELIVERY_TEXT = "A message has waited {} to be sent: pages are not going out."
REDIS_TEXT = "Redis does not answer: pages and escalations are waiting to be queued."
DATABASE_TEXT = "The database does not answer: nothing can be paged or recorded."


def facts(base: EngineFacts = HEALTHY, **changes: Any) -> EngineFacts:
    return replace(base, **changes)


def codes(found: list[Trouble]) -> list[str]:
    return [trouble.code for trouble in found]


def test_the_thresholds_are_the_documented_ones() -> None:
    assert TICKS_LATE == 3
    assert datetime.timedelta(minutes=2) == DUE_TOO_LONG
    assert datetime.timedelta(minutes=1) == WORKER_SEEN_WITHIN


def test_a_healthy_engine_has_no_troubles() -> None:
    assert troubles(HEALTHY) == []
    assert troubles(SEPARATE) == []


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        # The tick: late after 3 ticks (45 s at 15 s a tick), measured from its last run.
        pytest.param(facts(last_tick_at=NOW), [], id="tick-just-ran"),
        pytest.param(facts(last_tick_at=NOW - LATE + EPSILON), [], id="tick-just-under-3-ticks"),
        pytest.param(facts(last_tick_at=NOW - LATE), [], id="tick-exactly-3-ticks"),
        pytest.param(
            facts(last_tick_at=NOW - LATE - EPSILON),
            [Trouble("tick", TICK_TEXT.format("for 45 seconds"))],
            id="tick-just-over-3-ticks",
        ),
        pytest.param(
            facts(last_tick_at=NOW - datetime.timedelta(minutes=10)),
            [Trouble("tick", TICK_TEXT.format("for 10 minutes"))],
            id="tick-10-minutes",
        ),
        pytest.param(facts(last_tick_at=None), [Trouble("tick", TICK_TEXT.format("yet"))], id="tick-never-ran"),
        # The threshold scales with VIGILO_TICK_SECONDS.
        pytest.param(
            facts(tick_seconds=1.0, last_tick_at=NOW - 3 * SECOND - EPSILON),
            [Trouble("tick", TICK_TEXT.format("for 3 seconds"))],
            id="tick-1s-just-over",
        ),
        pytest.param(facts(tick_seconds=1.0, last_tick_at=NOW - 3 * SECOND + EPSILON), [], id="tick-1s-just-under"),
        pytest.param(
            facts(tick_seconds=300.0, last_tick_at=NOW - datetime.timedelta(minutes=14, seconds=59)),
            [],
            id="tick-300s-under-15-minutes",
        ),
        # runs_tick False (VIGILO_ENV=test): no tick is expected, however old or missing.
        pytest.param(facts(runs_tick=False, last_tick_at=None), [], id="no-tick-expected-never-ran"),
        pytest.param(
            facts(runs_tick=False, last_tick_at=NOW - datetime.timedelta(days=3)), [], id="no-tick-expected-old"
        ),
        # Deliveries: stuck when due for more than 2 minutes.
        pytest.param(facts(oldest_due_at=NOW), [], id="due-now"),
        pytest.param(facts(oldest_due_at=NOW - DUE_TOO_LONG + EPSILON), [], id="due-just-under-2-minutes"),
        pytest.param(facts(oldest_due_at=NOW - DUE_TOO_LONG), [], id="due-exactly-2-minutes"),
        pytest.param(
            facts(oldest_due_at=NOW - DUE_TOO_LONG - EPSILON),
            [Trouble("deliveries", DELIVERY_TEXT.format("2 minutes"))],
            id="due-just-over-2-minutes",
        ),
        pytest.param(
            facts(oldest_due_at=NOW - datetime.timedelta(minutes=3, seconds=30)),
            [Trouble("deliveries", DELIVERY_TEXT.format("3 minutes"))],
            id="due-3-minutes",
        ),
        pytest.param(
            facts(oldest_due_at=NOW - datetime.timedelta(hours=5, minutes=59)),
            [Trouble("deliveries", DELIVERY_TEXT.format("5 hours"))],
            id="due-hours",
        ),
        # Only a due row counts (engine_facts gives none that is not due yet), and the count alone is no trouble.
        pytest.param(facts(waiting=40, oldest_due_at=None), [], id="many-waiting-none-due"),
        pytest.param(facts(unknown_last_hour=7), [], id="unknown-sends-are-told-not-troubles"),
        pytest.param(
            facts(runs_tick=False, oldest_due_at=NOW - datetime.timedelta(minutes=3)),
            [Trouble("deliveries", DELIVERY_TEXT.format("3 minutes"))],
            id="due-also-without-tick",
        ),
        # Separate workers: one must have been seen within a minute.
        pytest.param(
            facts(SEPARATE, last_worker_seen_at=NOW - WORKER_SEEN_WITHIN + EPSILON), [], id="worker-just-under-1-minute"
        ),
        pytest.param(facts(SEPARATE, last_worker_seen_at=NOW - WORKER_SEEN_WITHIN), [], id="worker-exactly-1-minute"),
        pytest.param(
            facts(SEPARATE, last_worker_seen_at=NOW - WORKER_SEEN_WITHIN - EPSILON),
            [Trouble("workers", WORKER_TEXT.format("for 60 seconds"))],
            id="worker-just-over-1-minute",
        ),
        pytest.param(
            facts(SEPARATE, workers_seen=0, last_worker_seen_at=NOW - datetime.timedelta(minutes=4)),
            [Trouble("workers", WORKER_TEXT.format("for 4 minutes"))],
            id="worker-4-minutes",
        ),
        pytest.param(
            facts(SEPARATE, workers_seen=0, last_worker_seen_at=None),
            [Trouble("workers", WORKER_TEXT.format("yet"))],
            id="worker-never-ran",
        ),
        # With separate workers and none seen, the tick's lateness is redundant: only the workers are told.
        pytest.param(
            facts(SEPARATE, last_tick_at=NOW - datetime.timedelta(hours=1), last_worker_seen_at=None),
            [Trouble("workers", WORKER_TEXT.format("yet"))],
            id="separate-workers-skip-tick-old",
        ),
        # A worker seen while the tick's lease stands still (its job never wins) is still a late tick.
        pytest.param(
            facts(SEPARATE, last_tick_at=NOW - datetime.timedelta(hours=1)),
            [Trouble("tick", TICK_TEXT.format("for 60 minutes"))],
            id="separate-workers-seen-tick-old",
        ),
        pytest.param(
            facts(SEPARATE, last_tick_at=None, last_worker_seen_at=None),
            [Trouble("workers", WORKER_TEXT.format("yet"))],
            id="separate-workers-no-tick-trouble-beside-workers",
        ),
        # ...and under VIGILO_ENV=test too: separate workers are still required.
        pytest.param(
            facts(SEPARATE, runs_tick=False, last_worker_seen_at=None),
            [Trouble("workers", WORKER_TEXT.format("yet"))],
            id="separate-workers-under-test-env",
        ),
        # Without separate workers the worker heartbeat does not matter (the embedded one is the tick).
        pytest.param(facts(last_worker_seen_at=None, workers_seen=0), [], id="embedded-needs-no-heartbeat"),
        # Redis.
        pytest.param(facts(SEPARATE, redis_ok=False), [Trouble("redis", REDIS_TEXT)], id="redis-down"),
        pytest.param(
            facts(SEPARATE, redis_ok=False, last_worker_seen_at=None),
            [Trouble("redis", REDIS_TEXT), Trouble("workers", WORKER_TEXT.format("yet"))],
            id="redis-down-no-worker",
        ),
        pytest.param(facts(redis_ok=None), [], id="no-redis-configured"),
        # The database down hides everything else: nothing else was read.
        pytest.param(facts(database_ok=False), [Trouble("database", DATABASE_TEXT)], id="database-down"),
        pytest.param(
            facts(
                SEPARATE,
                database_ok=False,
                redis_ok=False,
                last_worker_seen_at=None,
                oldest_due_at=NOW - datetime.timedelta(hours=1),
            ),
            [Trouble("database", DATABASE_TEXT)],
            id="database-down-only-trouble",
        ),
        pytest.param(
            facts(database_ok=False, runs_tick=False, last_tick_at=None),
            [Trouble("database", DATABASE_TEXT)],
            id="database-down-test-env",
        ),
    ],
)
def test_troubles(engine: EngineFacts, expected: list[Trouble]) -> None:
    assert troubles(engine) == expected


def test_everything_wrong_at_once_is_told_most_fundamental_first() -> None:
    engine = facts(
        SEPARATE,
        redis_ok=False,
        last_worker_seen_at=NOW - datetime.timedelta(minutes=4),
        oldest_due_at=NOW - datetime.timedelta(minutes=9),
    )
    assert troubles(engine) == [
        Trouble("redis", REDIS_TEXT),
        Trouble("workers", "No worker has run for 4 minutes: pages and escalations are waiting."),
        Trouble("deliveries", "A message has waited 9 minutes to be sent: pages are not going out."),
    ]


def test_a_late_tick_and_a_stuck_delivery_are_both_told() -> None:
    engine = facts(last_tick_at=NOW - datetime.timedelta(minutes=5), oldest_due_at=NOW - datetime.timedelta(minutes=5))
    assert codes(troubles(engine)) == ["tick", "deliveries"]


@pytest.mark.parametrize(
    ("ago", "said"),
    [
        (datetime.timedelta(seconds=61), "61 seconds"),
        (datetime.timedelta(seconds=119, milliseconds=999), "119 seconds"),
        (datetime.timedelta(seconds=120), "2 minutes"),
        (datetime.timedelta(minutes=4), "4 minutes"),
        (datetime.timedelta(minutes=4, seconds=59), "4 minutes"),
        (datetime.timedelta(minutes=119, seconds=59), "119 minutes"),
        (datetime.timedelta(hours=2), "2 hours"),
        (datetime.timedelta(days=2, hours=1), "49 hours"),
    ],
)
def test_how_long_a_worker_has_been_missing_is_said_in_words(ago: datetime.timedelta, said: str) -> None:
    engine = facts(SEPARATE, workers_seen=0, last_worker_seen_at=NOW - ago)
    assert troubles(engine) == [Trouble("workers", f"No worker has run for {said}: pages and escalations are waiting.")]


def test_the_issue_example_text() -> None:
    engine = facts(SEPARATE, workers_seen=0, last_worker_seen_at=NOW - datetime.timedelta(minutes=4, seconds=10))
    (trouble,) = troubles(engine)
    assert trouble.text == "No worker has run for 4 minutes: pages and escalations are waiting."


def test_a_clock_that_went_backwards_is_no_trouble() -> None:
    """A heartbeat, tick or due time slightly in the future (clocks of several hosts) is not late."""
    future = NOW + datetime.timedelta(seconds=5)
    assert troubles(facts(SEPARATE, last_tick_at=future, last_worker_seen_at=future, oldest_due_at=future)) == []
    assert troubles(facts(last_tick_at=future)) == []
