"""Login throttling that nobody can turn on others.

A lock is per (email, address): guessing someone's password from one place locks only that place,
so failures for made-up emails behind a shared proxy, or against one account from elsewhere, never
lock a person out. Per email, a flood from many places only slows each attempt down and never locks.
Pure: counts and times in, a decision out.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

WINDOW = datetime.timedelta(minutes=15)
MAX_FAILURES_PER_PAIR = 10  # per (email, address) in WINDOW: that pair is locked
SLOW_DOWN_AFTER = 100  # per email in WINDOW, from anywhere: each further attempt waits...
SLOW_DOWN = datetime.timedelta(seconds=2)  # ...this long, and is never locked


@dataclass(frozen=True)
class ThrottleDecision:
    locked_for: datetime.timedelta | None  # refuse, saying when to try again
    delay: datetime.timedelta  # wait this long before checking the password


def decide_throttle(
    pair_failures: int,
    oldest_pair_failure: datetime.datetime | None,
    email_failures: int,
    now: datetime.datetime,
) -> ThrottleDecision:
    """What a login attempt meets, given the failures of the last WINDOW."""
    if pair_failures >= MAX_FAILURES_PER_PAIR:
        until = (oldest_pair_failure + WINDOW) if oldest_pair_failure else now + WINDOW
        return ThrottleDecision(max(until - now, datetime.timedelta(seconds=1)), datetime.timedelta(0))
    delay = SLOW_DOWN if email_failures > SLOW_DOWN_AFTER else datetime.timedelta(0)
    return ThrottleDecision(None, delay)
