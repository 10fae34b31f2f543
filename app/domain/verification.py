"""Verifying a contact point: a 6-digit code sent to the phone number or Slack user, typed back.

Pure: times are passed in. The code is never stored anywhere: it is an HMAC of the verification's
id under the secret key, so the sender and the check compute it, and the database, the delivery log
and the logs never hold it.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

CODE_VALID_FOR = datetime.timedelta(minutes=10)
MAX_TRIES = 5
MIN_GAP = datetime.timedelta(minutes=1)  # per value: at most one code a minute...
PER_HOUR = 5  # ...and five an hour
CODE_SLOT = "{code}"  # where the sender puts the code into the queued message text


class ContactKind(StrEnum):
    PHONE = "phone"
    SLACK = "slack"

    @property
    def label(self) -> str:
        return "phone number" if self is ContactKind.PHONE else "Slack identity"


def code_for(secret: str, verification_id: uuid.UUID) -> str:
    """The six digits of one verification (the same for the sender and the check)."""
    digest = hmac.new(secret.encode(), f"contact-code:{verification_id}".encode(), hashlib.sha256).hexdigest()
    return f"{int(digest, 16) % 1_000_000:06d}"


def code_matches(secret: str, verification_id: uuid.UUID, typed: str) -> bool:
    """Whether `typed` (spaces and dashes allowed) is the verification's code; constant-time."""
    digits = re.sub(r"[\s-]", "", typed or "")
    return hmac.compare_digest(digits.encode(), code_for(secret, verification_id).encode())


def next_code_allowed_at(sent_at: list[datetime.datetime], now: datetime.datetime) -> datetime.datetime | None:
    """When another code may go to a value that got codes at `sent_at`; None means now."""
    recent = sorted(t for t in sent_at if t > now - datetime.timedelta(hours=1))
    waits: list[datetime.datetime] = []
    if recent and recent[-1] + MIN_GAP > now:
        waits.append(recent[-1] + MIN_GAP)
    if len(recent) >= PER_HOUR:
        waits.append(recent[-PER_HOUR] + datetime.timedelta(hours=1))
    return max(waits) if waits else None


class CheckOutcome(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"  # a try spent; more remain
    SPENT = "spent"  # the last try was wrong: the code is dead
    EXPIRED = "expired"
    NONE = "none"  # no code was sent (or it was already used)


@dataclass(frozen=True)
class OpenCode:
    id: uuid.UUID
    expires_at: datetime.datetime
    attempts: int


def check_code(secret: str, code: OpenCode | None, typed: str, now: datetime.datetime) -> CheckOutcome:
    """What typing `typed` against the person's latest open code means."""
    if code is None or code.attempts >= MAX_TRIES:
        return CheckOutcome.NONE
    if now >= code.expires_at:
        return CheckOutcome.EXPIRED
    if code_matches(secret, code.id, typed):
        return CheckOutcome.VERIFIED
    return CheckOutcome.SPENT if code.attempts + 1 >= MAX_TRIES else CheckOutcome.WRONG


def verification_text(kind: ContactKind) -> str:
    """The message that carries the code (CODE_SLOT is filled in only as it is sent)."""
    where = "this number" if kind is ContactKind.PHONE else "this Slack account"
    return (
        f"Your Vigilo verification code is {CODE_SLOT}. Type it on your Vigilo profile to receive pages at {where}; "
        "it expires in 10 minutes. If you did not ask for it, ignore this message."
    )
