"""Alert sources: add (the URL's token hashed and shown once), change, rotate the URL, delete,
maintenance (a source or the whole workspace silenced until a time), and the list with the last
notifications each received and what they became."""

from __future__ import annotations

import datetime
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AlertSource, DeliveryLog, EscalationPolicy, Incident, OnCallSchedule, Workspace
from app.db.transactions import lock_row, writing
from app.domain.alerts import (
    KIND_NAMES,
    SEVERITIES,
    WORD_SEVERITIES,
    ShapeError,
    SourceKind,
    parse_severity_map,
)
from app.services.errors import FieldError, NotFound, parse_id
from app.services.one_time import digest as token_digest
from app.services.paging_targets import target_of

WEBHOOK_PATH = "/integrations/alerts/"  # + the source's token
CHANNEL = "alert"  # the delivery log's channel for what sources send
MAX_NAME = 120
MAX_SILENCE = datetime.timedelta(days=31)
FIELDS = {"name", "kind", "schedule_id", "escalation_policy_id", "severity_map", "default_severity", "auto_resolve"}


def source_url(public_url: str, token: str) -> str:
    return f"{public_url}{WEBHOOK_PATH}{token}"


def _name(raw: Mapping[str, Any]) -> str:
    name = " ".join(str(raw.get("name") or "").split())
    if not name:
        raise FieldError.one("name", "Name the source, e.g. Prometheus (prod).")
    if len(name) > MAX_NAME:
        raise FieldError.one("name", f"Keep the name under {MAX_NAME} characters.")
    return name


def _kind(raw: Mapping[str, Any]) -> str:
    kind = str(raw.get("kind") or "")
    if kind not in {k.value for k in SourceKind}:
        raise FieldError.one("kind", "Choose alertmanager, grafana or generic.")
    return kind


def _severity(raw: Mapping[str, Any]) -> str:
    value = str(raw.get("default_severity") or "").strip().upper()
    if value not in SEVERITIES:
        raise FieldError.one("default_severity", "Choose SEV1, SEV2, SEV3 or SEV4.")
    return value


def _map(raw: Mapping[str, Any]) -> dict[str, str]:
    try:
        return parse_severity_map(raw.get("severity_map"))
    except ShapeError as exc:
        raise FieldError.one(exc.field, str(exc)) from None


def _auto_resolve(raw: Mapping[str, Any]) -> bool:
    value = raw.get("auto_resolve")
    if not isinstance(value, bool):
        raise FieldError.one("auto_resolve", "auto_resolve is true (a resolved group resolves) or false (noted).")
    return value


async def _checked(
    db: AsyncSession, workspace_id: uuid.UUID, raw: Mapping[str, Any], *, partial: bool
) -> dict[str, Any]:
    """The fields given, checked; every error at once, each under its field."""
    unknown = sorted(set(raw) - FIELDS)
    errors: dict[str, str] = {name: f"{name} is not a field of an alert source." for name in unknown}
    changes: dict[str, Any] = {}
    readers = {
        "name": _name,
        "kind": _kind,
        "default_severity": _severity,
        "severity_map": _map,
        "auto_resolve": _auto_resolve,
    }
    for name, reader in readers.items():
        if partial and name not in raw:
            continue
        if name in ("default_severity", "severity_map", "auto_resolve") and name not in raw:
            continue  # defaults below
        try:
            changes[name] = reader(raw)
        except FieldError as exc:
            errors.update(exc.errors)
    if not partial or raw.keys() & {"schedule_id", "escalation_policy_id"}:
        try:
            changes["schedule_id"], changes["escalation_policy_id"] = await target_of(db, workspace_id, raw)
        except FieldError as exc:
            errors.update(exc.errors)
    if errors:
        raise FieldError(errors)
    return changes


async def _name_taken(db: AsyncSession, workspace_id: uuid.UUID, name: str, but: uuid.UUID | None = None) -> None:
    query = select(AlertSource.id).where(AlertSource.workspace_id == workspace_id, AlertSource.name == name)
    if but is not None:
        query = query.where(AlertSource.id != but)
    if await db.scalar(query) is not None:
        raise FieldError.one("name", f"There is already an alert source called {name}.")


