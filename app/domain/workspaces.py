"""What a workspace's slug may be: it sits in every URL (/ws/{slug}/), so it is plain and never one
of the words the app's own paths use."""

from __future__ import annotations

import re

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
RESERVED = frozenset(
    {
        "api", "integrations", "static", "schema", "setup", "login", "logout", "invite", "invitations",
        "password", "workspaces", "healthz", "metrics", "admin", "ws", "new", "settings", "feeds",
    }
)  # fmt: skip


class InvalidSlug(ValueError):
    """The slug breaks a rule; the message says which."""


def check_slug(raw: str) -> str:
    """The slug, trimmed; InvalidSlug when it is not 1-64 lower-case letters, digits and dashes
    (no dash at either end) or is a reserved word."""
    slug = raw.strip()
    if not SLUG.match(slug):
        raise InvalidSlug(
            "Use 1 to 64 lower-case letters, digits and dashes, starting and ending with a letter or digit."
        )
    if slug in RESERVED:
        raise InvalidSlug(f"“{slug}” is reserved for the app's own pages; choose another.")
    return slug
