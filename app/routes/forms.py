"""Form bodies for the HTML routes."""

from __future__ import annotations

from typing import Annotated

from litestar.enums import RequestEncodingType
from litestar.params import Body

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_FIELD_LENGTH = 2000


def field(data: dict[str, str], name: str) -> str:
    """The trimmed value of `name` (empty when missing), without NUL characters (PostgreSQL cannot store
    them), cut to a sane length."""
    return data.get(name, "").replace("\x00", "").strip()[:MAX_FIELD_LENGTH]
