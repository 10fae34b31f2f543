"""Transactions for units of work that write, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from app.db.engine import WRITE_OPTION


@asynccontextmanager
async def writing(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    """One write transaction: committed when the block ends, rolled back when it raises.

    Whatever the session read before (the caller's identity, say) is committed first, so the unit
    of work starts clean and never holds a lock past its own end. On SQLite it begins IMMEDIATE and
    so holds the one write lock from its first statement, which makes read-then-write safe there.
    """
    if db.in_transaction():
        await db.commit()
    await db.connection(execution_options={WRITE_OPTION: True})
    try:
        yield db
    except BaseException:
        await db.rollback()
        raise
    await db.commit()


async def lock_row(db: AsyncSession, model: type[DeclarativeBase], row_id: uuid.UUID) -> bool:
    """Lock one row until the transaction ends (SQLite's IMMEDIATE transaction already serialises
    writers). False when the row does not exist.

    FOR NO KEY UPDATE, not FOR UPDATE: it serialises the units of work that lock the same row, but
    lets others insert rows that refer to it (their foreign-key check takes FOR KEY SHARE). With FOR
    UPDATE, declaring (workspace row, then the person paged) and escalating (the person, then a
    delivery row referring to the workspace) deadlocked under load."""
    found = await db.scalar(
        select(model.id).where(model.id == row_id).with_for_update(key_share=True)  # type: ignore[attr-defined]
    )
    return found is not None


T = TypeVar("T")
_RETRYABLE = {"40P01", "40001"}  # deadlock detected, serialization failure: PostgreSQL rolled us back


async def retrying(unit: Callable[[], Awaitable[T]], tries: int = 3) -> T:
    """Run a unit of work again when PostgreSQL chose it as a deadlock's victim (its transaction was
    rolled back whole, so running it again is safe). Deleting a policy, a schedule or a PagerDuty
    connection sets a column of the incidents or pages that refer to it to NULL, and so meets the
    escalation worker on those rows in the other order."""
    for attempt in range(tries):
        try:
            return await unit()
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE or attempt == tries - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
