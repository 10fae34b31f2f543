"""Browser sessions kept in the database (advanced-alchemy's backend), with the id renewed at login."""

from __future__ import annotations

import time
from typing import Any

from advanced_alchemy.extensions.litestar.session import SESSION_ID_MAX_LENGTH, SQLAlchemyAsyncSessionBackend
from litestar.connection import ASGIConnection
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession

ROTATE_FLAG = "vigilo.rotate_session"
LOADED_KEY = "vigilo.session_loaded"
REFRESHED = "_refreshed"
REFRESH_EVERY = 3600  # seconds: an unchanged session is written back (and its expiry renewed) at most hourly


class RotatingSessionBackend(SQLAlchemyAsyncSessionBackend):
    """Issue a fresh session id when the handler asks, so an id planted before login is worthless;
    and store nothing for anonymous visitors (Litestar would save an empty session per request)."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        if connection.scope.get(ROTATE_FLAG):
            fresh = connection.get_session_id()
            if not fresh:
                fresh = self.generate_session_id()
                connection._connection_state.session_id = fresh
            return fresh
        return super().get_session_id(connection)

    async def get(self, /, session_id: str, store: Store) -> bytes | None:
        """Read the session without touching it: the library's read-then-update would take SQLite's
        write lock on every request (and fail when another writer got in between); the expiry is
        renewed by `set` on the response instead, and expired rows are purged by a periodic job."""
        async with self.alchemy.get_session() as db_session:
            row = await self._get_session_obj(db_session=db_session, session_id=session_id[:SESSION_ID_MAX_LENGTH])
            if row is None or row.is_expired:
                return None
            return row.data

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        connection.scope[LOADED_KEY] = dict(data)  # type: ignore[literal-required]
        return data

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if not scope_session or scope_session is Empty:
            if connection.cookies.get(self.config.key) in {None, "", "null"}:
                return
            scope_session = Empty
        elif isinstance(scope_session, dict) and not connection.scope.get(ROTATE_FLAG):
            loaded = connection.scope.get(LOADED_KEY)
            fresh = time.time() - float(scope_session.get(REFRESHED, 0)) < REFRESH_EVERY
            if loaded == scope_session and fresh:
                # Unchanged and recently renewed: no write. Each write would need a second pooled
                # connection while the request still holds its own, on every page view.
                return
            if not fresh:
                scope_session = {**scope_session, REFRESHED: time.time()}
        await super().store_in_message(scope_session, message, connection)


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Ask for a new session id on this response (call before setting the logged-in session)."""
    connection.scope[ROTATE_FLAG] = True  # type: ignore[literal-required]
