"""One-time secrets in links and codes: random, shown once, stored only as a SHA-256 hash (they are
long random strings, so a fast hash is enough and lets us look them up)."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A URL-safe random token for a link."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(token.strip().encode()).hexdigest()