async def create_source(db: AsyncSession, workspace_id: uuid.UUID, raw: Mapping[str, Any]) -> tuple[AlertSource, str]:
    """Add a source; returns it and its URL's token (shown once: only its hash is kept)."""
    token = secrets.token_urlsafe(24)
    try:
        async with writing(db):
            changes = await _checked(db, workspace_id, raw, partial=False)
            await _name_taken(db, workspace_id, changes["name"])
            source = AlertSource(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                token_hash=token_digest(token),
                severity_map=dict(WORD_SEVERITIES),
                default_severity="SEV3",
                auto_resolve=True,
                rate_count=0,
            )
            for name, value in changes.items():
                setattr(source, name, value)
            db.add(source)
            await db.flush()
    except IntegrityError:  # the same name added at the same moment
        raise FieldError.one("name", f"There is already an alert source called {raw.get('name')}.") from None
    return source, token


async def get_source(db: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID | str) -> AlertSource:
    source = await db.get(AlertSource, parse_id(source_id, "alert source"))
    if source is None or source.workspace_id != workspace_id:
        raise NotFound("No such alert source.")
    return source


async def update_source(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID | str,
    raw: Mapping[str, Any],
    now: datetime.datetime | None = None,
) -> AlertSource:
    """Change the fields given (a schedule given replaces a policy, and the other way round), and with
    `maintenance_until` (an instant, or None to end it; `now` given) the source's silence: all of it
    or, refused, none of it."""
    raw = dict(raw)
    silence = "maintenance_until" in raw
    until = raw.pop("maintenance_until", None)
    if silence:
        assert now is not None
        _check_silence(until, now, "maintenance_until")
    try:
        async with writing(db):
            source = await get_source(db, workspace_id, source_id)
            await lock_row(db, AlertSource, source.id)
            changes = await _checked(db, workspace_id, raw, partial=True)
            if "name" in changes:
                await _name_taken(db, workspace_id, changes["name"], but=source.id)
            for name, value in changes.items():
                setattr(source, name, value)
            if silence:
                source.maintenance_until = until
            await db.flush()
    except IntegrityError:
        raise FieldError.one("name", f"There is already an alert source called {raw.get('name')}.") from None
    return source


async def rotate_source(
    db: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID | str
) -> tuple[AlertSource, str]:
    """A new URL; the old one answers 404 from now on."""
    token = secrets.token_urlsafe(24)
    async with writing(db):
        source = await get_source(db, workspace_id, source_id)
        await lock_row(db, AlertSource, source.id)
        source.token_hash = token_digest(token)
    return source, token


async def delete_source(db: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID | str) -> None:
    """Delete a source: its URL stops answering; the incidents it opened keep their history."""
    async with writing(db):
        source = await get_source(db, workspace_id, source_id)
        await lock_row(db, AlertSource, source.id)
        await db.delete(source)
        await db.flush()


def parse_until(value: str, now: datetime.datetime) -> datetime.datetime | None:
    """A silence's end from the form: minutes from now ("60"), or "" / "0" to end it."""
    text = (value or "").strip()
    if text in ("", "0"):
        return None
    try:
        minutes = int(text)
    except ValueError:
        raise FieldError.one("minutes", "Choose how long to silence for.") from None
    if not 0 < minutes <= MAX_SILENCE.total_seconds() // 60:
        raise FieldError.one("minutes", "A silence lasts from a minute up to 31 days.")
    return now + datetime.timedelta(minutes=minutes)


def _check_silence(until: datetime.datetime | None, now: datetime.datetime, field: str) -> None:
    if until is not None and not now < until <= now + MAX_SILENCE:
        raise FieldError.one(field, "A silence ends in the future, at most 31 days from now.")


