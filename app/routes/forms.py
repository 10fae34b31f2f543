"""Form bodies for the HTML routes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar.enums import RequestEncodingType
from litestar.params import Body

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
# A form with fields that repeat (multi-selects, checkboxes): a repeated field's value is a list.
MultiForm = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_FIELD_LENGTH = 2000


def field(data: dict[str, str], name: str) -> str:
    """The trimmed value of `name` (empty when missing), without NUL characters (PostgreSQL cannot store
    them), cut to a sane length."""
    return data.get(name, "").replace("\x00", "").strip()[:MAX_FIELD_LENGTH]


_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def when_field(data: dict[str, str], name: str) -> str:
    """A moment typed as a date beside a 24-hour HH:MM (`<name>_date`, `<name>_time`; browsers' own
    datetime inputs show AM/PM in some locales), as "YYYY-MM-DDTHH:MM" for the usual parsing. A post
    with the single `<name>` field (older pages, scripts) is read as it is."""
    date, clock = field(data, f"{name}_date"), field(data, f"{name}_time")
    if not date and not clock:
        return field(data, name)
    match = _CLOCK.match(clock)
    if match:
        clock = f"{int(match.group(1)):02d}:{match.group(2)}"
    return f"{date}T{clock}"  # a bad half makes the whole unreadable, and the form says so
