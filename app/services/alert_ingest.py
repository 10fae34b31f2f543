"""What an alert source's notification does: admitted (the source found by its URL's token and the
request counted in its one-minute window, in one statement), then acted on in the transaction that
records it (DESIGN.md invariant 10): it opens an incident for its group, adds to the group's open one,
resolves or notes it, or is recorded as silenced. The source's row lock serialises one source's
notifications; a unique index keeps one open incident per group whatever else happens."""

from __future__ import annotations

import datetime
import json
import math
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AlertGroup, AlertSource, DeliveryLog, EscalationPolicy, Incident, OnCallSchedule, Workspace
from app.db.transactions import lock_row, writing
from app.domain.alerts import (
    KIND_NAMES,
    MAX_GROUP_KEY,
    MAX_LINKS,
    Act,
    Decision,
    Notification,
    SourceKind,
    decide,
    map_severity,
    plural,
)
from app.services.alert_sources import CHANNEL, silenced_until
from app.services.errors import NotFound
from app.services.incidents import Opening, close_locked, open_incident
from app.services.one_time import digest as token_digest
from app.services.paging import Outbox, Pace
from app.services.timeline import note as note_timeline

WINDOW = datetime.timedelta(minutes=1)


@dataclass(frozen=True)
class Admission:
    source_id: uuid.UUID
    workspace_id: uuid.UUID
    kind: SourceKind
    retry_after: int | None  # seconds: over the limit in this window


async def admit(db: AsyncSession, token: str, now: datetime.datetime, limit: int) -> Admission | None:
    """The source whose URL this token is (None: unknown), with this request counted in the current
    fixed one-minute window; over `limit`, when to come back."""
    if not token or len(token) > 128:
        return None
    window = now.replace(second=0, microsecond=0)
    # The window only moves forward: a request that waited for the row (or came from a process whose
    # clock is behind) counts in the newer window instead of starting its own minute again.
    current = and_(AlertSource.rate_window.is_not(None), AlertSource.rate_window >= window)
    async with writing(db):
        row = (
            await db.execute(
                update(AlertSource)
                .where(AlertSource.token_hash == token_digest(token))
                .values(
                    rate_count=case((current, AlertSource.rate_count + 1), else_=1),
                    rate_window=case((current, AlertSource.rate_window), else_=window),
                )
                .returning(
                    AlertSource.id,
                    AlertSource.workspace_id,
                    AlertSource.kind,
                    AlertSource.rate_count,
                    AlertSource.rate_window,
                )
                .execution_options(synchronize_session=False)
            )
        ).first()
        if row is None:
            return None
        source_id, workspace_id, kind, count, counted_in = row
        retry_after = None
        if count > limit:
            ends: datetime.datetime = (counted_in or window) + WINDOW
            retry_after = max(1, math.ceil((ends - now).total_seconds()))
            await db.execute(
                update(AlertSource)
                .where(AlertSource.id == source_id)
                .values(limited_at=now)
                .execution_options(synchronize_session=False)
            )
    return Admission(source_id, workspace_id, SourceKind(kind), retry_after)


@dataclass(frozen=True)
class Outcome:
    text: str  # what became of it, as the source's list shows it
    status: str  # processed | silenced | ignored
    incident_id: uuid.UUID | None = None
    incident_number: int | None = None


async def ingest(
    db: AsyncSession, source_id: uuid.UUID, notification: Notification, now: datetime.datetime, pace: Pace
) -> Outcome:
    """Act on one notification and record it, in one transaction. Two processes racing to open the
    same group: the loser's transaction is rolled back whole and run again, and finds the group open."""
    for attempt in range(3):
        try:
            outcome, outbox = await _ingest_once(db, source_id, notification, now, pace)
        except IntegrityError:
            if attempt == 2:
                raise
            continue
        await outbox.send(now)
        return outcome
    raise AssertionError("unreachable")


