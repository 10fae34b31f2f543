"""Heartbeat monitors: a cron job, a backup or another Vigilo pings a secret URL at least every
`interval_minutes`; when a ping is late an incident opens on the monitor's target (one at a time),
and the next ping resolves it. The periodic tick looks for late monitors."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import EscalationPolicy, HeartbeatMonitor, Incident, OnCallSchedule
from app.db.transactions import lock_row, writing
from app.services.errors import FieldError, NotFound, parse_id
from app.services.incidents import Opening, close_locked, open_incident
from app.services.one_time import digest, new_token
from app.services.paging import Outbox, Pace
from app.services.paging_targets import target_of
from app.services.timeline import note as note_timeline

PING_PATH = "/integrations/heartbeats/"  # + the monitor's token
FIELDS = {"name", "interval_minutes", "schedule_id", "escalation_policy_id"}
MAX_NAME = 120
MAX_INTERVAL = 31 * 24 * 60  # minutes
SEVERITY = "SEV2"


def ping_url(public_url: str, token: str) -> str:
    return f"{public_url}{PING_PATH}{token}"


def _every(monitor: HeartbeatMonitor, pace: Pace) -> datetime.timedelta:
    return datetime.timedelta(seconds=monitor.interval_minutes * pace.seconds_per_minute)


def _checked(raw: Mapping[str, Any]) -> dict[str, Any]:
    errors = {name: f"{name} is not a field of a heartbeat monitor." for name in sorted(set(raw) - FIELDS)}
    name = " ".join(str(raw.get("name") or "").split())
    if not name:
        errors["name"] = "Name the monitor, e.g. Nightly backup."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Keep the name under {MAX_NAME} characters."
    interval = raw.get("interval_minutes")
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= MAX_INTERVAL:
        errors["interval_minutes"] = f"interval_minutes is a whole number of minutes, 1 to {MAX_INTERVAL} (31 days)."
    if errors:
        raise FieldError(errors)
    return {"name": name, "interval_minutes": interval}


async def create_monitor(
    db: AsyncSession, workspace_id: uuid.UUID, raw: Mapping[str, Any], now: datetime.datetime, pace: Pace
) -> tuple[HeartbeatMonitor, str]:
    """Add a monitor; returns it and its ping URL's token (shown once: only its hash is kept). The
    first ping is due one interval from now."""
    token = new_token()
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    try:
        fields = _checked(raw)
    except FieldError as exc:
        errors.update(exc.errors)
    try:
        async with writing(db):
            try:
                schedule_id, policy_id = await target_of(db, workspace_id, raw)
            except FieldError as exc:
                errors.update(exc.errors)
            if errors:
                raise FieldError(errors)
            taken = await db.scalar(
                select(HeartbeatMonitor.id).where(
                    HeartbeatMonitor.workspace_id == workspace_id, HeartbeatMonitor.name == fields["name"]
                )
            )
            if taken is not None:
                raise FieldError.one("name", f"There is already a heartbeat monitor called {fields['name']}.")
            monitor = HeartbeatMonitor(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                schedule_id=schedule_id,
                escalation_policy_id=policy_id,
                token_hash=digest(token),
                **fields,
            )
            monitor.due_at = now + _every(monitor, pace)
            db.add(monitor)
            await db.flush()
    except IntegrityError:  # the same name added at the same moment
        raise FieldError.one("name", f"There is already a heartbeat monitor called {fields['name']}.") from None
    return monitor, token


async def get_monitor(db: AsyncSession, workspace_id: uuid.UUID, monitor_id: uuid.UUID | str) -> HeartbeatMonitor:
    monitor = await db.get(HeartbeatMonitor, parse_id(monitor_id, "heartbeat monitor"))
    if monitor is None or monitor.workspace_id != workspace_id:
        raise NotFound("No such heartbeat monitor.")
    return monitor


@dataclass(frozen=True)
class MonitorView:
    monitor: HeartbeatMonitor
    open_incident_id: uuid.UUID | None  # the incident a missed ping opened, while it is open

    @property
    def state(self) -> str:
        if self.open_incident_id is not None:
            return "late"
        return "up" if self.monitor.last_ping_at else "waiting for its first ping"


async def list_monitors(db: AsyncSession, workspace_id: uuid.UUID) -> list[MonitorView]:
    rows = (
        await db.execute(
            select(HeartbeatMonitor, Incident.status)
            .outerjoin(Incident, Incident.id == HeartbeatMonitor.incident_id)
            .where(HeartbeatMonitor.workspace_id == workspace_id)
            .order_by(HeartbeatMonitor.name)
        )
    ).all()
    await db.commit()
    return [
        MonitorView(monitor, monitor.incident_id if status not in (None, "resolved") else None)
        for monitor, status in rows
    ]


async def delete_monitor(db: AsyncSession, workspace_id: uuid.UUID, monitor_id: uuid.UUID | str) -> None:
    """Its URL stops answering; an incident it opened stays as it is."""
    async with writing(db):
        monitor = await get_monitor(db, workspace_id, monitor_id)
        await db.delete(monitor)


@dataclass(frozen=True)
class Pinged:
    name: str
    resolved: int | None  # the incident number this ping resolved


async def ping(db: AsyncSession, token: str, now: datetime.datetime, pace: Pace) -> Pinged | None:
    """A ping: the next is due one interval from now; an incident the monitor opened is resolved.
    None: no monitor has this token."""
    if not token or len(token) > 128:
        return None
    outbox = Outbox([], [])
    async with writing(db):
        monitor_id = await db.scalar(select(HeartbeatMonitor.id).where(HeartbeatMonitor.token_hash == digest(token)))
        if monitor_id is None or not await lock_row(db, HeartbeatMonitor, monitor_id):
            return None
        monitor = await db.get_one(HeartbeatMonitor, monitor_id, populate_existing=True)
        monitor.last_ping_at = now
        monitor.due_at = now + _every(monitor, pace)
        resolved = None
        if monitor.incident_id is not None:
            await lock_row(db, Incident, monitor.incident_id)
            incident = await db.get_one(Incident, monitor.incident_id, populate_existing=True)
            monitor.incident_id = None
            if incident.status != "resolved":
                closed, outbox = await close_locked(
                    db, incident, f"{monitor.name} (heartbeat)", now, where=": a ping came in"
                )
                resolved = incident.number if closed.changed else None
        pinged = Pinged(monitor.name, resolved)
    await outbox.send(now)
    return pinged


async def open_late(db: AsyncSession, now: datetime.datetime, pace: Pace) -> int:
    """The tick's job: for each monitor whose ping is overdue and that has no open incident, open one.
    A monitor whose incident a person resolved while the pings stayed away waits one more interval
    from then. Returns how many incidents were opened."""
    due = list(
        await db.scalars(
            select(HeartbeatMonitor.id)
            .outerjoin(Incident, Incident.id == HeartbeatMonitor.incident_id)
            .where(
                HeartbeatMonitor.due_at <= now,
                or_(HeartbeatMonitor.incident_id.is_(None), Incident.status == "resolved"),
            )
            .limit(200)
        )
    )
    await db.commit()
    opened = 0
    for monitor_id in due:
        opened += await _open_one(db, monitor_id, now, pace)
    return opened


async def _open_one(db: AsyncSession, monitor_id: uuid.UUID, now: datetime.datetime, pace: Pace) -> int:
    outbox = Outbox([], [])
    async with writing(db):
        if not await lock_row(db, HeartbeatMonitor, monitor_id):
            return 0  # deleted meanwhile
        monitor = await db.get_one(HeartbeatMonitor, monitor_id, populate_existing=True)
        if monitor.due_at > now:
            return 0  # pinged meanwhile
        if monitor.incident_id is not None:
            incident = await db.get(Incident, monitor.incident_id)
            if incident is not None and incident.status != "resolved":
                return 0  # another tick opened it
            monitor.incident_id = None
            if incident is not None and incident.resolved_at is not None:
                monitor.due_at = incident.resolved_at + _every(monitor, pace)
                if monitor.due_at > now:
                    return 0  # resolved by a person: one more interval before it pages again
        schedule = await db.get(OnCallSchedule, monitor.schedule_id) if monitor.schedule_id else None
        policy = await db.get(EscalationPolicy, monitor.escalation_policy_id) if monitor.escalation_policy_id else None
        since = monitor.last_ping_at
        title = f"Heartbeat missed: {monitor.name}"
        by = f"{monitor.name} (heartbeat)"
        incident, outbox = await open_incident(
            db, monitor.workspace_id, Opening(title, SEVERITY, by, "opened"), schedule, policy, now, pace
        )
        monitor.incident_id = incident.id
        last = (
            f"the last ping came at {since:%Y-%m-%d %H:%M:%S} UTC" if since else "no ping has come since it was added"
        )
        note_timeline(
            db,
            incident.id,
            "alert",
            f"No ping within {monitor.interval_minutes} min: {last}. The next ping resolves INC-{incident.number}.",
            now,
        )
    await outbox.send(now)
    return 1
