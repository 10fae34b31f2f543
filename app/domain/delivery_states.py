"""What a person is told about one outbound message, from its delivery row: never more than is known.

A provider's "yes" is only acceptance (Twilio queued the SMS); delivery is known from Twilio's status
callback. A page reached nobody when none of its messages was accepted or delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tone(StrEnum):
    OK = "ok"
    WAITING = "waiting"
    BAD = "bad"


@dataclass(frozen=True)
class DeliveryState:
    label: str  # "delivered", "accepted by Twilio", "waiting", "failed: …"
    tone: Tone

    @property
    def reached(self) -> bool:
        """Accepted or delivered: as far as we know, it reached the person or is on its way."""
        return self.tone is Tone.OK


CHANNEL_NAMES = {"sms": "SMS", "slack_post": "Slack", "slack": "Slack DM", "voice": "Call", "pagerduty": "PagerDuty"}


def delivery_state(channel: str, status: str, provider_status: str | None, error: str | None) -> DeliveryState:
    """The honest state of one message."""
    if status in {"pending", "sending", "retrying"}:
        return DeliveryState("waiting" if status != "retrying" else "waiting to retry", Tone.WAITING)
    if status == "sent" and channel == "voice":
        return _call_state(provider_status, error)
    if status == "sent":
        if provider_status == "delivered":
            return DeliveryState("delivered", Tone.OK)
        if provider_status in {"undelivered", "failed"}:
            return DeliveryState(f"not delivered ({error or provider_status})", Tone.BAD)
        if channel == "sms":
            return DeliveryState("accepted by Twilio", Tone.OK)
        if channel == "pagerduty":
            return DeliveryState("accepted by PagerDuty", Tone.OK)
        return DeliveryState("posted", Tone.OK)
    if status == "unknown":
        lost = "may not have been placed" if channel == "voice" else "may not have arrived"
        return DeliveryState(f"unknown: {lost}", Tone.BAD)
    if status == "skipped":
        return DeliveryState(f"not sent: {error or 'no address'}", Tone.BAD)
    return DeliveryState(f"failed: {error or 'no reason given'}", Tone.BAD)


_CALL_STATES = {
    None: DeliveryState("placed by Twilio", Tone.OK),
    "queued": DeliveryState("placed by Twilio", Tone.OK),
    "initiated": DeliveryState("dialling", Tone.OK),
    "ringing": DeliveryState("ringing", Tone.OK),
    "in-progress": DeliveryState("answered", Tone.OK),
    "completed": DeliveryState("answered", Tone.OK),
    "busy": DeliveryState("busy", Tone.BAD),
    "no-answer": DeliveryState("no answer", Tone.BAD),
    "canceled": DeliveryState("cancelled", Tone.BAD),
}


def _call_state(provider_status: str | None, error: str | None) -> DeliveryState:
    """A call Twilio placed: what its status callback said last."""
    if provider_status == "completed" and error == "Twilio: voicemail answered":
        return DeliveryState("voicemail answered", Tone.BAD)
    known = _CALL_STATES.get(provider_status)
    return known if known is not None else DeliveryState(f"failed ({error or provider_status})", Tone.BAD)


def nobody_reached(states: list[DeliveryState]) -> bool:
    """True when messages were tried and every one of them is known to have failed to reach anyone."""
    return bool(states) and all(s.tone is Tone.BAD for s in states)
