"""The migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.config import Settings
from app.db.engine import create_engine
from app.db.models import UUIDBase


def _diff(connection: Connection) -> list[Any]:
    # SQLite column types are only affinities (a UUID reads back as NUMERIC), so types are compared on PostgreSQL.
    compare_types = connection.dialect.name == "postgresql"
    context = MigrationContext.configure(connection, opts={"compare_type": compare_types})
    return list(compare_metadata(context, UUIDBase.metadata))


async def test_migrated_schema_matches_the_models(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    async with engine.connect() as connection:
        diff = await connection.run_sync(_diff)
        if connection.dialect.name == "postgresql":
            exclusion = await connection.scalar(
                text("SELECT count(*) FROM pg_constraint WHERE conname = 'ex_oncall_slot_no_overlap' AND contype = 'x'")
            )
            assert exclusion == 1
        else:
            assert (await connection.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await connection.scalar(text("PRAGMA foreign_keys"))) == 1
            assert (await connection.scalar(text("PRAGMA busy_timeout"))) > 0
    await engine.dispose()
    assert diff == [], diff
