"""Browser sessions kept in the database (advanced-alchemy's backend), with the id renewed at login."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar.session import SQLAlchemyAsyncSessionBackend
from litestar.connection import ASGIConnection

ROTATE_FLAG = "vigilo.rotate_session"


class RotatingSessionBackend(SQLAlchemyAsyncSessionBackend):
    """Issue a fresh session id when the handler asks, so an id planted before login is worthless."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        if connection.scope.get(ROTATE_FLAG):
            fresh = connection.get_session_id()
            if not fresh:
                fresh = self.generate_session_id()
                connection._connection_state.session_id = fresh
            return fresh
        return super().get_session_id(connection)


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Ask for a new session id on this response (call before setting the logged-in session)."""
    connection.scope[ROTATE_FLAG] = True  # type: ignore[literal-required]
