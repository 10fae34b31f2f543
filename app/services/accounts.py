"""People and their credentials: users, password checks with throttling, profiles."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import LoginFailure, Membership, UserProfile, Workspace
from app.db.transactions import lock_row, writing
from app.domain.contact import (
    InvalidContact,
    normalise_display_name,
    normalise_email,
    normalise_phone,
    normalise_slack_user_id,
    parse_zone,
)
from app.domain.login_throttle import WINDOW, decide_throttle
from app.domain.voice import parse_paging_choice
from app.services.errors import FieldError

_hasher = PasswordHasher()
# A hash of a random password, checked when the email is unknown so both paths take as long.
_DUMMY_HASH = _hasher.hash("not-a-real-password-but-the-same-cost")

MIN_PASSWORD_LENGTH = 8


class LoginThrottled(Exception):
    """Too many recent failures for this email from this address."""

    def __init__(self, retry_after: datetime.timedelta) -> None:
        super().__init__("Too many failed attempts.")
        self.retry_after = retry_after


class BadCredentials(Exception):
    """Email or password wrong (deliberately not saying which)."""


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    """Refuse passwords that are too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise FieldError.one("password", f"Use at least {MIN_PASSWORD_LENGTH} characters.")


async def authenticate(
    db: AsyncSession, email: str, password: str, address: str, now: datetime.datetime
) -> UserProfile:
    """The user whose email and password match, after the throttle check (app/domain/login_throttle.py);
    failures are recorded."""
    email = email.strip().lower()[:254]
    address = address[:64]
    since = now - WINDOW
    pair = await db.execute(
        select(func.count(), func.min(LoginFailure.at)).where(
            LoginFailure.email == email, LoginFailure.address == address, LoginFailure.at > since
        )
    )
    pair_count, oldest = pair.one()
    by_email = await db.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.email == email, LoginFailure.at > since)
    )
    await db.commit()
    decision = decide_throttle(pair_count or 0, oldest, by_email or 0, now)
    if decision.locked_for is not None:
        raise LoginThrottled(decision.locked_for)
    if decision.delay:
        await asyncio.sleep(decision.delay.total_seconds())  # outside any transaction: nobody else waits
    async with writing(db):
        user = await _check_credentials(db, email, password, address, now)
    if user is None:
        raise BadCredentials
    return user


async def _check_credentials(
    db: AsyncSession, email: str, password: str, address: str, now: datetime.datetime
) -> UserProfile | None:
    user = await db.scalar(select(UserProfile).where(UserProfile.email == email))
    if user is None or user.password_hash is None:
        _verify(_DUMMY_HASH, password)
        ok = False
    else:
        ok = _verify(user.password_hash, password)
    if not ok or user is None:
        # Recorded (and committed) even though the login fails: these rows drive the throttle.
        db.add(LoginFailure(email=email, address=address, at=now))
        return None
    await db.execute(delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.address == address))
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(
    db: AsyncSession,
    email: str,
    display_name: str,
    password: str | None = None,
    phone: str | None = None,
    slack_user_id: str | None = None,
    time_zone: str = "UTC",
    verified_at: datetime.datetime | None = None,
) -> UserProfile:
    """A new user, committed; FieldError when a field is malformed or the email is taken."""
    async with writing(db):
        return await add_user(db, email, display_name, password, phone, slack_user_id, time_zone, verified_at)


async def add_user(
    db: AsyncSession,
    email: str,
    display_name: str,
    password: str | None = None,
    phone: str | None = None,
    slack_user_id: str | None = None,
    time_zone: str = "UTC",
    verified_at: datetime.datetime | None = None,
) -> UserProfile:
    """Add a new user inside the caller's write transaction; FieldError when a field is malformed or
    the email is taken. `verified_at` marks the given phone and Slack id verified (seeding and tests
    only: people verify their own through the profile)."""
    try:
        clean_email = normalise_email(email)
        name = normalise_display_name(display_name)
        clean_phone = normalise_phone(phone or "")
        clean_slack = normalise_slack_user_id(slack_user_id or "")
        zone = parse_zone(time_zone)
    except InvalidContact as exc:
        raise FieldError.one(exc.field, exc.message) from None
    if password is not None:
        check_password_strength(password)
    if await db.scalar(select(UserProfile.id).where(UserProfile.email == clean_email)):
        raise FieldError.one("email", f"{clean_email} already has an account.")
    user = UserProfile(
        email=clean_email,
        display_name=name,
        password_hash=hash_password(password) if password else None,
        phone=clean_phone,
        slack_user_id=clean_slack,
        time_zone=zone.key,
        phone_verified_at=verified_at if clean_phone else None,
        slack_verified_at=verified_at if clean_slack else None,
    )
    db.add(user)
    await db.flush()
    return user


@dataclass(frozen=True)
class ProfileInput:
    """The profile form's plain fields; contact points change only by verification
    (app/services/contact_points.py)."""

    display_name: str
    time_zone: str


async def update_profile(db: AsyncSession, user_id: uuid.UUID, data: ProfileInput) -> UserProfile:
    """Apply the profile form; every malformed field is reported at once and nothing is written."""
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    checks: dict[str, Callable[[], object]] = {
        "display_name": lambda: normalise_display_name(data.display_name),
        "time_zone": lambda: parse_zone(data.time_zone).key,
    }
    for field, check in checks.items():
        try:
            values[field] = check()
        except InvalidContact as exc:
            errors[exc.field] = exc.message
    if errors:
        raise FieldError(errors)
    async with writing(db):
        # A new name shows on the boards of the person's workspaces, whose versions the database bumps
        # at commit. Their rows are locked first, in one order, as declaring an incident does
        # (workspace, then the people it pages): taken at commit after this person's row instead, they
        # could deadlock with a declaration paging this person.
        for workspace_id in sorted(
            await db.scalars(select(Membership.workspace_id).where(Membership.user_id == user_id))
        ):
            await lock_row(db, Workspace, workspace_id)
        user = await db.get_one(UserProfile, user_id)
        for field, value in values.items():
            setattr(user, field, value)
    return user


async def set_paging_choice(
    db: AsyncSession, user_id: uuid.UUID, page_by: Sequence[str] | None, voice_after_minutes: object
) -> UserProfile:
    """How the person's verified phone pages them: SMS, a voice call, or both (the call at once or
    after 0 to 10 minutes without an acknowledgement). FieldError by field; nothing written then."""
    choice, errors = parse_paging_choice(page_by, voice_after_minutes)
    if choice is None:
        raise FieldError(errors)
    async with writing(db):
        user = await db.get_one(UserProfile, user_id)
        user.page_by_sms, user.page_by_voice = choice.sms, choice.voice
        user.voice_after_minutes = choice.voice_after_minutes
    return user


async def get_user(db: AsyncSession, user_id: object) -> UserProfile | None:
    """The user with this id, or None."""
    return await db.get(UserProfile, user_id)
