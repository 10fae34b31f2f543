"""What the JSON API accepts as text.

PostgreSQL cannot store or even compare a string holding a NUL character (psycopg refuses the
query), so a `\\u0000` in any field would end as a 500 there while SQLite took it. Refusing it at the
edge makes both databases answer the same 422 naming the field, and the OpenAPI says so.
"""

from __future__ import annotations

import datetime
from typing import Annotated

import msgspec

from app.domain.schedules import parse_instant
from app.services.errors import FieldError

Text = Annotated[str, msgspec.Meta(pattern=r"^[^\x00]*$", description="Any text without NUL characters.")]


def instant_param(raw: str | None, field: str, default: datetime.datetime) -> datetime.datetime:
    """A query parameter holding an instant (ISO 8601 with an offset); 422 naming it when malformed."""
    errors: dict[str, str] = {}
    parsed = parse_instant(raw, field, errors)
    if errors:
        raise FieldError(errors)
    return parsed or default
