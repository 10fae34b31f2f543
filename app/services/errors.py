"""Errors services raise; routes turn them into form messages or problem details."""

from __future__ import annotations

import uuid


class FieldError(Exception):
    """Invalid input; `errors` maps each field name to its message. Nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors

    @classmethod
    def one(cls, field: str, message: str) -> FieldError:
        return cls({field: message})


class NotFound(Exception):
    """The object does not exist, or not in this workspace."""


class Forbidden(Exception):
    """The caller's role is too low for this action; `field` names the form field it is about, if any."""

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(Exception):
    """The change collides with existing state (e.g. an overlapping override)."""


def parse_id(raw: object, what: str) -> uuid.UUID:
    """The UUID in `raw`; a malformed id is simply an unknown one (NotFound naming `what`)."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound(f"No such {what}.") from None
