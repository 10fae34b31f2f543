"""One-off changes to who covers what: slot edits (overrides), hand-offs, swaps.

Pure decisions on plain values: each function checks the rules and returns the overrides to
remove, shorten and add, plus the events to announce. The service applies them under the
schedule's lock and lays the rotation around the result (DESIGN.md invariant 2).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class EditRefused(Exception):
    """The change breaks a rule. `status` is 422 (bad request), 409 (conflicts with another override)
    or 403 (the caller may not change that time)."""

    def __init__(self, field_name: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SlotState:
    id: uuid.UUID
    user: uuid.UUID
    start: datetime.datetime
    end: datetime.datetime
    is_override: bool


@dataclass(frozen=True)
class NewOverride:
    user: uuid.UUID
    start: datetime.datetime
    end: datetime.datetime


@dataclass(frozen=True)
class Event:
    """Something people should hear about; `payload` holds ids and ISO times only."""

    name: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class OverridePlan:
    remove: tuple[uuid.UUID, ...] = ()
    shorten: tuple[tuple[uuid.UUID, datetime.datetime], ...] = ()  # (override id, new end)
    add: tuple[NewOverride, ...] = ()
    events: tuple[Event, ...] = ()
    relay_from: datetime.datetime | None = None  # where the rotation must be laid again
    touched: tuple[uuid.UUID, ...] = field(default=())  # people whose time changed


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat()


def _utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%a %d %b %H:%M UTC")


def check_member_change(
    slot: SlotState,
    actor: uuid.UUID,
    may_override: bool,
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
) -> None:
    """Invariant 12: a role member changes only time they hold. Within a slot of their own they may
    shorten it, give part or all of it away, or hand it off; they never start it earlier, end it later
    or touch anyone else's time. Admins and owners (`may_override`) may change any range. The dialog,
    the full page and the API all ask here; a refusal is a 403 that says why."""
    if may_override:
        return
    if slot.user != actor:
        raise EditRefused("slot", "Role members can only change slots they hold; ask an admin for others.", 403)
    if start is not None and start < slot.start:
        raise EditRefused(
            "start",
            f"You can only change time you hold: your slot starts {_utc(slot.start)}, and earlier time is "
            "someone else's. Ask an admin to change more.",
            403,
        )
    if end is not None and end > slot.end:
        raise EditRefused(
            "end",
            f"You can only change time you hold: your slot ends {_utc(slot.end)}, and later time is "
            "someone else's. Ask an admin to change more.",
            403,
        )


def _refuse_history(slot: SlotState, now: datetime.datetime) -> None:
    if slot.end <= now:
        raise EditRefused("slot", "That slot has ended; history cannot be changed.")


def _check_overlaps(
    start: datetime.datetime, end: datetime.datetime, overrides: Sequence[SlotState], ignore: set[uuid.UUID]
) -> None:
    for other in overrides:
        if other.id in ignore:
            continue
        if other.start < end and start < other.end:
            raise EditRefused(
                "start",
                f"It would overlap another override ({_iso(other.start)} to {_iso(other.end)}, id {other.id}).",
                status=409,
            )


def plan_slot_edit(
    slot: SlotState,
    user: uuid.UUID,
    start: datetime.datetime,
    end: datetime.datetime,
    overrides: Sequence[SlotState],
    now: datetime.datetime,
) -> OverridePlan:
    """Make [start, end) an override for `user` in place of `slot`.

    The part of the slot already past stays as it was: a slot that is running now is changed from
    now on. Editing an override replaces it, so time it no longer covers goes back to the rotation.
    """
    _refuse_history(slot, now)
    if start == slot.start and slot.start < now:
        start = now  # "from its start" on a running slot means from now: the past is history
    if start < now:
        raise EditRefused("start", "The new start is in the past; slots can only change from now on.")
    if end <= start:
        raise EditRefused("end", "The end must come after the start.")
    _check_overlaps(start, end, overrides, ignore={slot.id})
    if user == slot.user and start == max(slot.start, now) and end == slot.end and slot.is_override:
        return OverridePlan()  # nothing changes
    remove: tuple[uuid.UUID, ...] = ()
    shorten: tuple[tuple[uuid.UUID, datetime.datetime], ...] = ()
    if slot.is_override:
        if slot.start < now:
            shorten = ((slot.id, now),)  # keep the part already served
        else:
            remove = (slot.id,)
    touched = tuple(dict.fromkeys([slot.user, user]))
    event = Event(
        "oncall.override",
        {
            "slot_id": str(slot.id),
            "previous_user": str(slot.user),
            "previous_start": _iso(slot.start),
            "previous_end": _iso(slot.end),
            "user": str(user),
            "start": _iso(start),
            "end": _iso(end),
        },
    )
    return OverridePlan(
        remove=remove,
        shorten=shorten,
        add=(NewOverride(user, start, end),),
        events=(event,),
        relay_from=min(max(slot.start, now), start),
        touched=touched,
    )


def plan_override_removal(override: SlotState, now: datetime.datetime) -> OverridePlan:
    """Remove an override; the rotation covers its time again (what has passed stays as it was)."""
    if not override.is_override:
        raise EditRefused("slot", "Only overrides can be removed; rotation slots follow the schedule.")
    _refuse_history(override, now)
    running = override.start < now
    event = Event(
        "oncall.override",
        {
            "slot_id": str(override.id),
            "previous_user": str(override.user),
            "previous_start": _iso(override.start),
            "previous_end": _iso(override.end),
            "removed": True,
        },
    )
    return OverridePlan(
        remove=() if running else (override.id,),
        shorten=((override.id, now),) if running else (),
        events=(event,),
        relay_from=max(override.start, now),
        touched=(override.user,),
    )


def plan_handoff(
    covering: SlotState | None,
    to_user: uuid.UUID,
    at: datetime.datetime,
    overrides: Sequence[SlotState],
    now: datetime.datetime,
) -> OverridePlan:
    """Hand the slot covering `at` to `to_user` from `at` to that slot's end.

    The slot is end-stamped at `at`; the new owner holds an override until the slot's end, where
    the rotation resumes.
    """
    if at < now:
        raise EditRefused("at", "A hand-off cannot start in the past.")
    if covering is None:
        raise EditRefused("at", "No slot covers that time, so there is nothing to hand off.")
    if covering.user == to_user:
        raise EditRefused("to", "That person already holds the slot.")
    others = [o for o in overrides if o.id != covering.id]
    _check_overlaps(at, covering.end, others, ignore=set())
    remove: tuple[uuid.UUID, ...] = ()
    shorten: tuple[tuple[uuid.UUID, datetime.datetime], ...] = ()
    if covering.is_override:
        if covering.start < at:
            shorten = ((covering.id, at),)
        else:
            remove = (covering.id,)
    event = Event(
        "oncall.handoff",
        {
            "slot_id": str(covering.id),
            "previous_user": str(covering.user),
            "user": str(to_user),
            "at": _iso(at),
            "until": _iso(covering.end),
        },
    )
    return OverridePlan(
        remove=remove,
        shorten=shorten,
        add=(NewOverride(to_user, at, covering.end),),
        events=(event,),
        relay_from=at,
        touched=(covering.user, to_user),
    )


def check_swap_slots(mine: SlotState, theirs: SlotState, requester: uuid.UUID, now: datetime.datetime) -> None:
    """A swap trades two future slots of two different people; the requester holds the first."""
    if mine.user != requester:
        raise EditRefused("slot", "You can only offer a slot of your own.")
    if theirs.user == requester:
        raise EditRefused("their_slot", "Pick a slot held by someone else.")
    for name, slot in (("slot", mine), ("their_slot", theirs)):
        if slot.start <= now:
            raise EditRefused(name, "Only slots that have not started yet can be swapped.")


def plan_swap(
    mine: SlotState, theirs: SlotState, overrides: Sequence[SlotState], now: datetime.datetime
) -> tuple[OverridePlan, OverridePlan]:
    """Both halves of an accepted swap: each person takes the other's slot as an override."""
    for slot in (mine, theirs):
        if slot.start <= now:
            raise EditRefused("swap", "The swap has expired: one of its slots has started.", status=409)
    ignore = {mine.id, theirs.id}
    _check_overlaps(mine.start, mine.end, overrides, ignore)
    _check_overlaps(theirs.start, theirs.end, overrides, ignore)
    halves = []
    for give, to in ((mine, theirs.user), (theirs, mine.user)):
        halves.append(
            OverridePlan(
                remove=(give.id,) if give.is_override else (),
                add=(NewOverride(to, give.start, give.end),),
                relay_from=give.start,
                touched=(give.user, to),
            )
        )
    return halves[0], halves[1]