async def _ingest_once(
    db: AsyncSession, source_id: uuid.UUID, notification: Notification, now: datetime.datetime, pace: Pace
) -> tuple[Outcome, Outbox]:
    outbox = Outbox([], [])
    async with writing(db):
        if not await lock_row(db, AlertSource, source_id):
            raise NotFound("No such alert source.")
        source = await db.get_one(AlertSource, source_id, populate_existing=True)
        workspace = await db.get_one(Workspace, source.workspace_id, populate_existing=True)
        group = await db.scalar(
            select(AlertGroup).where(
                AlertGroup.source_id == source.id,
                AlertGroup.group_digest == notification.digest,
                AlertGroup.is_open,
            )
        )
        incident = None
        if group is not None:
            await lock_row(db, Incident, group.incident_id)
            incident = await db.get_one(Incident, group.incident_id, populate_existing=True)
            if incident.status == "resolved":  # resolved by a person: the group is free to open anew
                group.is_open = False
                await db.flush()
                group, incident = None, None
        quiet_until = silenced_until(source, workspace, now)
        decision = decide(
            notification,
            frozenset(group.firing) if group is not None else None,
            quiet_until is not None,
            source.auto_resolve,
        )
        by = f"{source.name} ({KIND_NAMES[SourceKind(source.kind)]})"
        if decision.act is Act.OPEN:
            incident, outbox = await _open(db, source, notification, decision, by, now, pace)
            outcome = Outcome(f"opened INC-{incident.number}", "processed")
        elif decision.act is Act.SILENCED:
            assert quiet_until is not None
            outcome = Outcome(
                f"silenced: maintenance until {quiet_until:%Y-%m-%d %H:%M} UTC; opened nothing", "silenced"
            )
        elif decision.act is Act.NOTHING:
            said = (
                "firing with no alerts: opened nothing"
                if notification.firing
                else "resolved, and nothing of this group is open"
            )
            outcome = Outcome(said, "ignored")
        else:
            assert group is not None
            assert incident is not None
            outcome, outbox = await _follow(db, group, incident, notification, decision, by, now)
        if incident is not None:
            outcome = Outcome(outcome.text, outcome.status, incident.id, incident.number)
        db.add(
            DeliveryLog(
                id=uuid.uuid4(),
                workspace_id=source.workspace_id,
                at=now,
                direction="inbound",
                channel=CHANNEL,
                target=str(source.id),
                status=outcome.status,
                error=outcome.text,
                incident_id=outcome.incident_id,
                summary=json.dumps(
                    {
                        "title": notification.title,
                        "firing": notification.firing,
                        "alerts": len(notification.firing_alerts),
                        "group_key": notification.group_key[:200],
                    }
                ),
            )
        )
    return outcome, outbox


async def _open(
    db: AsyncSession,
    source: AlertSource,
    notification: Notification,
    decision: Decision,
    by: str,
    now: datetime.datetime,
    pace: Pace,
) -> tuple[Incident, Outbox]:
    schedule = await db.get(OnCallSchedule, source.schedule_id) if source.schedule_id else None
    policy = await db.get(EscalationPolicy, source.escalation_policy_id) if source.escalation_policy_id else None
    severity = map_severity(notification, source.severity_map or {}, source.default_severity)
    opening = Opening(notification.title, severity, by, "opened")
    incident, outbox = await open_incident(db, source.workspace_id, opening, schedule, policy, now, pace)
    db.add(
        AlertGroup(
            id=uuid.uuid4(),
            source_id=source.id,
            incident_id=incident.id,
            group_key=notification.group_key[:MAX_GROUP_KEY],
            group_digest=notification.digest,
            is_open=True,
            firing=sorted(a.fingerprint for a in notification.firing_alerts),
            links=[list(link) for link in notification.links()],
        )
    )
    await db.flush()  # the unique index speaks now, inside the transaction, if another process won
    names = ", ".join(a.name for a in decision.new[:10])
    more = f" and {len(decision.new) - 10} more" if len(decision.new) > 10 else ""
    text = f"{plural(decision.firing, 'alert')} firing: {names}{more}."
    if notification.message:
        text += f" {notification.message}"
    note_timeline(db, incident.id, "alert", text, now)
    return incident, outbox


async def _follow(
    db: AsyncSession,
    group: AlertGroup,
    incident: Incident,
    notification: Notification,
    decision: Decision,
    by: str,
    now: datetime.datetime,
) -> tuple[Outcome, Outbox]:
    """A notification for the group of an incident still open: added to its timeline, or resolving it."""
    outbox = Outbox([], [])
    number = incident.number
    if decision.act is Act.RESOLVE:
        group.is_open = False
        closed, outbox = await close_locked(db, incident, by, now, where=": every alert of the group resolved")
        return Outcome(f"resolved INC-{number}" if closed.changed else closed.text, "processed"), outbox
    if decision.act is Act.NOTE_RESOLVED:
        group.firing = []
        note_timeline(
            db,
            incident.id,
            "alert",
            f"{by}: every alert of the group resolved. This source does not resolve incidents: resolve INC-{number} "
            "when you are done.",
            now,
        )
        return Outcome(f"noted on INC-{number}: the alerts resolved", "processed"), outbox
    group.firing = sorted(a.fingerprint for a in notification.firing_alerts)
    known = {tuple(link) for link in group.links}
    group.links = (
        group.links
        + [list(link) for link in notification.links() if link not in known][: max(0, MAX_LINKS - len(group.links))]
    )
    if decision.act is Act.SAME:
        return Outcome(
            f"added to INC-{number}: {plural(decision.firing, 'alert')} firing, no change", "processed"
        ), outbox
    parts = [f"{plural(decision.firing, 'alert')} firing"]
    if decision.new:
        parts.append(f"new: {', '.join(a.name for a in decision.new[:10])}")
    if decision.gone:
        parts.append(f"{decision.gone} resolved")
    note_timeline(db, incident.id, "alert", f"{by}: {'; '.join(parts)}.", now)
    return Outcome(f"added to INC-{number}: {'; '.join(parts)}", "processed"), outbox
