"""How objects look in the JSON API (DESIGN.md's contract): instants in UTC ISO 8601, ids as UUIDs."""

from __future__ import annotations

import datetime
from typing import Any

from app.db.models import Membership, OnCallSlot, UserProfile
from app.services.incidents import IncidentView
from app.services.schedules import OnCall, ScheduleView


def instant(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.UTC).isoformat() if value is not None else None


def user_view(user: UserProfile | None) -> dict[str, Any] | None:
    """Users appear as {id, email, display_name}."""
    if user is None:
        return None
    return {"id": str(user.id), "email": user.email, "display_name": user.display_name}


def member_view(membership: Membership) -> dict[str, Any]:
    return {"user": user_view(membership.user), "role": membership.role, "is_active": membership.is_active}


def schedule_view(view: ScheduleView) -> dict[str, Any]:
    schedule = view.schedule
    return {
        "id": str(schedule.id),
        "name": schedule.name,
        "rotation": schedule.rotation,
        "timezone": schedule.time_zone,
        "handoff_time": schedule.handoff_time.strftime("%H:%M"),
        "handoff_weekday": schedule.handoff_weekday,
        "shift_hours": schedule.shift_hours,
        "shift_days": schedule.shift_days,
        "starts_at": instant(schedule.rotation_start),
        "members": [user_view(user) for user in view.members],
        "escalation_to": user_view(view.backup),
        "escalation_delay_minutes": schedule.escalation_delay_minutes,
        "is_active": schedule.is_active,
        "horizon_weeks": schedule.horizon_weeks,
        "warnings": [
            f"{user.display_name} is no longer an active member who can hold slots; the rotation skips them."
            for user in view.inactive_members
        ],
    }


def slot_view(slot: OnCallSlot, user: UserProfile) -> dict[str, Any]:
    return {
        "id": str(slot.id),
        "user": user_view(user),
        "start": instant(slot.start_time),
        "end": instant(slot.end_time),
        "is_override": slot.is_override,
    }


def oncall_view(oncall: OnCall) -> dict[str, Any]:
    slot = oncall.slot
    return {
        "schedule": {
            "id": str(oncall.schedule.id),
            "name": oncall.schedule.name,
            "is_active": oncall.schedule.is_active,
        },
        "primary": user_view(oncall.primary),
        "slot": None
        if slot is None
        else {
            "id": str(slot.id),
            "start": instant(slot.start_time),
            "end": instant(slot.end_time),
            "is_override": slot.is_override,
        },
        "escalation_to": user_view(oncall.backup),
    }


def incident_view(view: IncidentView) -> dict[str, Any]:
    incident = view.incident
    return {
        "id": str(incident.id),
        "number": incident.number,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "schedule_id": str(incident.schedule_id) if incident.schedule_id else None,
        "created_at": instant(incident.created_at),
        "responders": [
            {"user": user_view(user), "role": r.role, "source": r.source, "joined_at": instant(r.joined_at)}
            for r, user in view.responders
        ],
        "pages": [
            {
                "id": str(page.id),
                "user": user_view(user),
                "step": page.step,
                "status": page.status,
                "sent_at": instant(page.sent_at),
                "deadline": instant(page.deadline),
            }
            for page, user in view.pages
        ],
        "timeline": [{"at": instant(e.at), "kind": e.kind, "message": e.message} for e in view.timeline],
    }
