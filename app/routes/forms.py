"""Form bodies for the HTML routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from litestar.enums import RequestEncodingType
from litestar.params import Body

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
# A form with fields that repeat (multi-selects, checkboxes): a repeated field's value is a list.
MultiForm = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_FIELD_LENGTH = 2000
T = TypeVar("T")


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


def apply_row_action(rows: list[T], action: str, blank: Callable[[], T], limit: int) -> bool:
    """Add, remove or move one of a form's rows in place ("add", "remove-2", "up-1", "down-0"), so
    forms with rows work without JavaScript; True when `action` was such an action (nothing saved)."""
    verb, _, raw_index = action.partition("-")
    if verb == "add":
        if len(rows) < limit:
            rows.append(blank())
        return True
    if not raw_index.isdigit():
        return False
    index = int(raw_index)
    if not 0 <= index < len(rows):
        return True
    if verb == "remove":
        del rows[index]
        if not rows:
            rows.append(blank())
    elif verb == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index < len(rows) - 1:
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return verb in {"remove", "up", "down"}
