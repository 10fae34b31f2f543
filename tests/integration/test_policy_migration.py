"""Migration 0008 on both databases: an incident open on the single hop when the installation upgrades
escalates exactly as before (primary → after the delay → the backup frozen on its page, once), and a
wake-up message queued before the upgrade (it names the page) still finds its incident."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.models import Incident, Page, TimelineEntry
from app.domain.escalation import Chain, TargetKind
from app.services.paging import Pace, due_incident_ids, escalate_due
from tests.conftest import POSTGRES_URL, _admin_conninfo, _database_url, require_service

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
PACE = Pace(60.0, "http://testserver.local")


def _table(name: str, *columns: tuple[str, Any]) -> sa.TableClause:
    return sa.table(name, *(sa.column(column, kind) for column, kind in columns))


ID, AT = GUID(length=16), DateTimeUTC(timezone=True)
AUDIT = (("created_at", AT), ("updated_at", AT))
USERS = _table(
    "user_profile",
    ("id", ID),
    ("email", sa.String()),
    ("display_name", sa.String()),
    ("phone", sa.String()),
    ("phone_verified_at", AT),
    ("time_zone", sa.String()),
    *AUDIT,
)
WORKSPACES = _table("workspace", ("id", ID), ("slug", sa.String()), ("name", sa.String()), *AUDIT)
MEMBERSHIPS = _table(
    "membership",
    ("id", ID),
    ("workspace_id", ID),
    ("user_id", ID),
    ("role", sa.String()),
    ("is_active", sa.Boolean()),
    *AUDIT,
)
SCHEDULES = _table(
    "oncall_schedule",
    ("id", ID),
    ("workspace_id", ID),
    ("name", sa.String()),
    ("rotation", sa.String()),
    ("handoff_time", sa.Time()),
    ("time_zone", sa.String()),
    ("rotation_start", AT),
    ("escalation_delay_minutes", sa.Integer()),
    ("escalation_to_id", ID),
    ("is_active", sa.Boolean()),
    ("horizon_weeks", sa.Integer()),
    *AUDIT,
)
INCIDENTS = _table(
    "incident",
    ("id", ID),
    ("workspace_id", ID),
    ("number", sa.Integer()),
    ("title", sa.String()),
    ("severity", sa.String()),
    ("status", sa.String()),
    ("schedule_id", ID),
    *AUDIT,
)
PAGES = _table(
    "page",
    ("id", ID),
    ("incident_id", ID),
    ("user_id", ID),
    ("step", sa.Integer()),
    ("status", sa.String()),
    ("sent_at", AT),
    ("deadline", AT),
    ("reply_code", sa.Integer()),
    ("backup_user_id", ID),
    *AUDIT,
)

SLOTS = _table(
    "oncall_slot",
    ("id", ID),
    ("schedule_id", ID),
    ("user_id", ID),
    ("start_time", AT),
    ("end_time", AT),
    ("is_override", sa.Boolean()),
    *AUDIT,
)
MEMBERS = _table("rotation_member", ("id", ID), ("schedule_id", ID), ("user_id", ID), ("position", sa.Integer()))
DELIVERIES = _table(
    "delivery_log",
    ("id", ID),
    ("workspace_id", ID),
    ("at", AT),
    ("direction", sa.String()),
    ("channel", sa.String()),
    ("target", sa.String()),
    ("status", sa.String()),
    ("incident_id", ID),
    ("page_id", ID),
    ("summary", sa.Text()),
    ("attempts", sa.Integer()),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'upgraded.db'}"
        return
    base = require_service("postgres", POSTGRES_URL)
    name = f"vigilo_m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _database_url(base, name)
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _at_0007_with_open_incidents(url: str) -> dict[str, uuid.UUID]:
    """Ann on call for Ops (backup Ben, 15 min); INC-1 open with Ann's page due a second ago; INC-2
    acknowledged; INC-3 open on a schedule without a backup."""
    await asyncio.to_thread(upgrade, url, "0007")
    ids = {key: uuid.uuid4() for key in ("ann", "ben", "ws", "ops", "solo", "inc1", "inc2", "inc3", "page1", "page3")}
    audit = {"created_at": NOW, "updated_at": NOW}
    engine = create_engine(url)
    async with engine.begin() as connection:
        for key, phone in (("ann", "+15550000101"), ("ben", "+15550000102")):
            await connection.execute(
                USERS.insert().values(
                    id=ids[key],
                    email=f"{key}@acme.test",
                    display_name=key.title(),
                    phone=phone,
                    phone_verified_at=NOW,
                    time_zone="UTC",
                    **audit,
                )
            )
        await connection.execute(WORKSPACES.insert().values(id=ids["ws"], slug="acme", name="Acme", **audit))
        for key in ("ann", "ben"):
            await connection.execute(
                MEMBERSHIPS.insert().values(
                    id=uuid.uuid4(), workspace_id=ids["ws"], user_id=ids[key], role="member", is_active=True, **audit
                )
            )
        # Solo has a backup now, but INC-3 opened when it had none (its page froze none): the upgrade
        # must not invent one for a running incident.
        for key, name, backup in (("ops", "Ops", ids["ben"]), ("solo", "Solo", ids["ben"])):
            await connection.execute(
                SCHEDULES.insert().values(
                    id=ids[key],
                    workspace_id=ids["ws"],
                    name=name,
                    rotation="daily",
                    handoff_time=datetime.time(9, 0),
                    time_zone="UTC",
                    rotation_start=NOW - datetime.timedelta(days=1),
                    escalation_delay_minutes=15,
                    escalation_to_id=backup,
                    is_active=True,
                    horizon_weeks=8,
                    **audit,
                )
            )
        for number, key, status, schedule in ((1, "inc1", "triggered", "ops"), (2, "inc2", "acknowledged", "ops")):
            await connection.execute(
                INCIDENTS.insert().values(
                    id=ids[key],
                    workspace_id=ids["ws"],
                    number=number,
                    title=f"Incident {number}",
                    severity="SEV2",
                    status=status,
                    schedule_id=ids[schedule],
                    **audit,
                )
            )
        await connection.execute(
            INCIDENTS.insert().values(
                id=ids["inc3"],
                workspace_id=ids["ws"],
                number=3,
                title="Incident 3",
                severity="SEV3",
                status="triggered",
                schedule_id=ids["solo"],
                **audit,
            )
        )
        await connection.execute(
            SLOTS.insert().values(
                id=uuid.uuid4(),
                schedule_id=ids["ops"],
                user_id=ids["ann"],
                start_time=NOW - datetime.timedelta(days=1),
                end_time=NOW + datetime.timedelta(days=1),
                is_override=False,
                **audit,
            )
        )
        await connection.execute(
            MEMBERS.insert().values(id=uuid.uuid4(), schedule_id=ids["ops"], user_id=ids["ann"], position=0)
        )
        due = NOW - datetime.timedelta(seconds=1)
        for page, incident, backup in (("page1", "inc1", ids["ben"]), ("page3", "inc3", None)):
            await connection.execute(
                PAGES.insert().values(
                    id=ids[page],
                    incident_id=ids[incident],
                    user_id=ids["ann"],
                    step=0,
                    status="pending",
                    sent_at=NOW - datetime.timedelta(minutes=15),
                    deadline=due,
                    reply_code=1 if page == "page1" else 2,
                    backup_user_id=backup,
                    **audit,
                )
            )
        await connection.execute(
            DELIVERIES.insert().values(
                id=uuid.uuid4(),
                workspace_id=ids["ws"],
                at=NOW,
                direction="outbound",
                channel="sms",
                target="+15550000101",
                status="sent",
                incident_id=ids["inc1"],
                page_id=ids["page1"],
                summary="",
                attempts=1,
            )
        )
    await engine.dispose()
    return ids


async def test_upgrading_loses_nothing(empty_database_url: str) -> None:
    """SQLite rebuilds tables to alter them; with foreign keys enforced, dropping the old table would
    cascade into slots, rotation members and deliveries. Nothing that was there is gone after."""
    url = empty_database_url
    ids = await _at_0007_with_open_incidents(url)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    async with engine.connect() as connection:
        assert (await connection.execute(sa.select(SLOTS.c.user_id))).scalars().all() == [ids["ann"]]
        assert (await connection.execute(sa.select(MEMBERS.c.user_id))).scalars().all() == [ids["ann"]]
        assert (await connection.execute(sa.select(DELIVERIES.c.page_id))).scalars().all() == [ids["page1"]]
        schedules = (await connection.execute(sa.select(INCIDENTS.c.schedule_id).order_by(INCIDENTS.c.number))).all()
        assert [row[0] for row in schedules] == [ids["ops"], ids["ops"], ids["solo"]]
    await engine.dispose()


async def test_an_open_incident_on_the_single_hop_escalates_as_before(empty_database_url: str) -> None:
    url = empty_database_url
    ids = await _at_0007_with_open_incidents(url)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async with sessions() as db:
        first = await db.get_one(Incident, ids["inc1"])
        chain = Chain.from_json(first.chain or {})
        # The chain it was running: Ops' primary, then (15 min later) the backup frozen on Ann's page.
        assert [(s.delay_minutes, [(t.kind, t.id, t.name) for t in s.targets]) for s in chain.steps] == [
            (15, [(TargetKind.SCHEDULE, ids["ops"], "Ops")]),
            (15, [(TargetKind.USER, ids["ben"], "Ben")]),
        ]
        assert (first.chain_step, first.chain_round, chain.repeat) == (0, 0, 0)
        assert first.escalation_due_at == NOW - datetime.timedelta(seconds=1)
        acknowledged = await db.get_one(Incident, ids["inc2"])
        assert acknowledged.escalation_due_at is None
        page = await db.get_one(Page, ids["page1"])
        assert (page.step, page.round) == (0, 0)
        # The sweeper finds both open incidents whose step ran out.
        assert set(await due_incident_ids(db, NOW)) == {ids["inc1"], ids["inc3"]}

    async with sessions() as db:
        # A wake-up queued before the upgrade names the page; it still moves INC-1 on, once.
        assert await escalate_due(db, ids["page1"], NOW, PACE) is None
    async with sessions() as db:
        # Again: nothing twice; it is told to sleep until the backup's own deadline.
        assert await escalate_due(db, ids["inc1"], NOW, PACE) == NOW + datetime.timedelta(minutes=15)
        pages = list(await db.scalars(select(Page).where(Page.incident_id == ids["inc1"]).order_by(Page.step)))
        assert [(p.user_id, p.step, p.round, p.status) for p in pages] == [
            (ids["ann"], 0, 0, "escalated"),
            (ids["ben"], 1, 0, "pending"),
        ]
        notes = [
            e.message
            for e in await db.scalars(
                select(TimelineEntry).where(TimelineEntry.incident_id == ids["inc1"]).order_by(TimelineEntry.id)
            )
        ]
        assert notes == [
            "No acknowledgement within 15 min of step 1 of 2.",
            "Paging Ben (backup) by SMS, step 2 of 2.",
            "The last step: if nobody acknowledges within 15 min, the chain ends.",
        ]
        incident = await db.get_one(Incident, ids["inc1"])
        assert incident.escalation_due_at == NOW + datetime.timedelta(minutes=15)

    async with sessions() as db:
        # INC-3 froze no backup when it opened: its chain is the one step, which now ends, as before.
        assert await escalate_due(db, ids["inc3"], NOW, PACE) is None
        notes = [
            e.message for e in await db.scalars(select(TimelineEntry).where(TimelineEntry.incident_id == ids["inc3"]))
        ]
        assert notes == ["Nobody acknowledged INC-3 after 1 step."]
        assert (await db.get_one(Page, ids["page3"])).status == "escalated"
        await db.commit()
    await engine.dispose()
