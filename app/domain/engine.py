"""Whether the paging engine is working, from what the database and Redis say about it: the periodic
tick, the deliveries waiting, the workers seen. Pure: the facts and `now` come in, the troubles go out.

Thresholds (documented in the README):
- the tick is late when its last run is older than 3 ticks (VIGILO_TICK_SECONDS each; VIGILO_ENV=test
  runs no tick, so it is not expected there);
- a delivery is stuck when it has been due for more than 2 minutes and is still pending or retrying;
- with separate worker processes (a Redis broker), none is running when no heartbeat came in the
  last minute; the embedded worker lives in the web process and is covered by the tick.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

TICKS_LATE = 3
DUE_TOO_LONG = datetime.timedelta(minutes=2)
WORKER_SEEN_WITHIN = datetime.timedelta(minutes=1)


@dataclass(frozen=True)
class EngineFacts:
    now: datetime.datetime
    tick_seconds: float
    runs_tick: bool  # False under VIGILO_ENV=test, where tests move time themselves
    separate_workers: bool  # a Redis broker: `vigilo worker` processes run the tick and the sends
    database_ok: bool
    redis_ok: bool | None  # None: no Redis configured (the embedded default)
    last_tick_at: datetime.datetime | None
    oldest_due_at: datetime.datetime | None  # the longest-waiting delivery that is due and not sent
    waiting: int  # deliveries pending or retrying
    unknown_last_hour: int
    workers_seen: int  # heartbeats in the last minute
    last_worker_seen_at: datetime.datetime | None


@dataclass(frozen=True)
class Trouble:
    code: str  # database | redis | tick | deliveries | workers
    text: str  # for people: what is wrong and what it means


def _ago(delta: datetime.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{seconds // 60} minutes"
    return f"{seconds // 3600} hours"


def troubles(facts: EngineFacts) -> list[Trouble]:
    """What is wrong, most fundamental first; empty when the engine is healthy."""
    found: list[Trouble] = []
    if not facts.database_ok:
        return [Trouble("database", "The database does not answer: nothing can be paged or recorded.")]
    if facts.redis_ok is False:
        found.append(Trouble("redis", "Redis does not answer: pages and escalations are waiting to be queued."))
    tick_late = datetime.timedelta(seconds=TICKS_LATE * facts.tick_seconds)
    if facts.separate_workers and (
        facts.last_worker_seen_at is None or facts.now - facts.last_worker_seen_at > WORKER_SEEN_WITHIN
    ):
        since = f"for {_ago(facts.now - facts.last_worker_seen_at)}" if facts.last_worker_seen_at is not None else "yet"
        found.append(Trouble("workers", f"No worker has run {since}: pages and escalations are waiting."))
    elif facts.runs_tick and (facts.last_tick_at is None or facts.now - facts.last_tick_at > tick_late):
        since = f"for {_ago(facts.now - facts.last_tick_at)}" if facts.last_tick_at is not None else "yet"
        found.append(
            Trouble("tick", f"The periodic tick has not run {since}: lost pages and escalations are not swept up.")
        )
    if facts.oldest_due_at is not None and facts.now - facts.oldest_due_at > DUE_TOO_LONG:
        found.append(
            Trouble(
                "deliveries",
                f"A message has waited {_ago(facts.now - facts.oldest_due_at)} to be sent: pages are not going out.",
            )
        )
    return found
