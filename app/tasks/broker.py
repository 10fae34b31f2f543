"""The one Dramatiq broker of this process, and its middleware.

`configure()` must run before any actor module is imported: `@dramatiq.actor` binds to the
broker current at import time. app/main.py and the CLI call it first thing.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from app.config import Settings

DEFAULT_NAMESPACE = "vigilo"


def _middleware(with_ticker: bool, tick_seconds: float) -> list[dramatiq.Middleware]:
    from app.tasks.periodic import Ticker  # noqa: PLC0415 - actors import the broker module

    return [
        AgeLimit(),  # drop messages older than a message's max_age, when one is set
        TimeLimit(time_limit=60_000),  # no actor of ours should run a minute; a stuck HTTP call is killed
        ShutdownNotifications(),  # lets long actors notice a shutdown
        Callbacks(),
        Pipelines(),
        # Retries only on exceptions actors raise on purpose (temporary failures); backoff is exponential.
        Retries(max_retries=5, min_backoff=1_000, max_backoff=60_000),
        AsyncIO(),  # our actors are async and share one event loop thread per worker process
        *([Ticker(tick_seconds)] if with_ticker else []),  # each worker process sends the periodic tick
    ]


def build_broker(settings: Settings, namespace: str = DEFAULT_NAMESPACE, with_ticker: bool = True) -> dramatiq.Broker:
    """Redis when VIGILO_REDIS_URL is set; otherwise the in-process StubBroker of the embedded mode."""
    middleware = _middleware(with_ticker, settings.tick_seconds)
    if settings.redis_url:
        return RedisBroker(url=settings.redis_url, namespace=namespace, middleware=middleware)  # type: ignore[no-untyped-call]
    broker = StubBroker(middleware=middleware)
    broker.emit_after("process_boot")
    return broker


def configure(settings: Settings, namespace: str = DEFAULT_NAMESPACE, with_ticker: bool = True) -> dramatiq.Broker:
    """Make a broker for `settings` the current one and bind every actor to it.

    `with_ticker=False` (tests) leaves out the thread that sends the periodic tick."""
    broker = build_broker(settings, namespace, with_ticker)
    dramatiq.set_broker(broker)
    from app.tasks.registry import bind_actors  # noqa: PLC0415 - actors import the broker, not the other way

    bind_actors(broker)
    return broker
