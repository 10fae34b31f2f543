"""Shift reminders, on plain values: the choices, the text, and the key that makes one per shift."""

from __future__ import annotations

import datetime
import hashlib
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

LEADS = {0: "off", 15: "15 min", 60: "1 h", 1440: "1 day"}  # minutes before the shift → how it is said
CHANNELS = ("slack", "sms")


@dataclass(frozen=True)
class ReminderChoice:
    minutes: int  # 0 = off
    slack: bool
    sms: bool

    @property
    def channels(self) -> list[str]:
        return [c for c, on in (("slack", self.slack), ("sms", self.sms)) if on]


def parse_reminder_choice(
    minutes: object, channels: Sequence[str] | None
) -> tuple[ReminderChoice | None, dict[str, str]]:
    errors: dict[str, str] = {}
    try:
        lead = int(str(minutes).strip()) if not isinstance(minutes, bool) else -1
    except ValueError:
        lead = -1
    if lead not in LEADS:
        errors["reminder_minutes"] = "Choose 0 (off), 15, 60 or 1440 minutes before each shift."
    chosen = [str(c).strip().lower() for c in channels or []]
    unknown = [c for c in chosen if c not in CHANNELS]
    if unknown:
        errors["reminder_channels"] = "Remind by slack, sms or both."
    elif lead and not chosen:
        errors["reminder_channels"] = "Choose Slack, SMS or both to be reminded by (or turn reminders off)."
    if errors:
        return None, errors
    return ReminderChoice(lead, "slack" in chosen, "sms" in chosen), {}


def shift_key(schedule_id: uuid.UUID, user_id: uuid.UUID, start: datetime.datetime) -> str:
    """What a reminder row names: the shift (schedule, person, start), checked again before sending."""
    return f"{schedule_id} {user_id} {start.astimezone(datetime.UTC).isoformat()}"


def parse_shift_key(key: str) -> tuple[uuid.UUID, uuid.UUID, datetime.datetime] | None:
    try:
        schedule, user, start = key.split(" ")
        return uuid.UUID(schedule), uuid.UUID(user), datetime.datetime.fromisoformat(start)
    except ValueError:
        return None


def reminder_id(key: str, channel: str) -> str:
    """The reminder row's unique key: one per shift and channel, so a shift is reminded once on each
    (whatever lead was chosen when)."""
    return "reminder:" + hashlib.sha256(f"{key}|{channel}".encode()).hexdigest()[:48]


def reminder_text(
    schedule_name: str,
    start: datetime.datetime,
    zone: str,
    minutes: int,
    now: datetime.datetime,
    minutes_left: float | None = None,
) -> str:
    """ "Platform — primary starts in 1 h, at 09:00 Europe/Berlin" (the date too when not today). With
    `minutes_left` (a reminder sent at once, the shift having come inside the lead) the time truly left."""
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz, zone = ZoneInfo("UTC"), "UTC"
    local = start.astimezone(tz)
    same_day = local.date() == now.astimezone(tz).date()
    at = local.strftime("%H:%M") if same_day else local.strftime("%a %d %b %H:%M")
    lead = LEADS.get(minutes, f"{minutes} min") if minutes_left is None else _left(minutes_left)
    return f"Vigilo: {schedule_name} starts in {lead}, at {at} {zone}. You are on call then."


def _left(minutes: float) -> str:
    whole = max(1, math.ceil(minutes))
    if whole < 120:
        return f"{whole} min"
    return f"{whole // 60} h" if whole < 48 * 60 else f"{whole // 1440} days"
