"""Validation of a person's contact details: email, E.164 phone, Slack id, IANA time zone."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 120


class InvalidContact(ValueError):
    """A contact field is malformed; `field` names it for the form or the problem detail."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def normalise_email(raw: str) -> str:
    """Lower-cased, trimmed email, or InvalidContact('email')."""
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise InvalidContact("email", "Enter an email address such as alice@example.com.")
    return email


def normalise_display_name(raw: str) -> str:
    """Trimmed display name of 1 to 120 characters, or InvalidContact('display_name')."""
    name = " ".join(raw.split())
    if not name:
        raise InvalidContact("display_name", "Enter a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidContact("display_name", f"Keep the name under {MAX_NAME_LENGTH} characters.")
    return name


def normalise_phone(raw: str) -> str | None:
    """An E.164 number (spaces, dashes and brackets dropped), None when blank, or InvalidContact('phone')."""
    compact = re.sub(r"[\s\-().]", "", raw)
    if not compact:
        return None
    if not _E164.match(compact):
        raise InvalidContact("phone", "Enter the number in international E.164 form, such as +15551234567.")
    return compact


def normalise_slack_user_id(raw: str) -> str | None:
    """A Slack member id such as U024BE7LH, None when blank, or InvalidContact('slack_user_id')."""
    value = raw.strip().upper()
    if not value:
        return None
    if not _SLACK_USER_ID.match(value):
        raise InvalidContact("slack_user_id", "A Slack member id looks like U024BE7LH (Profile → ⋮ → Copy member ID).")
    return value


def parse_zone(raw: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA zone named by `raw` (e.g. Europe/Berlin), or InvalidContact naming `field`."""
    name = raw.strip()
    if name not in _zone_names():
        raise InvalidContact(field, f"{name or 'An empty value'!s} is not an IANA time zone such as Europe/Berlin.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidContact(field, f"{name} is not an IANA time zone such as Europe/Berlin.") from None


def is_e164(number: str) -> bool:
    """True for a well-formed E.164 number."""
    return bool(_E164.match(number))


_ZONES: frozenset[str] = frozenset()


def _zone_names() -> frozenset[str]:
    global _ZONES  # noqa: PLW0603 - computed once; available_timezones() walks the disk
    if not _ZONES:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def zone_choices() -> list[str]:
    """Every IANA zone name, sorted, for pickers."""
    return sorted(_zone_names())
