"""The schedule form: its rows of members (add, remove, reorder without JavaScript) and the mapping
from form fields to the schedule definition the service validates."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.routes.forms import apply_row_action, when_field

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_ROWS = 100


@dataclass
class ScheduleForm:
    """What the person typed, kept so an invalid form comes back as it was."""

    name: str = ""
    rotation: str = "weekly"
    timezone: str = "UTC"
    handoff_time: str = "09:00"
    handoff_weekday: str = "0"
    shift_length: str = ""
    shift_unit: str = "hours"
    starts_at: str = ""
    escalation_to: str = ""
    escalation_delay_minutes: str = "15"
    escalation_policy_id: str = ""
    pagerduty_service_id: str = ""  # "Page through PagerDuty": a one-step policy is made and chosen
    members: list[str] = field(default_factory=lambda: ["", "", ""])

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> tuple[ScheduleForm, str]:
        """The form and the row action asked for ("" for Save)."""

        def value(name: str, default: str = "") -> str:
            raw = data.get(name, default)
            text = raw[-1] if isinstance(raw, list) and raw else str(raw or default)
            return text.replace("\x00", "").strip()[:200]

        rows: list[tuple[float, int, str]] = []
        for index in range(MAX_ROWS):
            key = f"member_{index}"
            if key not in data:
                continue
            try:
                order = float(value(f"order_{index}", str(index + 1)))
            except ValueError:
                order = float(index + 1)
            rows.append((order, index, value(key)))
        members = [email for _, _, email in sorted(rows)]
        form = cls(
            name=value("name"),
            rotation=value("rotation", "weekly"),
            timezone=value("timezone", "UTC"),
            handoff_time=value("handoff_time", "09:00"),
            handoff_weekday=value("handoff_weekday", "0"),
            shift_length=value("shift_length"),
            shift_unit=value("shift_unit", "hours"),
            starts_at=when_field({k: value(k) for k in ("starts_at", "starts_at_date", "starts_at_time")}, "starts_at"),
            escalation_to=value("escalation_to"),
            escalation_delay_minutes=value("escalation_delay_minutes", "15"),
            escalation_policy_id=value("escalation_policy_id"),
            pagerduty_service_id=value("pagerduty_service_id"),
            members=members or [""],
        )
        return form, value("action")

    def apply_row_action(self, action: str) -> bool:
        """Add, remove or move a member row; True when the action was a row action (no save)."""
        return apply_row_action(self.members, action, str, MAX_ROWS)

    def definition(self) -> dict[str, Any]:
        """The fields of the schedule definition, as the API takes them."""
        length = self.shift_length or None
        return {
            "name": self.name,
            "rotation": self.rotation,
            "timezone": self.timezone,
            "handoff_time": self.handoff_time,
            "handoff_weekday": self.handoff_weekday if self.rotation == "weekly" else None,
            "shift_hours": length if self.rotation == "custom" and self.shift_unit == "hours" else None,
            "shift_days": length if self.rotation == "custom" and self.shift_unit == "days" else None,
            "starts_at": self._starts_at_iso(),
            "members": [email for email in self.members if email],
            "escalation_to": self.escalation_to or None,
            "escalation_delay_minutes": self.escalation_delay_minutes,
            "escalation_policy_id": self.escalation_policy_id or None,
            "pagerduty_service_id": self.pagerduty_service_id or None,
        }

    def _starts_at_iso(self) -> str | None:
        # The form asks for a local time in the schedule's zone; the rules take an instant.
        if not self.starts_at:
            return None
        try:
            local = datetime.datetime.fromisoformat(self.starts_at)
        except ValueError:
            return self.starts_at  # the rules report it as malformed
        if local.tzinfo is not None:
            return local.isoformat()
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return None  # the zone's own error is reported
        return local.replace(tzinfo=zone).isoformat()

    @classmethod
    def of_schedule(cls, fields: dict[str, Any]) -> ScheduleForm:
        """The edit form of an existing schedule (from `definition_fields`)."""
        hours, days = fields.get("shift_hours"), fields.get("shift_days")
        return cls(
            name=fields["name"],
            rotation=fields["rotation"],
            timezone=fields["timezone"],
            handoff_time=fields["handoff_time"],
            handoff_weekday=str(fields["handoff_weekday"] if fields["handoff_weekday"] is not None else 0),
            shift_length=str(hours or days or ""),
            shift_unit="days" if days else "hours",
            starts_at="",
            escalation_to=fields["escalation_to"] or "",
            escalation_delay_minutes=str(fields["escalation_delay_minutes"]),
            escalation_policy_id=fields.get("escalation_policy_id") or "",
            members=list(fields["members"]) or [""],
        )
