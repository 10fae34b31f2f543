"""URLs whose path is a secret (a calendar feed's token, a webhook's or a heartbeat ping's token) are
never written to a log whole: the access log and error messages show them redacted."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"(/calendar/|/integrations/pagerduty/|/integrations/alerts/|/integrations/heartbeats/)[^/\s?\"]+")


def redact(text: str) -> str:
    """ "/calendar/abc.ics" → "/calendar/…"."""
    return _SECRET.sub(r"\1…", text)


class RedactSecretPaths(logging.Filter):
    """For uvicorn's access log (its record's args hold the request line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    """Once per process (create_app calls it): uvicorn has configured its loggers by then."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecretPaths) for f in access.filters):
        access.addFilter(RedactSecretPaths())
