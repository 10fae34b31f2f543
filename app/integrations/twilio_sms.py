"""Twilio SMS and voice calls behind a small adapter, classifying failures like the Slack one
(invariant 8): only a provable failure is retried; a timeout is "unknown", never a second call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from app.config import Settings
from app.integrations.slack import Outcome, SendResult, retry_after_seconds

DEFAULT_RETRY_AFTER_SECONDS = 5.0
STATUS_PATH = "/integrations/twilio_status/"
VOICE_STATUS_PATH = "/integrations/twilio_voice/status"
VOICE_ANSWER_PATH = "/integrations/twilio_voice/answer/"  # + the delivery row of the call


class _RetryAfterClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    """twilio's HTTP client, keeping the last answer's Retry-After (its exception drops the headers)."""

    retry_after: float | None = None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.retry_after = None
        response = super().request(*args, **kwargs)
        raw = (response.headers or {}).get("Retry-After")
        self.retry_after = retry_after_seconds(raw, DEFAULT_RETRY_AFTER_SECONDS) if raw is not None else None
        return response


class SmsAdapter:
    """The real twilio client, pointed at VIGILO_TWILIO_API_URL when set (tests use a local fake)."""

    def __init__(self, settings: Settings) -> None:
        self.configured = bool(
            settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number
        )
        self._from = settings.twilio_from_number or ""
        # Twilio posts what became of each message here (signed; app/routes/webhooks.py).
        self._status_callback = settings.public_url + STATUS_PATH
        self._voice_status_callback = settings.public_url + VOICE_STATUS_PATH
        self._http = _RetryAfterClient(timeout=settings.send_timeout_seconds)
        self._client = Client(
            settings.twilio_account_sid or "AC-unset", settings.twilio_auth_token or "unset", http_client=self._http
        )
        if settings.twilio_api_url:
            self._client.api.base_url = settings.twilio_api_url.rstrip("/")

    def send(self, to: str, body: str) -> SendResult:
        return self._create(
            lambda: self._client.messages.create(
                to=to, from_=self._from, body=body, status_callback=self._status_callback
            )
        )

    def call(self, to: str, sentences: tuple[str, ...], answer_url: str) -> SendResult:
        """Place a call that says `sentences` twice (a one-second pause after each) and gathers one key,
        posted to `answer_url` (also with no key). Twilio's machine detection says when voicemail
        answered; its status callback says what became of the call."""
        twiml = VoiceResponse()
        gather = Gather(num_digits=1, action=answer_url, method="POST", timeout=8, action_on_empty_result=True)
        for _ in range(2):
            for sentence in sentences:
                gather.say(sentence)
                gather.pause(length=1)
        twiml.append(gather)
        return self._create(
            lambda: self._client.calls.create(
                to=to,
                from_=self._from,
                twiml=str(twiml),
                status_callback=self._voice_status_callback,
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                machine_detection="Enable",
            )
        )

    def _create(self, create: Callable[[], Any]) -> SendResult:
        """Ask Twilio to create a message or a call, classifying what went wrong (invariant 8)."""
        if not self.configured:
            return SendResult(Outcome.PERMANENT, "Twilio is not configured (VIGILO_TWILIO_* settings are unset)")
        try:
            created = create()
        except TwilioRestException as exc:
            if exc.status == 429:
                wait = self._http.retry_after or DEFAULT_RETRY_AFTER_SECONDS
                return SendResult(Outcome.TEMPORARY, "rate limited (429)", retry_after=wait)
            if exc.status >= 500:
                return SendResult(Outcome.TEMPORARY, f"Twilio answered {exc.status}")
            return SendResult(Outcome.PERMANENT, f"Twilio refused ({exc.status}): {exc.msg}")
        except requests.exceptions.ConnectTimeout as exc:
            return SendResult(Outcome.TEMPORARY, f"could not connect: {exc}")  # never reached Twilio
        except requests.exceptions.Timeout as exc:
            return SendResult(Outcome.UNKNOWN, f"timed out: {exc}")
        except requests.exceptions.ConnectionError as exc:
            return SendResult(Outcome.TEMPORARY, f"could not connect: {exc}")
        return SendResult(Outcome.SENT, ts=created.sid)
