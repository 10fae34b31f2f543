"""How objects look in the JSON API (DESIGN.md's contract): instants in UTC ISO 8601, ids as UUIDs.

Each shape is a TypedDict, so the OpenAPI at /schema describes the bodies the API really sends (and
the schema tests hold every response to it).
"""

from __future__ import annotations

import datetime
import uuid
from typing import TypedDict

from app.db.models import Incident, Membership, OnCallSlot, UserProfile
from app.services.incidents import IncidentRow, IncidentView
from app.services.policies import PolicyView
from app.services.schedules import OnCall, ScheduleView


class UserOut(TypedDict):
    id: str
    email: str
    display_name: str


class MemberOut(TypedDict):
    user: UserOut
    role: str
    is_active: bool


class PolicyRef(TypedDict):
    id: str
    name: str


class ScheduleOut(TypedDict):
    id: str
    name: str
    rotation: str
    timezone: str
    handoff_time: str
    handoff_weekday: int | None
    shift_hours: int | None
    shift_days: int | None
    starts_at: str
    members: list[UserOut]
    escalation_to: UserOut | None
    escalation_delay_minutes: int
    escalation_policy: PolicyRef | None
    is_active: bool
    horizon_weeks: int
    warnings: list[str]


class MeOut(TypedDict):
    user: UserOut
    role: str
    page_by: list[str]  # "sms", "voice"
    voice_after_minutes: int
    reminder_minutes: int  # before each shift: 0 (off), 15, 60 or 1440
    reminder_channels: list[str]  # "slack", "sms"


class SlotOut(TypedDict):
    id: str
    user: UserOut
    start: str
    end: str
    is_override: bool


class ScheduleRef(TypedDict):
    id: str
    name: str
    is_active: bool


class CurrentSlot(TypedDict):
    id: str
    start: str
    end: str
    is_override: bool


class OnCallOut(TypedDict):
    schedule: ScheduleRef
    primary: UserOut | None
    slot: CurrentSlot | None
    escalation_to: UserOut | None


class OnCallOverviewOut(TypedDict):
    at: str
    schedules: list[OnCallOut]


class SlotsWritten(TypedDict):
    slots_written: int


class ResponderOut(TypedDict):
    user: UserOut
    role: str
    source: str
    joined_at: str


class ServiceRef(TypedDict):
    id: str
    label: str


class PageOut(TypedDict):
    id: str
    user: UserOut | None  # null when the page went to a PagerDuty service
    pagerduty_service: ServiceRef | None
    step: int | None  # 0-based; null for a responder added by hand
    round: int | None  # 0-based
    status: str
    sent_at: str | None
    deadline: str | None


class TimelineOut(TypedDict):
    at: str
    kind: str
    message: str


class LinkOut(TypedDict):
    label: str
    url: str


class SourceRef(TypedDict):
    id: str
    name: str


class IncidentSummaryOut(TypedDict):
    id: str
    number: int
    title: str
    severity: str
    status: str
    schedule_id: str | None
    created_at: str
    resolved_at: str | None
    source: SourceRef | None  # the alert source that opened it (null: declared, or the source was deleted)
    group_key: str | None  # its alert group (Alertmanager's groupKey, a generic dedup_key)


class IncidentOut(IncidentSummaryOut):
    escalation_policy: PolicyRef | None
    escalation_due_at: str | None
    links: list[LinkOut]  # where the alerts came from: Alertmanager's page, each alert's source
    responders: list[ResponderOut]
    pages: list[PageOut]
    timeline: list[TimelineOut]


def instant(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat()


def maybe_instant(value: datetime.datetime | None) -> str | None:
    return instant(value) if value is not None else None


def user_view(user: UserProfile) -> UserOut:
    """Users appear as {id, email, display_name}."""
    return {"id": str(user.id), "email": user.email, "display_name": user.display_name}


def maybe_user(user: UserProfile | None) -> UserOut | None:
    return user_view(user) if user is not None else None


def me_view(user: UserProfile, role: str) -> MeOut:
    return {
        "user": user_view(user),
        "role": str(role),
        "page_by": user.page_by,
        "voice_after_minutes": user.voice_after_minutes,
        "reminder_minutes": user.reminder_minutes,
        "reminder_channels": [c for c, on in (("slack", user.reminder_by_slack), ("sms", user.reminder_by_sms)) if on],
    }


def member_view(membership: Membership) -> MemberOut:
    return {"user": user_view(membership.user), "role": membership.role, "is_active": membership.is_active}


def schedule_view(view: ScheduleView) -> ScheduleOut:
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
        "escalation_to": maybe_user(view.backup),
        "escalation_delay_minutes": schedule.escalation_delay_minutes,
        "escalation_policy": {"id": str(view.policy.id), "name": view.policy.name} if view.policy else None,
        "is_active": schedule.is_active,
        "horizon_weeks": schedule.horizon_weeks,
        "warnings": [
            f"{user.display_name} is no longer an active member who can hold slots; the rotation skips them."
            for user in view.inactive_members
        ],
    }


