"""The incident timeline: every decision and outcome, in plain words, in the order it happened."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import TimelineEntry


def note(db: AsyncSession, incident_id: uuid.UUID, kind: str, message: str, now: datetime.datetime) -> None:
    """Add an entry to the incident's timeline (in the caller's transaction)."""
    db.add(TimelineEntry(incident_id=incident_id, at=now, kind=kind, message=message))
