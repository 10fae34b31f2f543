"""The PagerDuty bridge's rules, on plain values: what an Events API v2 event says, how a v3 webhook
is verified and read.

Outbound, an incident is one PagerDuty alert whose dedup_key is the incident's id, so trigger,
acknowledge and resolve all name the same alert, and PagerDuty's webhooks name our incident back
(`event.data.incident_key`). Inbound, `X-PagerDuty-Signature` holds one or more `v1=<hex>` HMAC-SHA256
signatures of the raw body; any one matching the connection's secret is enough (secret rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Vigilo's severities as PagerDuty's Events API v2 names them.
SEVERITIES = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning", "SEV4": "info"}
MAX_SUMMARY = 1024  # the Events API's limit on payload.summary
TEST_PREFIX = "pd-test:"  # the delivery rows of "Send test event" (external_id)


class Action(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class OutboundEvent:
    """One Events API v2 event, without its routing key (that stays sealed until the send)."""

    action: Action
    dedup_key: str
    payload: dict[str, Any] | None = None
    links: tuple[dict[str, str], ...] = ()
    service_label: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "action": self.action.value,
                "dedup_key": self.dedup_key,
                "payload": self.payload,
                "links": list(self.links),
                "service": self.service_label,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> OutboundEvent:
        data = json.loads(raw)
        return cls(
            Action(data["action"]),
            str(data["dedup_key"]),
            data.get("payload"),
            tuple(data.get("links") or ()),
            str(data.get("service") or ""),
        )

    def describe(self) -> str:
        """ "PagerDuty trigger for Payments (PD)"."""
        return f"PagerDuty {self.action.value} for {self.service_label or 'a service'}"


def trigger_event(
    *,
    incident_id: uuid.UUID,
    number: int,
    title: str,
    severity: str,
    workspace_slug: str,
    link: str,
    details: dict[str, Any],
    service_label: str,
) -> OutboundEvent:
    """The trigger an escalation step sends: summary "INC-42 <title>", source the workspace's slug."""
    summary = f"INC-{number} {title}"[:MAX_SUMMARY]
    payload = {
        "summary": summary,
        "source": workspace_slug,
        "severity": SEVERITIES.get(severity, "error"),
        "component": "vigilo",
        "custom_details": details,
    }
    links = ({"href": link, "text": f"INC-{number} in Vigilo"},)
    return OutboundEvent(Action.TRIGGER, str(incident_id), payload, links, service_label)


def follow_up_event(action: Action, incident_id: uuid.UUID, service_label: str) -> OutboundEvent:
    """An acknowledge or resolve of the alert an incident triggered."""
    return OutboundEvent(action, str(incident_id), None, (), service_label)


def test_events(key: str, workspace_slug: str, service_label: str) -> tuple[OutboundEvent, OutboundEvent]:
    """ "Send test event": a trigger and the resolve that closes it, under a key of their own."""
    payload = {
        "summary": f"Vigilo test event for {service_label} (resolved at once; nothing to do)",
        "source": workspace_slug,
        "severity": "info",
        "component": "vigilo",
    }
    return (
        OutboundEvent(Action.TRIGGER, key, payload, (), service_label),
        OutboundEvent(Action.RESOLVE, key, None, (), service_label),
    )


# ---------------------------------------------------------------- inbound


def sign(secret: str, raw: bytes) -> str:
    """ "v1=<hex>": the signature PagerDuty puts in X-PagerDuty-Signature."""
    return "v1=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def signature_matches(secret: str, raw: bytes, header: str) -> bool:
    """Any of the comma-separated `v1=` signatures matches (compared in constant time)."""
    if not secret or not header:
        return False
    expected = sign(secret, raw)
    found = False
    for part in header.split(","):
        candidate = part.strip()
        if candidate.startswith("v1=") and hmac.compare_digest(candidate.encode(), expected.encode()):
            found = True
    return found


class WebhookKind(StrEnum):
    ACKNOWLEDGED = "incident.acknowledged"
    RESOLVED = "incident.resolved"
    OTHER = "other"


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    kind: WebhookKind
    event_type: str
    incident_key: str | None
    agent_id: str | None
    agent_summary: str
    pd_incident: str  # PagerDuty's own incident number or id, for the timeline

    @property
    def incident_id(self) -> uuid.UUID | None:
        """Our incident's id, when the alert's key is one (test events and other alerts are not)."""
        try:
            return uuid.UUID(self.incident_key or "")
        except ValueError:
            return None


class WebhookShapeError(ValueError):
    """A signed body that is not a v3 webhook; `field` names what is missing."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def read_webhook(body: Any, header_id: str = "") -> WebhookEvent:
    """A v3 webhook's event: {"event": {"id", "event_type", "agent": {...}, "data": {...}}}."""
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise WebhookShapeError("event", "a PagerDuty v3 webhook has an object named event")
    event = body["event"]
    event_id = str(event.get("id") or header_id or "").strip()
    if not event_id:
        raise WebhookShapeError("event.id", "the event has no id")
    event_type = str(event.get("event_type") or "")
    kind = WebhookKind(event_type) if event_type in {k.value for k in WebhookKind} else WebhookKind.OTHER
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    agent = event.get("agent") if isinstance(event.get("agent"), dict) else {}
    key = data.get("incident_key")
    agent_id = agent.get("id")
    number = data.get("number")
    return WebhookEvent(
        id=event_id[:64],
        kind=kind,
        event_type=event_type[:64],
        incident_key=str(key)[:64] if isinstance(key, str) and key else None,
        agent_id=str(agent_id)[:32] if isinstance(agent_id, str) and agent_id else None,
        agent_summary=str(agent.get("summary") or "someone in PagerDuty")[:120],
        pd_incident=f"#{number}" if isinstance(number, int) else str(data.get("id") or "")[:32],
    )
