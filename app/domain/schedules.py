"""What a schedule definition must satisfy, and turning it into a Rotation: pure, no database."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from app.domain.contact import InvalidContact, parse_zone
from app.domain.rotation import Cadence, RotationKind

MIN_DELAY, MAX_DELAY = 1, 1440
MAX_HISTORY = datetime.timedelta(days=366)
MAX_MEMBERS = 100
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ScheduleFieldErrors(Exception):
    """Each invalid field with its message; nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ScheduleDefinition:
    """A schedule as the person asked for it; members and backup are still emails."""

    name: str
    cadence: Cadence
    zone: ZoneInfo
    starts_at: datetime.datetime | None
    members: tuple[str, ...]
    escalation_to: str | None
    escalation_delay_minutes: int


SCHEDULE_FIELDS = (
    "name",
    "rotation",
    "timezone",
    "handoff_time",
    "handoff_weekday",
    "shift_hours",
    "shift_days",
    "starts_at",
    "members",
    "escalation_to",
    "escalation_delay_minutes",
)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_int(value: object, field: str, errors: dict[str, str], low: int, high: int, what: str) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        errors[field] = f"{what} must be a whole number."
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        errors[field] = f"{what} must be a whole number."
        return None
    if not low <= number <= high:
        errors[field] = f"{what} must be between {low} and {high}."
        return None
    return number


# Instants outside these years are typing mistakes, and near year 1 or 9999 date arithmetic overflows.
EARLIEST = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
LATEST = datetime.datetime(2999, 12, 31, tzinfo=datetime.UTC)


def parse_instant(value: object, field: str, errors: dict[str, str]) -> datetime.datetime | None:
    """An ISO 8601 instant with an offset, in UTC; records an error naming `field` otherwise."""
    if _blank(value):
        return None
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        try:
            parsed = datetime.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            errors[field] = "Use an ISO 8601 time with an offset, such as 2026-12-01T09:00:00+01:00."
            return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        errors[field] = "Give the time with its UTC offset, such as 2026-12-01T09:00:00+01:00."
        return None
    try:
        instant = parsed.astimezone(datetime.UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before the first representable instant
        instant = None
    if instant is None or not EARLIEST <= instant <= LATEST:
        errors[field] = f"Give a time between the years {EARLIEST.year} and {LATEST.year}."
        return None
    return instant


def parse_definition(raw: Mapping[str, Any], now: datetime.datetime) -> ScheduleDefinition:
    """Validate every field of a schedule at once (form or API body); ScheduleFieldErrors otherwise.

    A local `starts_at` without an offset is refused rather than guessed; a start more than a year
    back is refused because creating the schedule records that history once.
    """
    errors: dict[str, str] = {}
    name = " ".join(str(raw.get("name") or "").split())
    if not name:
        errors["name"] = "Give the schedule a name."
    elif len(name) > 120:
        errors["name"] = "Keep the name under 120 characters."

    zone: ZoneInfo | None = None
    try:
        zone = parse_zone(str(raw.get("timezone") or ""), field="timezone")
    except InvalidContact as exc:
        errors["timezone"] = exc.message

    kind_raw = str(raw.get("rotation") or "").strip().lower()
    kind: RotationKind | None = None
    try:
        kind = RotationKind(kind_raw)
    except ValueError:
        errors["rotation"] = "Choose daily, weekly or custom."

    handoff: datetime.time | None = None
    match = _HHMM.match(str(raw.get("handoff_time") or "").strip())
    if match is None:
        errors["handoff_time"] = "Use 24-hour HH:MM, such as 09:00."
    else:
        handoff = datetime.time(int(match.group(1)), int(match.group(2)))

    weekday = _as_int(raw.get("handoff_weekday"), "handoff_weekday", errors, 0, 6, "The weekday (Monday = 0)")
    hours = _as_int(raw.get("shift_hours"), "shift_hours", errors, 1, 24 * 28, "The shift length in hours")
    days = _as_int(raw.get("shift_days"), "shift_days", errors, 1, 365, "The shift length in days")
    if kind is RotationKind.WEEKLY and weekday is None and "handoff_weekday" not in errors:
        errors["handoff_weekday"] = "Choose the weekday of the hand-off."
    lengths_parsed = "shift_hours" not in errors and "shift_days" not in errors
    if kind is RotationKind.CUSTOM and lengths_parsed and (hours is None) == (days is None):
        errors["shift_hours"] = "Give the shift length in hours or in days (exactly one)."
    if kind is not RotationKind.WEEKLY:
        weekday = None
    if kind is not RotationKind.CUSTOM:
        hours = days = None

    delay = _as_int(
        raw.get("escalation_delay_minutes"),
        "escalation_delay_minutes",
        errors,
        MIN_DELAY,
        MAX_DELAY,
        "The escalation delay in minutes",
    )
    starts_at = parse_instant(raw.get("starts_at"), "starts_at", errors)
    if starts_at is not None and starts_at < now - MAX_HISTORY:
        errors["starts_at"] = "The start may be at most a year in the past."

    members = _emails(raw.get("members"))
    if not members:
        errors["members"] = "Add at least one person to the rotation."
    elif len(members) > MAX_MEMBERS:
        errors["members"] = f"A rotation holds at most {MAX_MEMBERS} people."
    elif len(set(members)) != len(members):
        errors["members"] = "Each person can be in the rotation once."
    backup_raw = raw.get("escalation_to")
    backup = None if _blank(backup_raw) else str(backup_raw).strip().lower()

    if errors or zone is None or kind is None or handoff is None:
        raise ScheduleFieldErrors(errors)
    cadence = Cadence(kind, handoff, handoff_weekday=weekday, shift_hours=hours, shift_days=days)
    return ScheduleDefinition(
        name=name,
        cadence=cadence,
        zone=zone,
        starts_at=starts_at,
        members=tuple(members),
        escalation_to=backup,
        escalation_delay_minutes=delay if delay is not None else 15,
    )


def _emails(value: object) -> list[str]:
    if isinstance(value, str):
        items: Sequence[object] = [v for v in re.split(r"[\s,]+", value) if v]
    elif isinstance(value, list | tuple):
        items = value
    else:
        return []
    return [str(item).strip().lower() for item in items if not _blank(item)]
