"""Alert notifications from monitoring (Alertmanager, Grafana alerting, a generic JSON webhook) read
into one shape, and what a notification does to its group: open, add to, resolve, note, or nothing.

Pure: plain values in, plain values out. Grouping, storage and paging are app/services/alert_ingest.py.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
# The words monitoring uses, and what the generic webhook accepts besides SEV1 to SEV4.
WORD_SEVERITIES = {"critical": "SEV1", "error": "SEV2", "warning": "SEV3", "info": "SEV4"}
DEFAULT_SEVERITY = "SEV3"
MAX_TITLE = 200
MAX_GROUP_KEY = 1000  # what is kept to show; the group is told apart by the whole key's digest
MAX_MAP_ENTRIES = 50
MAX_LINKS = 20
MAX_ALERTS = 1000


class SourceKind(enum.StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    GENERIC = "generic"


KIND_NAMES = {SourceKind.ALERTMANAGER: "Alertmanager", SourceKind.GRAFANA: "Grafana", SourceKind.GENERIC: "Webhook"}


class ShapeError(ValueError):
    """The JSON is not a notification of this kind: `field` names where (a JSON path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    name: str  # alertname and the labels that tell it apart, for people
    firing: bool
    severity: str | None  # the `severity` label's value
    generator_url: str | None


@dataclass(frozen=True)
class Notification:
    group_key: str
    firing: bool  # the group (or the generic event) fires; False: it resolved
    title: str
    severity: str | None  # the raw value to map (a label value, or the generic field)
    alerts: tuple[Alert, ...]
    external_url: str | None = None
    message: str | None = None  # Grafana's message, the generic details
    sender: str = "Alertmanager"  # whose page external_url is

    @property
    def firing_alerts(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.firing)

    @property
    def digest(self) -> str:
        return group_digest(self.group_key)

    def links(self) -> list[tuple[str, str]]:
        """(label, URL) for the incident page: Alertmanager's own page, then each alert's source."""
        found: list[tuple[str, str]] = []
        if self.external_url:
            found.append((self.sender, self.external_url))
        for alert in self.alerts:
            if alert.generator_url and len(found) < MAX_LINKS:
                found.append((alert.name, alert.generator_url))
        return found


def group_digest(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def safe_url(value: object) -> str | None:
    """An http(s) link, or nothing: a `javascript:` URL from a payload must never become a link."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if len(url) > 2000 or not url.lower().startswith(("http://", "https://")) or any(c.isspace() for c in url):
        return None
    return url


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(field, f"{field} must be a JSON object.")
    return value


def _labels(value: object, field: str) -> dict[str, str]:
    if value is None:
        return {}
    labels = _object(value, field)
    for key, item in labels.items():
        if not isinstance(item, str):
            raise ShapeError(f"{field}.{key}", f"{field}.{key} must be a string.")
    return labels


def _text(value: object, field: str, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ShapeError(field, f"{field} must be a {'non-empty ' if required else ''}string.")
    return value


def _one_line(text: str, limit: int = MAX_TITLE) -> str:
    clean = " ".join(text.split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _status(value: object, field: str) -> bool:
    if value not in ("firing", "resolved"):
        raise ShapeError(field, f'{field} must be "firing" or "resolved".')
    return value == "firing"


def _alert_name(labels: Mapping[str, str], shared: Mapping[str, str]) -> str:
    """alertname with the labels that tell this alert from the group's others (`shared` ones are left out)."""
    name = labels.get("alertname", "alert")
    extra = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in shared and k != "alertname"]
    shown = ", ".join(extra[:3])
    return _one_line(f"{name} ({shown})" if shown else name, 120)


def _fingerprint(raw: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    given = raw.get("fingerprint")
    if isinstance(given, str) and given.strip():
        return given.strip()[:64]
    return hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]


def _read_grouped(body: object, *, version: str | None) -> tuple[Notification, dict[str, Any]]:
    payload = _object(body, "body")
    if version is not None and payload.get("version") != version:
        raise ShapeError("version", f'version must be "{version}" (Alertmanager\'s webhook payload version 4).')
    group_key = _text(payload.get("groupKey"), "groupKey", required=True)
    firing = _status(payload.get("status"), "status")
    group_labels = _labels(payload.get("groupLabels"), "groupLabels")
    common_labels = _labels(payload.get("commonLabels"), "commonLabels")
    common_annotations = _labels(payload.get("commonAnnotations"), "commonAnnotations")
    raw_alerts = payload.get("alerts")
    if not isinstance(raw_alerts, list):
        raise ShapeError("alerts", "alerts must be a list.")
    if len(raw_alerts) > MAX_ALERTS:
        raise ShapeError("alerts", f"alerts may hold at most {MAX_ALERTS} alerts.")
    alerts = []
    for index, raw in enumerate(raw_alerts):
        where = f"alerts[{index}]"
        item = _object(raw, where)
        labels = _labels(item.get("labels"), f"{where}.labels")
        alerts.append(
            Alert(
                fingerprint=_fingerprint(item, labels),
                name=_alert_name(labels, {**group_labels, **common_labels}),
                firing=_status(item.get("status"), f"{where}.status"),
                severity=labels.get("severity"),
                generator_url=safe_url(item.get("generatorURL")),
            )
        )
    title = common_annotations.get("summary", "").strip()
    if not title:
        name = common_labels.get("alertname") or group_labels.get("alertname") or "Alert"
        shown = [f"{k}={v}" for k, v in sorted(group_labels.items()) if k != "alertname"]
        title = f"{name} ({', '.join(shown)})" if shown else name
    severity = common_labels.get("severity")
    notification = Notification(
        group_key=group_key,
        firing=firing,
        title=_one_line(title),
        severity=severity,
        alerts=tuple(alerts),
        external_url=safe_url(payload.get("externalURL")),
    )
    return notification, payload


def read_alertmanager(body: object) -> Notification:
    """Alertmanager's webhook payload version 4."""
    return _read_grouped(body, version="4")[0]


def read_grafana(body: object) -> Notification:
    """Grafana alerting's webhook: Alertmanager's shape plus `title` and `message`."""
    notification, payload = _read_grouped(body, version=None)
    notification = replace(notification, sender="Grafana")
    title = _text(payload.get("title"), "title")
    message = _text(payload.get("message"), "message")
    summary_given = bool(_labels(payload.get("commonAnnotations"), "commonAnnotations").get("summary", "").strip())
    if title.strip() and not summary_given:
        # "[FIRING:2] HighLatency (api)": the state prefix changes with every notification; the rest names it.
        plain = title.split("] ", 1)[1] if title.startswith("[") and "] " in title else title
        notification = replace(notification, title=_one_line(plain))
    if message.strip():
        notification = replace(notification, message=message.strip()[:2000])
    return notification


GENERIC_FIELDS = {"title", "dedup_key", "severity", "status", "details"}


def read_generic(body: object, fallback_key: str) -> Notification:
    """`{"title", "dedup_key", "severity", "status": "trigger" | "resolve", "details"}`. Without a
    dedup_key every trigger is its own group (`fallback_key`); a resolve must name one."""
    payload = _object(body, "body")
    unknown = sorted(set(payload) - GENERIC_FIELDS)
    if unknown:
        raise ShapeError(unknown[0], f"{unknown[0]} is not a field of the generic webhook.")
    status = payload.get("status", "trigger")
    if status not in ("trigger", "resolve"):
        raise ShapeError("status", 'status must be "trigger" or "resolve".')
    firing = status == "trigger"
    dedup_key = _text(payload.get("dedup_key"), "dedup_key")
    if len(dedup_key) > 255:
        raise ShapeError("dedup_key", "dedup_key must be at most 255 characters.")
    if not firing and not dedup_key.strip():
        raise ShapeError("dedup_key", "A resolve must name the dedup_key of what it resolves.")
    title = _text(payload.get("title"), "title", required=firing)
    severity = payload.get("severity")
    if severity is not None and (not isinstance(severity, str) or generic_severity(severity) is None):
        raise ShapeError("severity", "severity must be SEV1 to SEV4 or critical, error, warning or info.")
    details = payload.get("details")
    message = None
    if isinstance(details, str):
        message = details.strip()[:2000] or None
    elif details is not None:
        message = json.dumps(details, sort_keys=True)[:2000]
    key = dedup_key.strip() or fallback_key
    alert = Alert(group_digest(key)[:16], _one_line(title or key, 120), firing, None, None)
    return Notification(
        group_key=key,
        firing=firing,
        title=_one_line(title) if title.strip() else key[:MAX_TITLE],
        severity=generic_severity(severity) if isinstance(severity, str) else None,
        alerts=(alert,),
        message=message,
    )


def generic_severity(value: str) -> str | None:
    upper = value.strip().upper()
    if upper in SEVERITIES:
        return upper
    return WORD_SEVERITIES.get(value.strip().lower())


def _storable(value: object, field: str) -> None:
    """Every key and string of the body can be stored as text: no NUL character (PostgreSQL refuses
    it) and no lone UTF-16 surrogate (`"\\ud800"` decodes to a string UTF-8 cannot encode)."""
    if isinstance(value, str):
        where = field or "body"
        if "\x00" in value:
            raise ShapeError(where, f"{where} holds a NUL character.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ShapeError(where, f"{where} holds an unpaired surrogate (\\ud800 to \\udfff).") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, f"a key of {field or 'the body'}")  # checked before it names a field
            _storable(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _storable(item, f"{field}[{index}]")


def read(kind: SourceKind, body: object, fallback_key: str) -> Notification:
    _storable(body, "")
    if kind is SourceKind.ALERTMANAGER:
        return read_alertmanager(body)
    if kind is SourceKind.GRAFANA:
        return read_grafana(body)
    return read_generic(body, fallback_key)


def map_severity(notification: Notification, severity_map: Mapping[str, str], default: str) -> str:
    """The group's `severity` label through the source's map; with no common label, the most severe of
    the firing alerts' that the map knows; else the source's default. A generic event's own SEV wins."""
    if notification.severity in SEVERITIES:
        return notification.severity
    if notification.severity is not None and notification.severity in severity_map:
        return severity_map[notification.severity]
    mapped = [severity_map[a.severity] for a in notification.firing_alerts if a.severity and a.severity in severity_map]
    return min(mapped) if mapped else default  # "SEV1" < "SEV2": the most severe


def parse_severity_map(raw: object) -> dict[str, str]:
    """{label value: SEV1 to SEV4}; errors name the entry."""
    if raw is None:
        return dict(WORD_SEVERITIES)
    if not isinstance(raw, dict):
        raise ShapeError("severity_map", "severity_map must map label values to SEV1 to SEV4.")
    if len(raw) > MAX_MAP_ENTRIES:
        raise ShapeError("severity_map", f"severity_map may hold at most {MAX_MAP_ENTRIES} entries.")
    clean: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 64:
            raise ShapeError("severity_map", "Each label value is 1 to 64 characters.")
        if not isinstance(value, str) or value.strip().upper() not in SEVERITIES:
            raise ShapeError(f"severity_map.{key}", f"{key} must map to SEV1, SEV2, SEV3 or SEV4.")
        clean[key.strip()] = value.strip().upper()
    return clean


def map_text(severity_map: Mapping[str, str]) -> str:
    """The map as the form shows it: one `value = SEVn` per line."""
    return "\n".join(f"{k} = {v}" for k, v in severity_map.items())


def parse_map_text(text: str) -> dict[str, str]:
    """The form's lines `critical = SEV1` into a map (blank lines skipped)."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ShapeError("severity_map", f"Line {number}: write it as `label value = SEV1`.")
        entries[key.strip()] = value.strip()
    return parse_severity_map(entries)


# ---------------------------------------------------------------- what a notification does


class Act(enum.StrEnum):
    OPEN = "open"  # a new incident for the group
    ADD = "add"  # the open incident's firing alerts changed: noted on its timeline
    SAME = "same"  # the open incident's alerts are as they were: nothing to note
    RESOLVE = "resolve"
    NOTE_RESOLVED = "note_resolved"  # resolved, but this source does not resolve incidents
    SILENCED = "silenced"  # would open one, but the source or the workspace is in maintenance
    NOTHING = "nothing"  # resolved, and nothing of the group is open


@dataclass(frozen=True)
class Decision:
    act: Act
    new: tuple[Alert, ...] = ()  # alerts firing now that were not before
    gone: int = 0  # alerts that fired before and do not now
    firing: int = 0  # how many fire now


def decide(notification: Notification, known: frozenset[str] | None, silenced: bool, auto_resolve: bool) -> Decision:
    """`known`: the fingerprints firing when the group's open incident last heard, None when the group
    has no open incident. A notification never opens a second incident for a group."""
    firing = notification.firing_alerts
    if known is None:
        if not notification.firing or not firing:
            return Decision(Act.NOTHING)
        return Decision(Act.SILENCED if silenced else Act.OPEN, new=firing, firing=len(firing))
    if not notification.firing:
        return Decision(Act.RESOLVE if auto_resolve else Act.NOTE_RESOLVED, gone=len(known))
    now = {a.fingerprint for a in firing}
    new = tuple(a for a in firing if a.fingerprint not in known)
    gone = len(known - now)
    return Decision(Act.ADD if new or gone else Act.SAME, new=new, gone=gone, firing=len(firing))


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
