"""Secrets kept in the database (PagerDuty routing keys, webhook secrets, API keys), encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under a key derived with HKDF from
VIGILO_SECRET_KEY: a copy of the database alone reveals nothing. After the secret key changes, an old
value no longer opens (`unseal` returns None) and the person is asked to enter it again; nothing crashes.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"vigilo sealed secrets v1"


@functools.lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, value: str) -> str:
    return _fernet(secret_key).encrypt(value.encode()).decode()


def unseal(secret_key: str, sealed: str | None) -> str | None:
    """The value, or None when it was sealed under another secret key (or is not a sealed value)."""
    if not sealed:
        return None
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def hint(value: str) -> str:
    """The value masked, its last four characters kept: "••••abcd"."""
    return "••••" + value[-4:] if len(value) > 8 else "••••"
