"""Who can be paged and what a page says: pure. The chain itself is app/domain/escalation.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from app.domain.acks import reply_instructions


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str
    phone: str | None
    slack_user_id: str | None
    eligible: bool = True  # an active workspace member with role member or above
    time_zone: str = "UTC"  # the person's own, for times in what they are sent
    by_sms: bool = True  # how their verified phone is used: a text, a call, or both
    by_voice: bool = False
    voice_after_minutes: int = 0  # with both: the call comes this long after the text, if nobody acked

    @property
    def reachable(self) -> bool:
        return bool(self.phone or self.slack_user_id)


def channels(person: Person) -> str:
    """ "Slack and SMS", "Slack, SMS and a call (after 5 min)"."""
    call = "a call" + (
        f" (after {person.voice_after_minutes} min)" if person.by_sms and person.voice_after_minutes else ""
    )
    ways = [
        way
        for way, ok in (
            ("Slack", person.slack_user_id),
            ("SMS", person.phone and person.by_sms),
            (call, person.phone and person.by_voice),
        )
        if ok
    ]
    return ", ".join(ways[:-1]) + " and " + ways[-1] if len(ways) > 1 else "".join(ways)


def sms_text(workspace: str, number: int, severity: str, title: str, reply_code: int, where: str = "") -> str:
    """The SMS page: where it stands in the chain ("step 2 of 3; next: Dave Diaz at 03:25"), ending
    with its reply code ("Reply 4A to acknowledge, 4D to decline")."""
    stands = f" ({where})" if where else ""
    return f"[Vigilo {workspace[:40]}] INC-{number} {severity} {title[:100]}{stands}. {reply_instructions(reply_code)}"
