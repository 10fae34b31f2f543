"""Transactions for units of work that write, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from app.db.engine import WRITE_OPTION


async def begin_write(db: AsyncSession) -> None:
    """Start a fresh transaction that will write.

    Whatever the session read so far (the caller's identity, say) is committed first, so the write
    transaction starts clean; on SQLite it begins IMMEDIATE and so holds the one write lock from its
    first statement, which makes read-then-write units of work safe there.
    """
    if db.in_transaction():
        await db.commit()
    await db.connection(execution_options={WRITE_OPTION: True})


async def lock_row(db: AsyncSession, model: type[DeclarativeBase], row_id: uuid.UUID) -> bool:
    """Lock one row until the transaction ends (FOR UPDATE; SQLite's IMMEDIATE transaction already
    serialises writers). False when the row does not exist."""
    found = await db.scalar(select(model.id).where(model.id == row_id).with_for_update())  # type: ignore[attr-defined]
    return found is not None
