"""Jinja filters for times as people read them: in their zone, and relative to now."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar.plugins.jinja import JinjaTemplateEngine

from app.routes.notices import pending_notices


def local(at: datetime.datetime | None, zone: ZoneInfo | str, fmt: str = "%a %d %b %H:%M") -> str:
    """`at` in `zone`, e.g. "Mon 30 Nov 09:00"."""
    if at is None:
        return "—"
    return at.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone).strftime(fmt)


def relative(at: datetime.datetime | None, now: datetime.datetime) -> str:
    """ "in 3 h", "in 12 min", "in 2 d", or "5 min ago"."""
    if at is None:
        return ""
    seconds = (at - now).total_seconds()
    past = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = "less than a minute"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 48 * 3600:
        text = f"{int(seconds // 3600)} h"
    else:
        text = f"{int(seconds // 86400)} d"
    return f"{text} ago" if past else f"in {text}"


def relative_until(at: datetime.datetime, now: datetime.datetime) -> datetime.datetime:
    """The next moment `relative(at, …)` of a future `at` reads differently ("in 3 h" → "in 2 h")."""
    seconds = (at - now).total_seconds()
    if seconds < 60:
        return at  # "in less than a minute" until it passes
    unit = 60 if seconds < 3600 else 3600 if seconds < 48 * 3600 else 86400
    return at - datetime.timedelta(seconds=unit * (seconds // unit))


def install_filters(engine: JinjaTemplateEngine) -> None:
    filters: dict[str, Any] = {"local": local, "relative": relative}
    engine.engine.filters.update(filters)
    engine.register_template_callable("pending_notices", pending_notices)
