"""What `vigilo worker` hands to Dramatiq: configure the Redis broker, then load every actor.

A stop signal often reaches a worker process twice at once: from whoever stops the process group
(systemd, a deploy, `kill -- -PGID`) and again from Dramatiq's main process, which forwards it.
Dramatiq takes a second SIGTERM as "kill now" (sys.exit in the middle of its orderly stop), which left
worker threads taking messages with the event loop gone. Here a repeat within a second is the same
stop told twice; a later one still kills.
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from app.config import Settings
from app.tasks import broker, context

DUPLICATE_WINDOW_SECONDS = 1.0

_settings = Settings.from_env()
broker.configure(_settings)
context.use_settings(_settings)

_dramatiq_handler: Any = signal.getsignal(signal.SIGTERM)
_first_at: list[float] = []


def _stop_once(signum: int, frame: FrameType | None) -> None:
    now = time.monotonic()
    if _first_at and now - _first_at[0] < DUPLICATE_WINDOW_SECONDS:
        return  # the same stop, told twice
    if not _first_at:
        _first_at.append(now)
    if callable(_dramatiq_handler):
        _dramatiq_handler(signum, frame)


if callable(_dramatiq_handler):
    signal.signal(signal.SIGTERM, _stop_once)
