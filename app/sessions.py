"""Browser sessions kept in the database (advanced-alchemy's backend), with the id renewed at login."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar.session import SQLAlchemyAsyncSessionBackend
from litestar.connection import ASGIConnection
from litestar.types import Empty, Message, ScopeSession

ROTATE_FLAG = "vigilo.rotate_session"


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

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if not scope_session or scope_session is Empty:
            if connection.cookies.get(self.config.key) in {None, "", "null"}:
                return
            scope_session = Empty
        await super().store_in_message(scope_session, message, connection)


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Ask for a new session id on this response (call before setting the logged-in session)."""
    connection.scope[ROTATE_FLAG] = True  # type: ignore[literal-required]