def slot_view(slot: OnCallSlot, user: UserProfile) -> SlotOut:
    return {
        "id": str(slot.id),
        "user": user_view(user),
        "start": instant(slot.start_time),
        "end": instant(slot.end_time),
        "is_override": slot.is_override,
    }


def oncall_view(oncall: OnCall) -> OnCallOut:
    slot = oncall.slot
    return {
        "schedule": {
            "id": str(oncall.schedule.id),
            "name": oncall.schedule.name,
            "is_active": oncall.schedule.is_active,
        },
        "primary": maybe_user(oncall.primary),
        "slot": None
        if slot is None
        else {
            "id": str(slot.id),
            "start": instant(slot.start_time),
            "end": instant(slot.end_time),
            "is_override": slot.is_override,
        },
        "escalation_to": maybe_user(oncall.backup),
    }


def incident_view(view: IncidentView) -> IncidentOut:
    incident = view.incident
    source = (view.source.id, view.source.name) if view.source else None
    return {
        **_incident_head(incident, source, view.alert.group_key if view.alert else None),
        "escalation_policy": {"id": str(view.policy.id), "name": view.policy.name} if view.policy else None,
        "escalation_due_at": maybe_instant(incident.escalation_due_at),
        "links": [{"label": label, "url": url} for label, url in (view.alert.links if view.alert else [])],
        "responders": [
            {"user": user_view(user), "role": r.role, "source": r.source, "joined_at": instant(r.joined_at)}
            for r, user in view.responders
        ],
        "pages": [
            {
                "id": str(page.id),
                "user": maybe_user(user),
                "pagerduty_service": {
                    "id": str(page.pagerduty_service_id),
                    "label": view.services.get(page.pagerduty_service_id, ""),
                }
                if page.pagerduty_service_id
                else None,
                "step": page.step,
                "round": page.round,
                "status": page.status,
                "sent_at": maybe_instant(page.sent_at),
                "deadline": maybe_instant(page.deadline),
            }
            for page, user in view.pages
        ],
        "timeline": [{"at": instant(e.at), "kind": e.kind, "message": e.message} for e in view.timeline],
    }


def _incident_head(
    incident: Incident, source: tuple[uuid.UUID, str | None] | None, group_key: str | None
) -> IncidentSummaryOut:
    return {
        "id": str(incident.id),
        "number": incident.number,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "schedule_id": str(incident.schedule_id) if incident.schedule_id else None,
        "created_at": instant(incident.created_at),
        "resolved_at": maybe_instant(incident.resolved_at),
        "source": {"id": str(source[0]), "name": source[1] or ""} if source else None,
        "group_key": group_key,
    }


def incident_summary(row: IncidentRow) -> IncidentSummaryOut:
    source = (row.source_id, row.source_name) if row.source_id else None
    return _incident_head(row.incident, source, row.group_key)


class PolicyTargetSchedule(TypedDict):
    schedule: PolicyRef


class PolicyTargetUser(TypedDict):
    user: UserOut


class PolicyTargetService(TypedDict):
    pagerduty_service: ServiceRef


class PolicyStepOut(TypedDict):
    delay_minutes: int
    targets: list[PolicyTargetSchedule | PolicyTargetUser | PolicyTargetService]


class PolicyOut(TypedDict):
    id: str
    name: str
    repeat: int
    steps: list[PolicyStepOut]
    used_by: list[str]  # the schedules that page through it


def policy_view(view: PolicyView) -> PolicyOut:
    steps: list[PolicyStepOut] = []
    for step in view.steps:
        targets: list[PolicyTargetSchedule | PolicyTargetUser | PolicyTargetService] = []
        for target in step.targets:
            if target.schedule is not None:
                targets.append({"schedule": {"id": str(target.schedule.id), "name": target.schedule.name}})
            elif target.service is not None:
                targets.append({"pagerduty_service": {"id": str(target.service.id), "label": target.service.label}})
            elif target.user is not None:
                targets.append({"user": user_view(target.user)})
        steps.append({"delay_minutes": step.delay_minutes, "targets": targets})
    return {
        "id": str(view.policy.id),
        "name": view.policy.name,
        "repeat": view.policy.repeat,
        "steps": steps,
        "used_by": list(view.used_by),
    }
