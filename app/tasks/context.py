"""The database as actors see it: one engine per worker process, made on first use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.engine import create_engine

_state: dict[str, object] = {}


def use_settings(settings: Settings) -> None:
    """Point actors at `settings` (the web process in embedded mode, `vigilo worker`, tests)."""
    _state.clear()
    _state["settings"] = settings


def task_settings() -> Settings:
    settings = _state.get("settings")
    if not isinstance(settings, Settings):
        settings = Settings.from_env()
        _state["settings"] = settings
    return settings


def _engine() -> AsyncEngine:
    # Made lazily on the worker's event-loop thread: async connections belong to the loop that opened them.
    engine = _state.get("engine")
    if not isinstance(engine, AsyncEngine):
        engine = create_engine(task_settings().database_url, pool_size=5)
        _state["engine"] = engine
    return engine


@asynccontextmanager
async def task_session() -> AsyncIterator[AsyncSession]:
    """A session for one actor run; services open and commit their own write transactions."""
    maker = async_sessionmaker(_engine(), expire_on_commit=False)
    async with maker() as session:
        yield session


async def dispose() -> None:
    engine = _state.pop("engine", None)
    if isinstance(engine, AsyncEngine):
        await engine.dispose()
