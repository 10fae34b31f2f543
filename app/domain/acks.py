"""Acknowledge and decline: one set of rules for Slack reactions, SMS replies and the web.

Pure: plain values in, a decision out. The service locks the incident, asks here, and writes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum


class Source(StrEnum):
    SLACK = "slack"
    SMS = "sms"
    WEB = "web"

    @property
    def label(self) -> str:
        return {"slack": "Slack", "sms": "SMS", "web": "the web"}[self.value]


class AckOutcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"  # the first claim: the incident is now acknowledged
    JOINED = "joined"  # already acknowledged by someone else; another responder joins
    ALREADY = "already"  # this person already responds; nothing changes
    RESOLVED = "resolved"  # too late: nothing changes
    NOT_ALLOWED = "not_allowed"  # not an active member with role member or above


def decide_ack(incident_status: str, responders: set[uuid.UUID], user_id: uuid.UUID, eligible: bool) -> AckOutcome:
    """Any active member with role member or above may claim an incident, even after escalation;
    one responder row per person."""
    if not eligible:
        return AckOutcome.NOT_ALLOWED
    if incident_status == "resolved":
        return AckOutcome.RESOLVED
    if user_id in responders:
        return AckOutcome.ALREADY
    if incident_status == "triggered":
        return AckOutcome.ACKNOWLEDGED
    return AckOutcome.JOINED


@dataclass(frozen=True)
class PendingPage:
    id: uuid.UUID
    user_id: uuid.UUID | None
    step: int


class DeclineOutcome(StrEnum):
    PAGE_BACKUP = "page_backup"  # the primary declined: page the backup at once
    NOBODY_CLAIMED = "nobody_claimed"  # the backup declined: say nobody has claimed it
    IGNORED = "ignored"  # only the person whose page is pending can decline


def decide_decline(pending: list[PendingPage], user_id: uuid.UUID) -> tuple[DeclineOutcome, PendingPage | None]:
    """A decline counts only from the person whose page is pending."""
    mine = next((p for p in pending if p.user_id == user_id), None)
    if mine is None:
        return DeclineOutcome.IGNORED, None
    return (DeclineOutcome.PAGE_BACKUP if mine.step == 0 else DeclineOutcome.NOBODY_CLAIMED), mine


class Command(StrEnum):
    ACK = "ACK"
    DECLINE = "DECLINE"


_SMS = re.compile(r"^\s*(ACK|DECLINE)(?:\s+(?:INC-?)?(\d{1,9}))?\s*$", re.IGNORECASE)


def parse_sms(body: str) -> tuple[Command, int | None] | None:
    """ACK, ACK 42, DECLINE, DECLINE 42 in any case with stray spaces (INC-42 also reads); None otherwise."""
    match = _SMS.match(body or "")
    if match is None:
        return None
    number = int(match.group(2)) if match.group(2) else None
    return Command(match.group(1).upper()), number


SMS_HELP = "Vigilo: reply ACK 42 to acknowledge INC-42, or DECLINE 42 to pass it to the backup."
