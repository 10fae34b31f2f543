"""PagerDuty behind a small adapter: Events API v2 events out, a user's email looked up by REST.

PagerDuty's own client (the `pagerduty` package, successor of pdpyras) is used, bent two ways by
subclasses rather than replaced:
- its retries are off: it would sleep and resend on 429 (without limit), 5xx and cut connections,
  inside our worker and outside our policy. Here every answer comes back at once and invariant 8
  decides (429 and 5xx retried by the delivery row with backoff and Retry-After; a timeout is
  "unknown", never resent);
- it refuses a base URL that is not https://. The subclasses take http:// too, which only
  VIGILO_PAGERDUTY_EVENTS_URL / VIGILO_PAGERDUTY_API_URL can give (refused in production), so tests
  reach a fake on 127.0.0.1 through the real client.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from pagerduty import EventsApiV2Client, RestApiV2Client
from pagerduty.errors import Error as PagerDutyError
from pagerduty.errors import HttpError

from app.domain.pagerduty import OutboundEvent
from app.integrations.slack import Outcome, SendResult, retry_after_seconds

DEFAULT_RETRY_AFTER_SECONDS = 5.0
_ANSWER_AT_ONCE = dict.fromkeys((429, 500, 502, 503, 504), 1)
logging.getLogger("pagerduty").setLevel(logging.CRITICAL)  # "exceeded attempts" is moot with retries off


def _get_url(client: Any) -> str:
    return str(client._url)


def _set_url(client: Any, value: str) -> None:
    if not value.startswith(("https://", "http://")):
        raise ValueError("a PagerDuty base URL must be http(s)")
    client._url = value


class _Events(EventsApiV2Client):
    """The Events API v2 client, answering every response at once."""

    max_network_attempts = 0  # a cut connection raises at once; we judge whether it got there
    max_http_attempts = -1  # with every status in `retry` below: the first answer is returned
    url = property(_get_url, _set_url)

    def __init__(self, routing_key: str, base_url: str, timeout: float) -> None:
        super().__init__(routing_key, base_url=base_url)
        self.retry = dict(_ANSWER_AT_ONCE)
        self.timeout = timeout  # type: ignore[assignment]  # httpx takes a float; the package says int


class _Rest(RestApiV2Client):
    max_network_attempts = 0
    max_http_attempts = -1
    url = property(_get_url, _set_url)

    def __init__(self, api_key: str, base_url: str, timeout: float) -> None:
        super().__init__(api_key, base_url=base_url)
        self.retry = dict(_ANSWER_AT_ONCE)
        self.timeout = timeout  # type: ignore[assignment]  # httpx takes a float; the package says int


def _maybe_sent(exc: BaseException) -> bool:
    """Whether the request may have reached PagerDuty: only a refused or timed-out connection proves
    it did not (a read timeout, a reset or a half answer after sending may have)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout):
            return False
        if isinstance(cause, httpx.TransportError):
            return True
        cause = cause.__cause__
    return False


def send_event(events_url: str, routing_key: str, event: OutboundEvent, timeout: float) -> SendResult:
    """Send one event; classify the outcome like every other send (invariant 8)."""
    properties: dict[str, Any] = {}
    if event.payload is not None:
        properties["payload"] = event.payload
    if event.links:
        properties["links"] = list(event.links)
    try:
        with _Events(routing_key, events_url, timeout) as client:
            key = client.send_event(event.action.value, dedup_key=event.dedup_key, **properties)
    except HttpError as exc:
        response = exc.response
        if response is None:
            return SendResult(Outcome.TEMPORARY, "PagerDuty answered without a response")
        status = response.status_code
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"), DEFAULT_RETRY_AFTER_SECONDS)
            return SendResult(Outcome.TEMPORARY, "rate limited (429)", retry_after=wait)
        if status >= 500:
            return SendResult(Outcome.TEMPORARY, f"PagerDuty answered {status}")
        return SendResult(Outcome.PERMANENT, f"PagerDuty refused ({status}): {_reason(response)}")
    except (PagerDutyError, httpx.TransportError) as exc:  # a transport error, raised at once (retries off)
        cause = exc.__cause__ if isinstance(exc, PagerDutyError) and exc.__cause__ is not None else exc
        if _maybe_sent(exc):
            what = "timed out waiting for PagerDuty" if isinstance(cause, httpx.TimeoutException) else None
            return SendResult(Outcome.UNKNOWN, what or f"the connection broke after sending ({type(cause).__name__})")
        return SendResult(Outcome.TEMPORARY, f"could not connect: {type(cause).__name__}")
    return SendResult(Outcome.SENT, ts=str(key)[:64])


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "no reason given"
    if isinstance(body, dict):
        errors = body.get("errors")
        message = body.get("message") or ""
        if isinstance(errors, list) and errors:
            message = f"{message} ({'; '.join(str(e) for e in errors)})".strip()
        return str(message)[:200] or "no reason given"
    return "no reason given"


def user_email(api_url: str, api_key: str, user_id: str, timeout: float) -> str | None:
    """The email of a PagerDuty user (`GET /users/{id}`), or None when it cannot be had."""
    try:
        with _Rest(api_key, api_url, timeout) as client:
            user = client.rget(f"/users/{user_id}")
    except (PagerDutyError, httpx.HTTPError, ValueError):
        return None
    email = user.get("email") if isinstance(user, dict) else None
    return email.strip().lower() if isinstance(email, str) and email.strip() else None
