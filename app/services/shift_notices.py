"""Your shifts changed: when a change made by someone else (an admin's edit, a hand-off or give-away,
a swap, a regeneration) adds or takes a future shift of a person, that person is told what changed
for them, once per change, on each channel they chose for reminders (Slack when reminders are off).

The caller takes a `snapshot` of the schedule's future shifts under its lock, makes the change, and
calls `tell` in the same transaction: the messages are delivery rows of that change (invariant 9).
Only the span both snapshots cover is compared, so the horizon growing by a day tells nobody."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OnCallSchedule, UserProfile
from app.domain import slack_text
from app.services.deliveries import queue_delivery
from app.services.shifts import schedule_shifts

MAX_LISTED = 5  # shifts named in one message; more are counted
DASH = "\u2013"  # an en dash between a shift's start and end

Span = tuple[datetime.datetime, datetime.datetime]


@dataclass(frozen=True)
class Snapshot:
    schedule_id: uuid.UUID
    until: datetime.datetime  # the end of what was laid out
    held: dict[uuid.UUID, tuple[Span, ...]] = field(default_factory=dict)  # future time each person covers


async def snapshot(db: AsyncSession, schedule_id: uuid.UUID, now: datetime.datetime) -> Snapshot:
    """The time from now on each person covers (a shift under way counts from now)."""
    held: dict[uuid.UUID, list[Span]] = {}
    until = now
    for shift in await schedule_shifts(db, schedule_id, now):
        if shift.end <= now:
            continue
        held.setdefault(shift.user_id, []).append((max(shift.start, now), shift.end))
        until = max(until, shift.end)
    return Snapshot(schedule_id, until, {user: tuple(sorted(spans)) for user, spans in held.items()})


def without(spans: tuple[Span, ...], removed: tuple[Span, ...]) -> list[Span]:
    """The parts of `spans` that no span of `removed` covers."""
    left: list[Span] = []
    for start, end in spans:
        pieces = [(start, end)]
        for cut_start, cut_end in removed:
            pieces = [
                part
                for lo, hi in pieces
                for part in ((lo, min(hi, cut_start)), (max(lo, cut_end), hi))
                if part[0] < part[1]
            ]
        left += pieces
    return sorted(left)


def _when(span: Span, zone: ZoneInfo) -> str:
    start, end = span[0].astimezone(zone), span[1].astimezone(zone)
    if start.date() != end.date():
        return f"{start:%a %d %b %H:%M}{DASH}{end:%a %d %b %H:%M}"
    return f"{start:%a %d %b %H:%M}{DASH}{end:%H:%M}"


def _listed(spans: list[Span], zone: ZoneInfo) -> str:
    shown = ", ".join(_when(span, zone) for span in spans[:MAX_LISTED])
    more = len(spans) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def notice_text(schedule_name: str, taken: list[Span], added: list[Span], zone: str, by: str | None) -> str:
    """ "Platform: you no longer cover Sat 12 Dec 09:00 to Sun 13 Dec 09:00 (an en dash between); you now
    cover ... (changed by Ada)." """
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    parts = []
    if taken:
        parts.append(f"you no longer cover {_listed(taken, tz)}")
    if added:
        parts.append(f"you now cover {_listed(added, tz)}")
    who = f"changed by {by}" if by else "a regeneration of the rotation"
    return f"Your shifts changed. {schedule_name}: {'; '.join(parts)} ({who}, times {tz.key})."


async def changes_since(
    db: AsyncSession, before: Snapshot, now: datetime.datetime
) -> dict[uuid.UUID, tuple[list[Span], list[Span]]]:
    """Per person, the future time taken from them and given to them since `before` (compared up to
    where both snapshots reach, so the horizon growing is no change)."""
    after = await snapshot(db, before.schedule_id, now)
    window = min(before.until, after.until)

    def upto(spans: tuple[Span, ...]) -> tuple[Span, ...]:
        return tuple((lo, min(hi, window)) for lo, hi in spans if lo < window)

    found: dict[uuid.UUID, tuple[list[Span], list[Span]]] = {}
    for user in set(before.held) | set(after.held):
        old, new = upto(before.held.get(user, ())), upto(after.held.get(user, ()))
        taken, added = without(old, new), without(new, old)
        if taken or added:
            found[user] = (taken, added)
    return found


async def tell(
    db: AsyncSession,
    befores: Sequence[Snapshot],
    now: datetime.datetime,
    actor_id: uuid.UUID | None,
    carried_by_dm: Collection[uuid.UUID] | None = None,
) -> tuple[list[uuid.UUID], dict[uuid.UUID, str]]:
    """Queue each affected person's notice, one per channel for the whole change however many schedules
    it touched (not the actor's own). Returns the rows to send and, for people the change already sends
    an on-call DM, the notice text that DM carries instead of a Slack message of its own
    (`carried_by_dm`: the people who get such a DM)."""
    actor = await db.get(UserProfile, actor_id) if actor_id is not None else None
    texts: dict[uuid.UUID, list[str]] = {}
    workspace_id: uuid.UUID | None = None
    people: dict[uuid.UUID, UserProfile] = {}
    for before in befores:
        changes = await changes_since(db, before, now)
        if actor_id is not None:
            changes.pop(actor_id, None)
        if not changes:
            continue
        schedule = await db.get_one(OnCallSchedule, before.schedule_id)
        workspace_id = schedule.workspace_id
        missing = set(changes) - set(people)
        if missing:
            people.update({u.id: u for u in await db.scalars(select(UserProfile).where(UserProfile.id.in_(missing)))})
        for user_id, (taken, added) in changes.items():
            person = people.get(user_id)
            if person is not None:
                by = actor.display_name if actor else None
                texts.setdefault(user_id, []).append(notice_text(schedule.name, taken, added, person.time_zone, by))
    rows: list[uuid.UUID] = []
    carried: dict[uuid.UUID, str] = {}
    for user_id, parts in texts.items():
        person, text = people[user_id], "\n".join(parts)
        channels = (
            [c for c, on in (("slack", person.reminder_by_slack), ("sms", person.reminder_by_sms)) if on]
            if person.reminder_minutes
            else []
        ) or ["slack"]
        for channel in channels:
            if channel == "slack" and carried_by_dm is not None and user_id in carried_by_dm:
                carried[user_id] = text
                continue
            target = person.paging_slack_id if channel == "slack" else person.paging_phone
            row = queue_delivery(
                db,
                workspace_id=workspace_id,
                channel=channel,
                target=target,
                text=slack_text.escape(text) if channel == "slack" else text,
                now=now,
                missing=f"{person.display_name} has no verified {'Slack id' if channel == 'slack' else 'phone number'}",
            )
            if row.status == "pending":
                rows.append(row.id)
    return rows, carried
