"""Notices after a form post come from the server: flashed into the session, shown once on the next
page (base.html), never read from the URL, so a crafted link cannot put words in our banner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.connection import ASGIConnection
from litestar.plugins.flash import flash
from litestar.response import Redirect


def back_to(
    request: ASGIConnection[Any, Any, Any, Any], url: str, *, notice: str | None = None, error: str | None = None
) -> Redirect:
    """A 303 to `url`, with the notice (or error) to show there once."""
    if notice:
        flash(request, notice, "notice")
    if error:
        flash(request, error, "error")
    return Redirect(url, status_code=303)


def pending_notices(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The flashed notices, each shown once (base.html). Litestar's own `get_flashes` fails on a
    request that has no session yet (the login page of a new visitor); such a request has none."""
    request = context.get("request")
    session = request.scope.get("session") if request is not None else None
    if not isinstance(session, dict):
        return []
    found = session.pop("_messages", [])
    return found if isinstance(found, list) else []
