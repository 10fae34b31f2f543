"""Who an incident pages, and what an escalation deadline decides: pure, `now` passed in.

Step 0 pages the primary; step 1 the backup frozen onto the page when the incident opened.
"""

from __future__ import annotations

import datetime
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

    @property
    def reachable(self) -> bool:
        return bool(self.phone or self.slack_user_id)


@dataclass(frozen=True)
class PageOrder:
    """Page `person` at `step`; `deadline` None means no escalation follows from this page."""

    person: Person
    step: int
    deadline: datetime.datetime | None


@dataclass(frozen=True)
class TriggerPlan:
    pages: tuple[PageOrder, ...]
    timeline: tuple[tuple[str, str], ...]  # (kind, message)
    nobody: bool  # no one could be paged; say so in the channel


def channels(person: Person) -> str:
    ways = [w for w, ok in (("Slack", person.slack_user_id), ("SMS", person.phone)) if ok]
    return " and ".join(ways)


def plan_trigger(
    primary: Person | None,
    no_primary_reason: str | None,
    backup: Person | None,
    delay: datetime.timedelta,
    now: datetime.datetime,
) -> TriggerPlan:
    """Page the primary with an escalation deadline, or go straight to the backup when the primary
    is missing or unreachable; say every decision in plain words."""
    timeline: list[tuple[str, str]] = []
    usable_backup = backup if backup is not None and backup.eligible and backup.reachable else None
    if primary is not None and primary.reachable:
        deadline = now + delay
        timeline.append(("paged", f"Paging {primary.name} (primary) by {channels(primary)}."))
        if usable_backup is not None and usable_backup.id != primary.id:
            timeline.append(
                ("escalation_scheduled", f"Escalates to {usable_backup.name} unless acknowledged by the deadline.")
            )
        else:
            timeline.append(("escalation_scheduled", "No backup to escalate to; the page runs until the deadline."))
        return TriggerPlan((PageOrder(primary, 0, deadline),), tuple(timeline), nobody=False)
    if primary is not None:
        timeline.append(
            (
                "unreachable",
                f"{primary.name} (primary) has no verified phone number or Slack id; paging the backup at once.",
            )
        )
    elif no_primary_reason:
        timeline.append(("no_primary", f"No primary: {no_primary_reason}. Paging the backup at once."))
    if usable_backup is not None:
        timeline.append(("paged", f"Paging {usable_backup.name} (backup) by {channels(usable_backup)}."))
        return TriggerPlan((PageOrder(usable_backup, 1, now + delay),), tuple(timeline), nobody=False)
    why = (
        "no backup is set"
        if backup is None
        else (
            f"{backup.name} (backup) is not an active member who can be paged"
            if not backup.eligible
            else f"{backup.name} (backup) has no verified phone number or Slack id"
        )
    )
    timeline.append(("nobody_paged", f"Nobody could be paged: {why}."))
    return TriggerPlan((), tuple(timeline), nobody=True)


class EscalationAction(StrEnum):
    WAIT = "wait"  # woke up early; sleep until the deadline
    NOTHING = "nothing"  # the page is no longer pending, or the incident moved on
    PAGE_BACKUP = "page_backup"
    CANNOT = "cannot"  # the deadline passed but there is nobody to escalate to
    NOBODY_ACKED = "nobody_acked"  # the backup's own page ran out


@dataclass(frozen=True)
class EscalationDecision:
    action: EscalationAction
    message: str = ""


def decide_escalation(
    page_status: str,
    step: int,
    deadline: datetime.datetime | None,
    incident_status: str,
    primary_id: uuid.UUID | None,
    backup: Person | None,
    now: datetime.datetime,
    declined_by: str | None = None,
) -> EscalationDecision:
    """What to do when a page's escalation wakes up (the actor holds the page's lock), or when the
    person paged declines (`declined_by` says who and which incident: "Alice declined INC-42")."""
    if page_status != "pending":
        return EscalationDecision(EscalationAction.NOTHING, f"the page is already {page_status}")
    if incident_status != "triggered":
        return EscalationDecision(EscalationAction.NOTHING, f"the incident is {incident_status}")
    if deadline is not None and now < deadline:
        return EscalationDecision(EscalationAction.WAIT)
    opener = declined_by or "No acknowledgement"
    if step >= 1:
        if declined_by:
            return EscalationDecision(EscalationAction.NOBODY_ACKED, f"{declined_by}; nobody has claimed it.")
        return EscalationDecision(EscalationAction.NOBODY_ACKED, "Nobody has acknowledged the incident.")
    if backup is None:
        return EscalationDecision(EscalationAction.CANNOT, f"{opener} and no backup to escalate to.")
    if not backup.eligible:
        return EscalationDecision(
            EscalationAction.CANNOT, f"{opener}, and {backup.name} (backup) is no longer an active member."
        )
    if backup.id == primary_id:
        return EscalationDecision(EscalationAction.CANNOT, f"{opener}; {backup.name} is both primary and backup.")
    if not backup.reachable:
        return EscalationDecision(
            EscalationAction.CANNOT,
            f"{opener}, and {backup.name} (backup) has no verified phone number or Slack id.",
        )
    if declined_by:
        return EscalationDecision(EscalationAction.PAGE_BACKUP, f"{declined_by}; paging {backup.name} (backup).")
    return EscalationDecision(
        EscalationAction.PAGE_BACKUP, f"No acknowledgement by the deadline; paging {backup.name} (backup)."
    )


def sms_text(workspace: str, number: int, severity: str, title: str, reply_code: int) -> str:
    """The SMS page, ending with its reply code ("Reply 4A to acknowledge, 4D to decline")."""
    return f"[Vigilo {workspace[:40]}] INC-{number} {severity} {title[:100]}. {reply_instructions(reply_code)}"
