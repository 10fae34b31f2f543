"""The PagerDuty bridge's pure rules: sealed secrets, v3 webhook signatures and bodies, the trigger
event an escalation step sends."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest

from app.domain.pagerduty import (
    MAX_SUMMARY,
    SEVERITIES,
    Action,
    OutboundEvent,
    WebhookKind,
    WebhookShapeError,
    read_webhook,
    sign,
    signature_matches,
    trigger_event,
)
from app.services.sealed import hint, seal, unseal

KEY = "test-secret-key-that-is-long-enough-0123456789"
OTHER_KEY = "another-secret-key-that-is-long-enough-987654"
SECRET = "whsec-test-signing-secret"
RAW = b'{"event":{"id":"01ABC","event_type":"incident.acknowledged"}}'


# ---------------------------------------------------------------- sealed secrets


def test_sealed_values_open_only_under_their_key() -> None:
    routing_key = "R0UTINGKEY" + "a" * 22
    sealed = seal(KEY, routing_key)
    assert routing_key not in sealed
    assert unseal(KEY, sealed) == routing_key
    assert seal(KEY, routing_key) != sealed  # a fresh IV each time: equal keys do not look equal
    assert unseal(OTHER_KEY, sealed) is None
    assert unseal(KEY, seal(KEY, "ünïcödé ✓")) == "ünïcödé ✓"


@pytest.mark.parametrize("garbage", [None, "", "not a sealed value", "gAAAAA" + "A" * 80, "\x00\xff"])
def test_what_is_not_a_sealed_value_opens_to_none(garbage: str | None) -> None:
    assert unseal(KEY, garbage) is None


def test_a_hint_keeps_the_last_four() -> None:
    assert hint("R0UTINGKEYabcdefghijklmnopqrWXYZ") == "••••WXYZ"
    assert hint("123456789") == "••••6789"
    assert hint("12345678") == "••••"  # too short to show any of it
    assert hint("") == "••••"


# ---------------------------------------------------------------- signatures


def v1(secret: str, raw: bytes = RAW) -> str:
    return "v1=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def test_sign_is_hmac_sha256_of_the_raw_body() -> None:
    assert sign(SECRET, RAW) == v1(SECRET)


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (v1(SECRET), True),
        # During a rotation PagerDuty sends one signature per secret; any one is enough.
        (f"{v1('old-secret')},{v1(SECRET)}", True),
        (f"{v1(SECRET)}, {v1('old-secret')}", True),
        (f"{v1('old-secret')},{v1('older-secret')}", False),
        (v1(SECRET, RAW + b" "), False),  # another body
        ("", False),
        (v1(SECRET).removeprefix("v1="), False),  # no scheme
        (v1(SECRET).replace("v1=", "v0=", 1), False),  # another scheme
        (v1(SECRET).replace("v1=", "V1=", 1), False),
        (v1(SECRET).upper().replace("V1=", "v1=", 1), False),  # hex is compared exactly
    ],
)
def test_signature_matches(header: str, matches: bool) -> None:
    assert signature_matches(SECRET, RAW, header) is matches


def test_no_secret_matches_nothing() -> None:
    assert signature_matches("", RAW, v1("")) is False


# ---------------------------------------------------------------- webhook bodies


def body(**event: Any) -> dict[str, Any]:
    return {"event": event}


def test_a_webhook_names_our_incident_and_who_acted() -> None:
    incident_id = uuid.uuid4()
    event = read_webhook(
        body(
            id="01DEF",
            event_type="incident.acknowledged",
            agent={"id": "PAGENT1", "summary": "Pat Pager", "type": "user_reference"},
            data={"id": "Q1ABC", "number": 42, "incident_key": str(incident_id)},
        ),
        header_id="ignored-when-the-body-has-one",
    )
    assert event.id == "01DEF"
    assert event.kind is WebhookKind.ACKNOWLEDGED
    assert event.event_type == "incident.acknowledged"
    assert event.incident_key == str(incident_id)
    assert event.incident_id == incident_id
    assert (event.agent_id, event.agent_summary) == ("PAGENT1", "Pat Pager")
    assert event.pd_incident == "#42"


def test_the_event_id_falls_back_to_the_header() -> None:
    assert read_webhook(body(event_type="incident.resolved"), header_id="01HEADER").id == "01HEADER"
    assert read_webhook(body(id="", event_type="incident.resolved"), header_id=" 01HEADER ").id == "01HEADER"


@pytest.mark.parametrize(
    ("raw", "header_id", "field"),
    [
        ({}, "01H", "event"),
        ({"event": "incident.resolved"}, "01H", "event"),
        ({"event": None}, "01H", "event"),
        ([{"event": {"id": "01"}}], "01H", "event"),
        ("not an object", "01H", "event"),
        (body(event_type="incident.resolved"), "", "event.id"),
        (body(id="  ", event_type="incident.resolved"), "  ", "event.id"),
    ],
)
def test_a_body_that_is_not_a_v3_webhook_names_what_is_missing(raw: Any, header_id: str, field: str) -> None:
    with pytest.raises(WebhookShapeError) as caught:
        read_webhook(raw, header_id)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError) and str(caught.value)


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("incident.acknowledged", WebhookKind.ACKNOWLEDGED),
        ("incident.resolved", WebhookKind.RESOLVED),
        ("incident.triggered", WebhookKind.OTHER),
        ("incident.annotated", WebhookKind.OTHER),
        ("other", WebhookKind.OTHER),  # a type named like our catch-all is still just another type
        ("", WebhookKind.OTHER),
    ],
)
def test_kinds(event_type: str, kind: WebhookKind) -> None:
    event = read_webhook(body(id="01", event_type=event_type))
    assert event.kind is kind
    assert event.event_type == event_type


@pytest.mark.parametrize(
    ("data", "incident_id"),
    [
        ({"incident_key": "6f1c8e9a-2b7d-4c1e-9a3f-5d2b8c7e1f00"}, uuid.UUID("6f1c8e9a-2b7d-4c1e-9a3f-5d2b8c7e1f00")),
        ({"incident_key": "pd-test:acme:1234"}, None),  # a test event's key
        ({"incident_key": "not-ours"}, None),
        ({"incident_key": ""}, None),
        ({"incident_key": 12345}, None),
        ({}, None),
    ],
)
def test_incident_id_only_when_the_key_is_one_of_ours(data: dict[str, Any], incident_id: uuid.UUID | None) -> None:
    assert read_webhook(body(id="01", event_type="incident.resolved", data=data)).incident_id == incident_id


def test_odd_shapes_inside_the_event_are_read_as_absent() -> None:
    event = read_webhook(body(id="01", event_type="incident.resolved", data=["x"], agent="Pat"))
    assert (event.incident_key, event.incident_id, event.agent_id) == (None, None, None)
    assert event.agent_summary == "someone in PagerDuty"
    assert event.pd_incident == ""
    with_id = read_webhook(body(id="01", event_type="incident.resolved", data={"id": "Q1ABC", "number": "7"}))
    assert with_id.pd_incident == "Q1ABC"  # a number that is not a number falls back to PagerDuty's id


def test_long_values_are_cut_to_what_the_columns_hold() -> None:
    event = read_webhook(
        body(
            id="E" * 100,
            event_type="incident." + "x" * 100,
            agent={"id": "A" * 50, "summary": "S" * 200},
            data={"incident_key": "K" * 100, "id": "I" * 50},
        )
    )
    assert (len(event.id), len(event.event_type), len(event.incident_key or "")) == (64, 64, 64)
    assert (len(event.agent_id or ""), len(event.agent_summary), len(event.pd_incident)) == (32, 120, 32)


# ---------------------------------------------------------------- the trigger


def trigger(severity: str = "SEV1", title: str = "Checkout failing") -> OutboundEvent:
    return trigger_event(
        incident_id=uuid.UUID("6f1c8e9a-2b7d-4c1e-9a3f-5d2b8c7e1f00"),
        number=42,
        title=title,
        severity=severity,
        workspace_slug="acme",
        link="http://testserver.local/ws/acme/incidents/6f1c8e9a-2b7d-4c1e-9a3f-5d2b8c7e1f00",
        details={"schedule": "Ops"},
        service_label="Payments PD",
    )


def test_a_trigger_names_the_incident_and_links_back() -> None:
    event = trigger()
    assert event.action is Action.TRIGGER
    assert event.dedup_key == "6f1c8e9a-2b7d-4c1e-9a3f-5d2b8c7e1f00"  # acknowledge and resolve name the same alert
    assert event.payload == {
        "summary": "INC-42 Checkout failing",
        "source": "acme",
        "severity": "critical",
        "component": "vigilo",
        "custom_details": {"schedule": "Ops"},
    }
    assert event.links == (
        {
            "href": "http://testserver.local/ws/acme/incidents/6f1c8e9a-2b7d-4c1e-9a3f-5d2b8c7e1f00",
            "text": "INC-42 in Vigilo",
        },
    )
    assert event.service_label == "Payments PD"
    assert event.describe() == "PagerDuty trigger for Payments PD"
    assert OutboundEvent.from_json(event.to_json()) == event
    assert "routing_key" not in json.loads(event.to_json())  # the key stays sealed until the send


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("SEV1", "critical"), ("SEV2", "error"), ("SEV3", "warning"), ("SEV4", "info")],
)
def test_severities_map_to_pagerduty_s(severity: str, expected: str) -> None:
    assert SEVERITIES[severity] == expected
    payload = trigger(severity).payload
    assert payload is not None and payload["severity"] == expected


def test_every_severity_is_mapped_and_the_summary_fits() -> None:
    assert set(SEVERITIES) == {"SEV1", "SEV2", "SEV3", "SEV4"}
    assert set(SEVERITIES.values()) == {"critical", "error", "warning", "info"}  # all Events API v2 allows
    payload = trigger(title="x" * 5000).payload
    assert payload is not None
    assert len(payload["summary"]) == MAX_SUMMARY and payload["summary"].startswith("INC-42 x")
