"""Headers every response carries: only our own origin may supply scripts, styles and frames.

Installed as an app-level `before_send` hook so it covers everything the app answers: pages,
fragments, the API, webhooks, static files, and error responses (even a 404 for an unknown path).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
BASE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(https: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """The before_send hook; `https` adds Strict-Transport-Security (the public URL is https)."""
    headers = dict(BASE_HEADERS)
    if https:
        headers["Strict-Transport-Security"] = HSTS

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        response_headers = MutableScopeHeaders.from_message(message)
        for name, value in headers.items():
            response_headers[name] = value

    return add_headers
