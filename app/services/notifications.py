"""Who hears about an on-call change, what they are told, and the delivery log of each message.

An event becomes one DeliveryLog row per recipient ("pending"); each row is then sent on its own
(app/tasks/notifications.py), so a retry resends only what provably failed. The rows are written in
the transaction of the change itself (DESIGN.md invariant 9): a down Redis or a dead worker delays a
DM, nothing drops it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DeliveryLog, OnCallSchedule, UserProfile
from app.domain import slack_text
from app.domain.overrides import Event
from app.services.deliveries import queue_delivery


@dataclass(frozen=True)
class Message:
    user_id: uuid.UUID
    text: str


def _when(raw: str, zone: str) -> str:
    at = datetime.datetime.fromisoformat(raw)
    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M %Z")


def compose(
    name: str, payload: dict[str, Any], people: dict[uuid.UUID, UserProfile], schedules: dict[uuid.UUID, str]
) -> list[Message]:
    """The DMs an event sends, each in its recipient's own time zone."""

    def person(key: str) -> UserProfile | None:
        raw = payload.get(key)
        return people.get(uuid.UUID(raw)) if raw else None

    def name_of(who: UserProfile | None) -> str:
        return who.display_name if who else "nobody"

    def span(start_key: str, end_key: str, who: UserProfile) -> str:
        return f"{_when(payload[start_key], who.time_zone)} to {_when(payload[end_key], who.time_zone)}"

    actor = person("actor")
    by = f" (changed by {actor.display_name})" if actor else ""
    schedule = schedules.get(uuid.UUID(payload["schedule_id"])) if payload.get("schedule_id") else None
    messages: list[Message] = []
    if name == "oncall.handoff":
        previous, new = person("previous_user"), person("user")
        if new is not None:
            text = f"You take over {schedule} on-call from {name_of(previous)}: {span('at', 'until', new)}{by}."
            messages.append(Message(new.id, text))
        if previous is not None:
            text = f"You handed {schedule} on-call to {name_of(new)}: {span('at', 'until', previous)}{by}."
            messages.append(Message(previous.id, text))
    elif name == "oncall.override":
        previous, new = person("previous_user"), person("user")
        for who in dict.fromkeys(p for p in (previous, new) if p is not None):
            if payload.get("removed"):
                when = span("previous_start", "previous_end", who)
                text = f"Your {schedule} override ({when}) was removed; the rotation covers it again{by}."
            elif who is new:
                text = f"You are on call for {schedule} {span('start', 'end', who)} (an override){by}."
            else:
                text = (
                    f"Your {schedule} slot {span('previous_start', 'previous_end', who)} changed: "
                    f"{name_of(new)} covers {span('start', 'end', who)}{by}."
                )
            messages.append(Message(who.id, text))
    elif name.startswith("oncall.swap_"):
        requester, target = person("requester"), person("target")
        verb = {
            "oncall.swap_requested": "proposed",
            "oncall.swap_accepted": "accepted",
            "oncall.swap_declined": "declined",
            "oncall.swap_void": "void (a slot changed meanwhile)",
        }.get(name, "changed")
        for who in (p for p in (requester, target) if p is not None):
            mine = span("requester_start", "requester_end", who)
            theirs = span("target_start", "target_end", who)
            text = (
                f"Shift swap {verb}: {name_of(requester)} ({mine}) for {name_of(target)} ({theirs}). "
                "See the On-call page."
            )
            messages.append(Message(who.id, text))
    return messages


def _event_key(name: str, payload: dict[str, Any], user_id: uuid.UUID, index: int) -> str:
    """The same message of the same event always gets the same key (the delivery log's unique id)."""
    digest = hashlib.sha256(json.dumps([name, payload, str(user_id), index], sort_keys=True, default=str).encode())
    return "event:" + digest.hexdigest()[:56]


async def add_event_messages(
    db: AsyncSession,
    events: Sequence[Event],
    now: datetime.datetime,
    extra: Mapping[uuid.UUID, str] | None = None,
) -> list[uuid.UUID]:
    """Write each event's messages as pending delivery rows (or "skipped" ones for people without a
    verified Slack id) inside the caller's transaction, the one that made the change; returns the
    rows to send once it commits. `extra` is more to tell a person in their DM (what the change did to
    their shifts): added to their first message of these events."""
    pending: list[uuid.UUID] = []
    remaining = dict(extra or {})
    for event in events:
        pending += await _add_messages(db, event.name, event.payload, now, remaining)
    return pending


async def _add_messages(
    db: AsyncSession, name: str, payload: dict[str, Any], now: datetime.datetime, extra: dict[uuid.UUID, str]
) -> list[uuid.UUID]:
    ids = {
        uuid.UUID(v) for k, v in payload.items() if k in {"actor", "previous_user", "user", "requester", "target"} and v
    }
    people = {u.id: u for u in await db.scalars(select(UserProfile).where(UserProfile.id.in_(ids)))} if ids else {}
    schedule_ids = {uuid.UUID(v) for k, v in payload.items() if k.endswith("schedule_id") and v}
    schedules = (
        {s.id: s.name for s in await db.scalars(select(OnCallSchedule).where(OnCallSchedule.id.in_(schedule_ids)))}
        if schedule_ids
        else {}
    )
    workspace_id = uuid.UUID(payload["workspace_id"]) if payload.get("workspace_id") else None
    messages = [
        Message(m.user_id, f"{m.text}\n{extra.pop(m.user_id)}" if m.user_id in extra else m.text)
        for m in compose(name, payload, people, schedules)
    ]
    # One row per event and person: the same event told twice (a unit of work retried after a cut
    # connection) finds the rows it made before instead of queueing the same DM again.
    keys = [_event_key(name, payload, message.user_id, index) for index, message in enumerate(messages)]
    earlier = {
        row.external_id: row
        for row in await db.scalars(
            select(DeliveryLog).where(
                DeliveryLog.channel == "slack",
                DeliveryLog.direction == "outbound",
                DeliveryLog.external_id.in_(keys),
            )
        )
    }
    pending: list[uuid.UUID] = []
    for message, key in zip(messages, keys, strict=True):
        user = people[message.user_id]
        found = earlier.get(key)
        if found is not None:
            if found.status == "pending":
                pending.append(found.id)
            continue
        row = queue_delivery(
            db,
            workspace_id=workspace_id,
            channel="slack",
            target=user.paging_slack_id,
            text=slack_text.escape(message.text),
            now=now,
            missing=f"{user.display_name} has no verified Slack id ({name})",
        )
        row.external_id = key
        if user.paging_slack_id:
            pending.append(row.id)
    return pending
