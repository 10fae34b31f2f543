"""Calendar feeds: secret iCal (RFC 5545) URLs of a person's shifts across the workspace or of one
schedule's, written with the `icalendar` package.

Each person creates and revokes their own (a schedule feed: anyone who may view the schedule). The
token is stored as its SHA-256 and shown once. A feed answers with every shift that ends after 30
days ago, up to the end of the horizon; each shift is one event whose UID comes from its schedule,
person and start, with SEQUENCE and LAST-MODIFIED rising when one of its slots changes; times in UTC.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import icalendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import CalendarFeed, Membership, OnCallSchedule, UserProfile, Workspace
from app.db.transactions import writing
from app.domain.shifts import Shift
from app.services.errors import FieldError, NotFound, parse_id
from app.services.identity import WorkspaceAccess
from app.services.shifts import people_of, person_shifts, schedule_shifts

FEED_PATH = "/calendar/"  # + token + ".ics"
HISTORY = datetime.timedelta(days=30)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_urls(public_url: str, token: str) -> tuple[str, str]:
    """(https URL, webcal URL) of a feed."""
    url = f"{public_url}{FEED_PATH}{token}.ics"
    parts = urlsplit(url)
    return url, urlunsplit(("webcal", *parts[1:]))


@dataclass(frozen=True)
class FeedView:
    feed: CalendarFeed
    schedule: OnCallSchedule | None

    @property
    def label(self) -> str:
        return f"Schedule {self.schedule.name}" if self.schedule is not None else "My shifts (every schedule)"


async def create_feed(
    db: AsyncSession, access: WorkspaceAccess, schedule_id: str | uuid.UUID | None, now: datetime.datetime
) -> tuple[CalendarFeed, str]:
    """A feed of the caller's shifts (no schedule) or of a schedule they may view; returns the token
    (shown once)."""
    token = secrets.token_urlsafe(24)
    async with writing(db):
        schedule_uuid: uuid.UUID | None = None
        if schedule_id:
            try:
                schedule = await db.get(OnCallSchedule, uuid.UUID(str(schedule_id)))
            except ValueError:
                schedule = None
            if schedule is None or schedule.workspace_id != access.workspace.id:
                raise FieldError.one("schedule_id", "Choose a schedule of this workspace.")
            schedule_uuid = schedule.id
        feed = CalendarFeed(
            id=uuid.uuid4(),
            workspace_id=access.workspace.id,
            user_id=access.user.id,
            schedule_id=schedule_uuid,
            token_hash=_digest(token),
        )
        db.add(feed)
        await db.flush()
    return feed, token


async def revoke_feed(
    db: AsyncSession, access: WorkspaceAccess, feed_id: str | uuid.UUID, now: datetime.datetime
) -> None:
    """Revoke one of the caller's own feeds (another's, or a revoked one, is not found)."""
    async with writing(db):
        feed = await db.get(CalendarFeed, parse_id(feed_id, "calendar feed"))
        if (
            feed is None
            or feed.workspace_id != access.workspace.id
            or feed.user_id != access.user.id
            or feed.revoked_at is not None
        ):
            raise NotFound("No such calendar feed.")
        feed.revoked_at = now


async def my_feeds(db: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> list[FeedView]:
    rows = (
        await db.execute(
            select(CalendarFeed, OnCallSchedule)
            .outerjoin(OnCallSchedule, OnCallSchedule.id == CalendarFeed.schedule_id)
            .where(
                CalendarFeed.workspace_id == workspace_id,
                CalendarFeed.user_id == user_id,
                CalendarFeed.revoked_at.is_(None),
            )
            .order_by(CalendarFeed.created_at)
        )
    ).all()
    await db.commit()
    return [FeedView(feed, schedule) for feed, schedule in rows]


# ---------------------------------------------------------------- the feed itself


async def render_feed(db: AsyncSession, token: str, now: datetime.datetime, public_url: str) -> bytes | None:
    """The iCal text of the feed with this token; None for an unknown or revoked token, or a feed
    whose owner is no longer an active member of its workspace."""
    if not token or len(token) > 128:
        return None
    row = (
        await db.execute(
            select(CalendarFeed, Membership, Workspace)
            .join(
                Membership,
                (Membership.workspace_id == CalendarFeed.workspace_id) & (Membership.user_id == CalendarFeed.user_id),
            )
            .join(Workspace, Workspace.id == CalendarFeed.workspace_id)
            .where(CalendarFeed.token_hash == _digest(token))
        )
    ).first()
    if row is None:
        await db.commit()
        return None
    feed, membership, workspace = row
    if feed.revoked_at is not None or not membership.is_active:
        await db.commit()
        return None
    since = now - HISTORY
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Vigilo On-call//Calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    base = f"{public_url}/ws/{workspace.slug}"
    if feed.schedule_id is None:
        owner = await db.get_one(UserProfile, feed.user_id)
        calendar.add("x-wr-calname", f"On call: {owner.display_name} ({workspace.name})")
        for shift, schedule in await person_shifts(db, workspace.id, owner.id, since):
            calendar.add_component(_event(shift, schedule, f"On call: {schedule.name}", base))
    else:
        schedule = await db.get_one(OnCallSchedule, feed.schedule_id)
        calendar.add("x-wr-calname", f"{schedule.name} on call ({workspace.name})")
        shifts = await schedule_shifts(db, schedule.id, since)
        people = await people_of(db, {s.user_id for s in shifts})
        for shift in shifts:
            person = people.get(shift.user_id)
            name = person.display_name if person is not None else "someone"
            calendar.add_component(_event(shift, schedule, f"{name} — {schedule.name}", base))
    await db.commit()
    return bytes(calendar.to_ical())


def _event(shift: Shift, schedule: OnCallSchedule, summary: str, base: str) -> icalendar.Event:
    event = icalendar.Event()
    link = f"{base}/oncall/schedules/{schedule.id}"
    event.add("uid", shift.uid)
    event.add("dtstamp", shift.last_modified.astimezone(datetime.UTC))
    event.add("dtstart", shift.start.astimezone(datetime.UTC))
    event.add("dtend", shift.end.astimezone(datetime.UTC))
    event.add("summary", summary + (" (override)" if shift.is_override else ""))
    event.add("description", f"{summary}. Schedule: {link}")
    event.add("url", link)
    event.add("sequence", shift.sequence)
    event.add("last-modified", shift.last_modified.astimezone(datetime.UTC))
    event.add("transp", "TRANSPARENT")
    return event
