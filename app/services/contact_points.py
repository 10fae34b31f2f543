"""Contact points: a person claims a phone number or Slack identity by typing back a code sent to it.

Only the person changes their own contact points (an admin may clear them). A verified value pages
and identifies its person, and belongs to one person in the whole installation: the partial unique
indexes on user_profile hold that even against two claims at once.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ContactVerification, UserProfile
from app.db.transactions import lock_row, writing
from app.domain.contact import InvalidContact, normalise_phone, normalise_slack_user_id
from app.domain.roles import Role
from app.domain.verification import (
    CODE_SLOT,
    CODE_VALID_FOR,
    MAX_TRIES,
    CheckOutcome,
    ContactKind,
    OpenCode,
    check_code,
    code_for,
    next_code_allowed_at,
    verification_text,
)
from app.services import jobs
from app.services.deliveries import Outgoing, queue_delivery
from app.services.errors import FieldError, Forbidden
from app.services.identity import WorkspaceAccess
from app.services.memberships import membership_in

VERIFY_PREFIX = "verify:"
CLAIMED = "That {what} is already verified by another account. Use another, or ask your administrator."


@dataclass(frozen=True)
class CodeSent:
    kind: ContactKind
    value: str
    delivery_id: uuid.UUID


def _field(kind: ContactKind) -> str:
    return "phone" if kind is ContactKind.PHONE else "slack_user_id"


def _normalise(kind: ContactKind, raw: str) -> str:
    try:
        value = normalise_phone(raw) if kind is ContactKind.PHONE else normalise_slack_user_id(raw)
    except InvalidContact as exc:
        raise FieldError.one(exc.field, exc.message) from None
    if value is None:
        raise FieldError.one(_field(kind), f"Enter the {kind.label} to verify.")
    return value


def _column(kind: ContactKind) -> tuple[object, object]:
    if kind is ContactKind.PHONE:
        return UserProfile.phone, UserProfile.phone_verified_at
    return UserProfile.slack_user_id, UserProfile.slack_verified_at


async def _claimed_by_other(db: AsyncSession, kind: ContactKind, value: str, user_id: uuid.UUID) -> bool:
    column, verified = _column(kind)
    other = await db.scalar(
        select(UserProfile.id).where(
            column == value,  # type: ignore[arg-type]
            verified.is_not(None),  # type: ignore[attr-defined]
            UserProfile.id != user_id,
        )
    )
    return other is not None


async def send_code(
    db: AsyncSession, user_id: uuid.UUID, kind: ContactKind, raw: str, now: datetime.datetime
) -> CodeSent:
    """Queue a code to `raw` for the person to type back. Refused (FieldError, nothing written) when
    the value is malformed, verified by someone else, or got a code too recently."""
    value = _normalise(kind, raw)
    async with writing(db):
        await lock_row(db, UserProfile, user_id)
        if await _claimed_by_other(db, kind, value, user_id):
            raise FieldError.one(_field(kind), CLAIMED.format(what=kind.label))
        user = await db.get_one(UserProfile, user_id, populate_existing=True)
        mine_verified = user.paging_phone if kind is ContactKind.PHONE else user.paging_slack_id
        if mine_verified == value:
            raise FieldError.one(_field(kind), f"That {kind.label} is already verified on your account.")
        sent = list(
            await db.scalars(
                select(ContactVerification.created_at).where(
                    ContactVerification.kind == kind.value,
                    ContactVerification.value == value,
                    ContactVerification.created_at > now - datetime.timedelta(hours=1),
                )
            )
        )
        allowed_at = next_code_allowed_at(sent, now)
        if allowed_at is not None:
            minutes = max(1, round((allowed_at - now).total_seconds() / 60))
            raise FieldError.one(
                _field(kind),
                f"A code was sent to that {kind.label} recently; you can ask for another in about "
                f"{minutes} minute{'s' if minutes != 1 else ''}.",
            )
        # A new code replaces any earlier open one of this person for this kind.
        for earlier in await db.scalars(
            select(ContactVerification).where(
                ContactVerification.user_id == user_id,
                ContactVerification.kind == kind.value,
                ContactVerification.closed_at.is_(None),
            )
        ):
            earlier.closed_at = now
        verification = ContactVerification(
            id=uuid.uuid4(),
            user_id=user_id,
            kind=kind.value,
            value=value,
            created_at=now,
            expires_at=now + CODE_VALID_FOR,
            attempts=0,
        )
        db.add(verification)
        await db.flush()
        row = queue_delivery(
            db,
            workspace_id=None,
            channel="sms" if kind is ContactKind.PHONE else "slack",
            target=value,
            text=verification_text(kind),
            now=now,
        )
        row.external_id = VERIFY_PREFIX + str(verification.id)
    await jobs.deliver([row.id])
    return CodeSent(kind, value, row.id)


async def pending_code(db: AsyncSession, user_id: uuid.UUID, kind: ContactKind, now: datetime.datetime) -> str | None:
    """The value an open, unexpired code was sent to (the profile asks for that code), or None."""
    value = await db.scalar(
        select(ContactVerification.value)
        .where(
            ContactVerification.user_id == user_id,
            ContactVerification.kind == kind.value,
            ContactVerification.closed_at.is_(None),
            ContactVerification.expires_at > now,
        )
        .order_by(ContactVerification.created_at.desc())
        .limit(1)
    )
    await db.commit()
    return value


async def confirm_code(
    db: AsyncSession, user_id: uuid.UUID, kind: ContactKind, typed: str, secret: str, now: datetime.datetime
) -> str:
    """Check a typed code against the person's latest open one; on success the value becomes their
    verified contact point. Returns the value; FieldError says what went wrong (a wrong try counts)."""
    field = f"{_field(kind)}_code"
    async with writing(db):
        await lock_row(db, UserProfile, user_id)
        latest = await db.scalar(
            select(ContactVerification)
            .where(
                ContactVerification.user_id == user_id,
                ContactVerification.kind == kind.value,
                ContactVerification.closed_at.is_(None),
            )
            .order_by(ContactVerification.created_at.desc())
            .limit(1)
        )
        code = OpenCode(latest.id, latest.expires_at, latest.attempts) if latest else None
        outcome = check_code(secret, code, typed, now)
        if latest is not None:
            if outcome in {CheckOutcome.WRONG, CheckOutcome.SPENT}:
                latest.attempts += 1
            if outcome is not CheckOutcome.WRONG:
                latest.closed_at = now  # used, spent or expired: this code is done
        remaining = MAX_TRIES - (latest.attempts if latest else 0)
        claimed = False
        if latest is not None and outcome is CheckOutcome.VERIFIED:
            claimed = await _claimed_by_other(db, kind, latest.value, user_id)
            if not claimed:
                user = await db.get_one(UserProfile, user_id, populate_existing=True)
                if kind is ContactKind.PHONE:
                    user.phone, user.phone_verified_at = latest.value, now
                else:
                    user.slack_user_id, user.slack_verified_at = latest.value, now
                if _no_unverified_contact(user):
                    user.contact_notice = None  # the notice was about a value that is now settled
                try:
                    await db.flush()
                except IntegrityError:  # another person verified it a moment ago
                    raise FieldError.one(field, CLAIMED.format(what=kind.label)) from None
                return latest.value
    if claimed:
        raise FieldError.one(field, CLAIMED.format(what=kind.label))
    messages = {
        CheckOutcome.WRONG: f"That code is not right; {remaining} tr{'ies' if remaining != 1 else 'y'} left.",
        CheckOutcome.SPENT: "That code is not right, and it was the last try; ask for a new code.",
        CheckOutcome.EXPIRED: "That code has expired (codes last 10 minutes); ask for a new code.",
        CheckOutcome.NONE: "There is no code waiting; ask for one first.",
    }
    raise FieldError.one(field, messages[outcome])


def _no_unverified_contact(user: UserProfile) -> bool:
    return (user.phone is None or user.phone_verified_at is not None) and (
        user.slack_user_id is None or user.slack_verified_at is not None
    )


async def remove_contact(db: AsyncSession, user_id: uuid.UUID, kind: ContactKind, now: datetime.datetime) -> None:
    """The person drops their own phone number or Slack identity (and any code on its way)."""
    async with writing(db):
        user = await db.get_one(UserProfile, user_id)
        await _clear(db, user, kind, now)
        if _no_unverified_contact(user):
            user.contact_notice = None


async def _clear(db: AsyncSession, user: UserProfile, kind: ContactKind, now: datetime.datetime) -> None:
    if kind is ContactKind.PHONE:
        user.phone, user.phone_verified_at = None, None
    else:
        user.slack_user_id, user.slack_verified_at = None, None
    # A code already sent can no longer be typed back.
    for code in await db.scalars(
        select(ContactVerification).where(
            ContactVerification.user_id == user.id,
            ContactVerification.kind == kind.value,
            ContactVerification.closed_at.is_(None),
        )
    ):
        code.closed_at = now


async def admin_clear_contacts(
    db: AsyncSession, access: WorkspaceAccess, membership_id: str, now: datetime.datetime
) -> UserProfile:
    """An admin clears a member's phone number and Slack identity (e.g. a number that changed hands)."""
    async with writing(db):
        membership = await membership_in(db, access.workspace.id, membership_id)
        if Role(membership.role).at_least(Role.ADMIN) and not access.allows(Role.OWNER):
            raise Forbidden("Only an owner can clear the contact points of an admin or owner.")
        user = await db.get_one(UserProfile, membership.user_id)
        await _clear(db, user, ContactKind.PHONE, now)
        await _clear(db, user, ContactKind.SLACK, now)
        user.contact_notice = None
    return user


def fill_code(outgoing: Outgoing, secret: str) -> str:
    """The text to send: a verification message gets its code only now, as it leaves."""
    if outgoing.external_id and outgoing.external_id.startswith(VERIFY_PREFIX) and CODE_SLOT in outgoing.text:
        verification_id = uuid.UUID(outgoing.external_id.removeprefix(VERIFY_PREFIX))
        return outgoing.text.replace(CODE_SLOT, code_for(secret, verification_id))
    return outgoing.text
