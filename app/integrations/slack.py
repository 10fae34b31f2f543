"""Slack behind a small adapter: send a DM or a channel message, and say how a failure should be treated.

Invariant 8: a message is resent only when its send provably failed (connection refused, 429,
5xx). A timeout means Slack may have it already, so it is "unknown" and never resent.
"""

from __future__ import annotations

import logging
import math
import socket
import urllib.error
from dataclasses import dataclass
from enum import StrEnum

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.config import Settings

_BOT_IDS: dict[str, str | None] = {}
# slack-sdk logs whole request bodies at DEBUG (verification codes, page texts); its own logger,
# held at INFO, keeps them out of the logs whatever level the root logger is at.
_SDK_LOGGER = logging.getLogger("app.integrations.slack.sdk")
_SDK_LOGGER.setLevel(logging.INFO)


class Outcome(StrEnum):
    SENT = "sent"
    TEMPORARY = "temporary"  # provably not delivered; retry later
    PERMANENT = "failed"  # will not work however often we try
    UNKNOWN = "unknown"  # may or may not have arrived; never resend


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    error: str | None = None
    retry_after: float | None = None
    channel: str | None = None
    ts: str | None = None


def retry_after_seconds(raw: object, default: float = 1.0) -> float:
    """A Retry-After header as seconds in [1, 60]; a date, a negative or a garbled value gets `default`."""
    try:
        seconds = float(str(raw))
    except (TypeError, ValueError):
        return default
    return min(max(seconds, 1.0), 60.0) if math.isfinite(seconds) else default


class SlackAdapter:
    """slack-sdk's WebClient, pointed at VIGILO_SLACK_API_URL when set (tests use a local fake)."""

    def __init__(self, settings: Settings) -> None:
        self.configured = bool(settings.slack_bot_token)
        self._client = WebClient(
            token=settings.slack_bot_token,
            timeout=settings.send_timeout_seconds,  # type: ignore[arg-type]  # urllib takes a float
            base_url=settings.slack_api_url or WebClient.BASE_URL,
            retry_handlers=[],  # its connection-error retry could post twice; our own policy decides
            logger=_SDK_LOGGER,
        )

    def direct_message(self, slack_user_id: str, text: str) -> SendResult:
        """Open (or reuse) the DM with the person, then post `text` there."""
        opened = self._call(lambda: self._client.conversations_open(users=[slack_user_id]))
        if opened.outcome is not Outcome.SENT or opened.channel is None:
            # Opening a DM changes nothing visible, so even a timeout there is safe to retry.
            return opened if opened.outcome is not Outcome.UNKNOWN else SendResult(Outcome.TEMPORARY, opened.error)
        return self.post(opened.channel, text)

    def post(self, channel: str, text: str, thread_ts: str | None = None) -> SendResult:
        return self._call(lambda: self._client.chat_postMessage(channel=channel, text=text, thread_ts=thread_ts))

    def add_reaction(self, channel: str, ts: str, name: str) -> SendResult:
        """React to a message (the ack and decline buttons of an incident post)."""
        result = self._call(lambda: self._client.reactions_add(channel=channel, timestamp=ts, name=name))
        if result.outcome is Outcome.PERMANENT and result.error and "already_reacted" in result.error:
            return SendResult(Outcome.SENT)
        return result

    def lookup_by_email(self, email: str) -> tuple[str | None, str | None]:
        """(Slack user id, None) of the Slack account with this email, or (None, why not). Finding
        someone is not verifying them: the caller still sends them a code."""
        if not self.configured:
            return None, "Slack is not configured on this installation."
        try:
            response = self._client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if exc.response.get("error") == "users_not_found":
                return None, f"Slack has no account with {email}; enter your Slack member id instead."
            return None, f"Slack refused the lookup ({exc.response.get('error', exc.response.status_code)})."
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            return None, "Slack could not be reached; try again, or enter your Slack member id."
        user = response.get("user")
        found = user.get("id") if isinstance(user, dict) else None
        return (found, None) if isinstance(found, str) else (None, "Slack answered without a user id.")

    def bot_user_id(self) -> str | None:
        """The bot's own Slack user id (auth.test), so its own reactions can be ignored; cached."""
        token = self._client.token or ""
        if token not in _BOT_IDS:
            try:
                _BOT_IDS[token] = self._client.auth_test().get("user_id")
            except (SlackApiError, urllib.error.URLError, TimeoutError, ConnectionError):
                return None
        return _BOT_IDS[token]

    def _call(self, call: object) -> SendResult:
        if not self.configured:
            return SendResult(Outcome.PERMANENT, "Slack is not configured (VIGILO_SLACK_BOT_TOKEN is unset)")
        try:
            response = call()  # type: ignore[operator]
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                retry_after = retry_after_seconds(exc.response.headers.get("Retry-After"))
                return SendResult(Outcome.TEMPORARY, "rate limited (429)", retry_after=retry_after)
            if status >= 500:
                return SendResult(Outcome.TEMPORARY, f"Slack answered {status}")
            return SendResult(Outcome.PERMANENT, f"Slack refused: {exc.response.get('error', status)}")
        except TimeoutError as exc:
            return SendResult(Outcome.UNKNOWN, f"timed out: {exc}")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                return SendResult(Outcome.UNKNOWN, f"timed out: {exc.reason}")
            # Refused or unreachable: the request never got there.
            return SendResult(Outcome.TEMPORARY, f"could not connect: {exc.reason}")
        except ConnectionError as exc:
            return SendResult(Outcome.TEMPORARY, f"could not connect: {exc}")
        channel = response.get("channel")
        channel_id = channel.get("id") if isinstance(channel, dict) else channel
        return SendResult(Outcome.SENT, channel=channel_id, ts=response.get("ts"))
