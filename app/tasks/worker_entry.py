"""What `vigilo worker` hands to Dramatiq: configure the Redis broker, then load every actor."""

from __future__ import annotations

from app.config import Settings
from app.tasks import broker, context

_settings = Settings.from_env()
broker.configure(_settings)
context.use_settings(_settings)
