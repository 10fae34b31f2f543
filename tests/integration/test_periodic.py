"""The lease that makes each periodic job run once per interval, and the rotation extender."""

from __future__ import annotations

import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.periodic import claim

T0 = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


async def test_one_claim_per_interval(db: AsyncSession) -> None:
    assert await claim(db, "job", MINUTE, T0) is True
    assert await claim(db, "job", MINUTE, T0) is False
    assert await claim(db, "job", MINUTE, T0 + datetime.timedelta(seconds=59)) is False
    assert await claim(db, "job", MINUTE, T0 + MINUTE) is True
    assert await claim(db, "other", MINUTE, T0) is True
