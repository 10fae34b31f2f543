"""Acknowledge and decline: one set of rules for Slack reactions, SMS replies and the web.

Pure: plain values in, a decision out. The service locks the incident, asks here, and writes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

# The reactions people click on an incident's Slack post (names without colons, as Slack sends them).
ACK_REACTION, DECLINE_REACTION = "white_check_mark", "x"


class Source(StrEnum):
    SLACK = "slack"
    SMS = "sms"
    VOICE = "voice"
    WEB = "web"
    PAGERDUTY = "pagerduty"

    @property
    def label(self) -> str:
        names = {"slack": "Slack", "sms": "SMS", "voice": "a phone call", "web": "the web", "pagerduty": "PagerDuty"}
        return names[self.value]


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


class Command(StrEnum):
    ACK = "ACK"
    DECLINE = "DECLINE"


class Addressing(StrEnum):
    CODE = "code"  # "4A": the page whose reply code is 4
    INCIDENT = "incident"  # "ACK 42": the pending page of INC-42
    BARE = "bare"  # "ACK": the one pending page


@dataclass(frozen=True)
class SmsCommand:
    verb: Command
    addressing: Addressing
    number: int | None = None  # the reply code or the incident number


_CODE = re.compile(r"^\s*(\d{1,4})\s*([AD])\s*$", re.IGNORECASE)
_WORD = re.compile(r"^\s*(ACK|DECLINE)(?:\s+(?:INC-?)?(\d{1,9}))?\s*$", re.IGNORECASE)


def parse_sms(body: str) -> SmsCommand | None:
    """The reply grammar, matched case-insensitively on the whole message (stray spaces allowed):
    `4A`/`4D` answer the page with reply code 4; `ACK`/`DECLINE` the one pending page; `ACK 42`
    (or `ACK INC-42`) the pending page of incident 42. None for anything else."""
    text = body or ""
    code = _CODE.match(text)
    if code is not None:
        verb = Command.ACK if code.group(2).upper() == "A" else Command.DECLINE
        return SmsCommand(verb, Addressing.CODE, int(code.group(1)))
    word = _WORD.match(text)
    if word is None:
        return None
    verb = Command(word.group(1).upper())
    if word.group(2):
        return SmsCommand(verb, Addressing.INCIDENT, int(word.group(2)))
    return SmsCommand(verb, Addressing.BARE)


def first_free_code(taken: set[int]) -> int:
    """The smallest reply code (1, 2, ...) not held by another pending page of the same person."""
    code = 1
    while code in taken:
        code += 1
    return code


@dataclass(frozen=True)
class PendingReply:
    """One pending page of the person who texted, in any workspace."""

    page_id: uuid.UUID
    code: int | None
    incident_number: int
    workspace: str
    title: str


def choose_page(command: SmsCommand, pending: list[PendingReply]) -> PendingReply | None:
    """The one page a reply acts on, or None when it names none or several (then the sender gets
    the list and nothing changes)."""
    if command.addressing is Addressing.CODE:
        matches = [p for p in pending if p.code == command.number]
    elif command.addressing is Addressing.INCIDENT:
        matches = [p for p in pending if p.incident_number == command.number]
    else:
        matches = pending
    return matches[0] if len(matches) == 1 else None


def pending_list_text(command: SmsCommand | None, pending: list[PendingReply]) -> str:
    """The answer that changes nothing: why, and each pending page with its codes."""
    if not pending:
        return "Vigilo: you have no pending pages, so there is nothing to acknowledge or decline."
    if command is None:
        why = "Vigilo did not understand that reply."
    elif command.addressing is Addressing.CODE:
        why = f"Vigilo: no pending page of yours has code {command.number}."
    elif command.addressing is Addressing.INCIDENT:
        count = sum(1 for p in pending if p.incident_number == command.number)
        why = (
            f"Vigilo: INC-{command.number} is pending in {count} of your workspaces."
            if count
            else f"Vigilo: you have no pending page for INC-{command.number}."
        )
    else:
        why = f"Vigilo: you have {len(pending)} pending pages; say which."
    lines = [
        f"{f'{p.code}A/{p.code}D' if p.code else f'ACK {p.incident_number}'}: "
        f"{p.workspace} INC-{p.incident_number} {p.title[:60]}"
        for p in pending
    ]
    example = next((p.code for p in pending if p.code), None)
    how = reply_instructions(example) if example else "Reply ACK or DECLINE with the incident number."
    return f"{why} " + "; ".join(lines) + f". {how}"


def reply_instructions(code: int) -> str:
    """The line every paging SMS ends with."""
    return f"Reply {code}A to acknowledge, {code}D to decline."


SMS_HELP = "Vigilo pages end with a reply code: answer 4A to acknowledge page 4, 4D to decline it."