async def set_maintenance(
    db: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID | str | None,
    until: datetime.datetime | None,
    now: datetime.datetime,
) -> None:
    """Silence one source (or, with no source, every source of the workspace) until `until`; None ends
    the silence. Meanwhile what arrives is recorded and shown, and opens nothing."""
    _check_silence(until, now, "until")
    async with writing(db):
        if source_id is None:
            await lock_row(db, Workspace, workspace_id)
            workspace = await db.get_one(Workspace, workspace_id, populate_existing=True)
            workspace.alerts_silenced_until = until
            return
        source = await get_source(db, workspace_id, source_id)
        await lock_row(db, AlertSource, source.id)
        source.maintenance_until = until


# ---------------------------------------------------------------- the list


@dataclass(frozen=True)
class Received:
    """One notification a source sent, and what it became."""

    at: datetime.datetime
    title: str
    firing: bool
    outcome: str
    status: str  # processed | silenced | ignored
    incident_number: int | None
    incident_id: uuid.UUID | None


@dataclass(frozen=True)
class SourceView:
    source: AlertSource
    target: str  # "Ops (schedule)", "Platform (policy)"
    silenced_until: datetime.datetime | None  # the source's or the workspace's, whichever ends later
    rate_limited: bool
    last: tuple[Received, ...]

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[SourceKind(self.source.kind)]

    @property
    def state(self) -> str:
        if self.rate_limited:
            return "rate-limited"
        if self.silenced_until is not None:
            return "in maintenance"
        return "ready"


def silenced_until(source: AlertSource, workspace: Workspace, now: datetime.datetime) -> datetime.datetime | None:
    ends = [t for t in (source.maintenance_until, workspace.alerts_silenced_until) if t is not None and t > now]
    return max(ends) if ends else None


def rate_limited(source: AlertSource, now: datetime.datetime) -> bool:
    """Refused a request in this minute's window (the limit applies until the window ends)."""
    return source.limited_at is not None and source.limited_at >= now.replace(second=0, microsecond=0)


async def list_sources(
    db: AsyncSession, workspace_id: uuid.UUID, now: datetime.datetime, last: int = 5, only: uuid.UUID | None = None
) -> list[SourceView]:
    """The workspace's sources (or just `only`) with their state and last notifications."""
    workspace = await db.get_one(Workspace, workspace_id)
    query = (
        select(AlertSource, OnCallSchedule.name, EscalationPolicy.name)
        .outerjoin(OnCallSchedule, OnCallSchedule.id == AlertSource.schedule_id)
        .outerjoin(EscalationPolicy, EscalationPolicy.id == AlertSource.escalation_policy_id)
        .where(AlertSource.workspace_id == workspace_id)
        .order_by(AlertSource.name)
    )
    if only is not None:
        query = query.where(AlertSource.id == only)
    rows = (await db.execute(query)).all()
    views = []
    for source, schedule_name, policy_name in rows:
        received = (
            await db.execute(
                select(DeliveryLog, Incident.number)
                .outerjoin(Incident, Incident.id == DeliveryLog.incident_id)
                .where(
                    DeliveryLog.workspace_id == workspace_id,
                    DeliveryLog.channel == CHANNEL,
                    DeliveryLog.target == str(source.id),
                )
                .order_by(DeliveryLog.at.desc())
                .limit(last)
            )
        ).all()
        target = f"{schedule_name} (schedule)" if schedule_name else f"{policy_name} (policy)"
        views.append(
            SourceView(
                source,
                target,
                silenced_until(source, workspace, now),
                rate_limited(source, now),
                tuple(_received(row, number) for row, number in received),
            )
        )
    await db.commit()
    return views


async def source_view(
    db: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID, now: datetime.datetime
) -> SourceView:
    found = await list_sources(db, workspace_id, now, only=source_id)
    if not found:
        raise NotFound("No such alert source.")
    return found[0]


def _received(row: DeliveryLog, number: int | None) -> Received:
    try:
        data = json.loads(row.summary or "{}")
    except ValueError:
        data = {}
    title, firing = str(data.get("title") or ""), bool(data.get("firing"))
    return Received(row.at, title, firing, row.error or "", row.status, number, row.incident_id)
