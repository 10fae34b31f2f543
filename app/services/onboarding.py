"""The first run, workspaces, invitations and one-time password links.

Nobody types another person's password: a new person sets their own through a one-time link (an
invitation, or the link `vigilo create-workspace` prints for a new owner), and an admin helps someone
who forgot theirs with a one-time reset link that ends the person's other sessions.
"""

from __future__ import annotations

import datetime
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Installation, Invitation, Membership, PasswordLink, UserProfile, Workspace
from app.db.transactions import lock_row, writing
from app.domain.contact import InvalidContact, normalise_display_name, normalise_email
from app.domain.roles import MembershipRefused, MembershipView, Role, check_membership_change, check_new_membership
from app.domain.workspaces import InvalidSlug, check_slug
from app.services.accounts import add_user, check_password_strength, hash_password
from app.services.errors import Conflict, FieldError, Forbidden, NotFound, parse_id
from app.services.identity import WorkspaceAccess
from app.services.memberships import membership_in, parse_role
from app.services.one_time import digest, new_token

INVITATION_VALID_FOR = datetime.timedelta(days=7)
PASSWORD_LINK_VALID_FOR = datetime.timedelta(days=2)
MAX_WORKSPACE_NAME = 120


class SetupClosed(Exception):
    """Somebody already has an account: the first-run page is gone (404)."""


# ---------------------------------------------------------------- the first run


async def needs_setup(db: AsyncSession) -> bool:
    """True while the database has no user at all."""
    found = await db.scalar(select(UserProfile.id).limit(1))
    await db.commit()
    return found is None


async def _installation(db: AsyncSession) -> Installation:
    row = await db.scalar(select(Installation).limit(1))
    if row is None:  # migration 0006 writes it; a database made otherwise gets it now
        row = Installation(id=uuid.uuid4())
        db.add(row)
        await db.flush()
    await lock_row(db, Installation, row.id)
    return row


async def issue_setup_code(db: AsyncSession, now: datetime.datetime) -> str | None:
    """A new one-time setup code (replacing any earlier one), or None once someone has an account."""
    async with writing(db):
        installation = await _installation(db)
        if await db.scalar(select(UserProfile.id).limit(1)) is not None:
            return None
        code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
        installation.setup_code_hash, installation.setup_code_at = digest(code), now
    return code


@dataclass(frozen=True)
class SetupInput:
    display_name: str
    email: str
    password: str
    workspace_name: str
    slug: str
    code: str = ""


def _workspace_fields(name_raw: str, slug_raw: str, errors: dict[str, str]) -> tuple[str, str]:
    name = " ".join(name_raw.split())
    if not name:
        errors["workspace_name"] = "Name the workspace, e.g. your team's name."
    elif len(name) > MAX_WORKSPACE_NAME:
        errors["workspace_name"] = f"Keep the name under {MAX_WORKSPACE_NAME} characters."
    try:
        slug = check_slug(slug_raw)
    except InvalidSlug as exc:
        errors["slug"] = str(exc)
        slug = ""
    return name, slug


def _person_fields(data_name: str, data_email: str | None, password: str, errors: dict[str, str]) -> tuple[str, str]:
    name = email = ""
    try:
        name = normalise_display_name(data_name)
    except InvalidContact as exc:
        errors["display_name"] = exc.message
    if data_email is not None:
        try:
            email = normalise_email(data_email)
        except InvalidContact as exc:
            errors["email"] = exc.message
    try:
        check_password_strength(password)
    except FieldError as exc:
        errors.update(exc.errors)
    return name, email


async def set_up(db: AsyncSession, data: SetupInput, require_code: bool, now: datetime.datetime) -> UserProfile:
    """Create the first person (the installation's administrator) and their first workspace. Under
    the installation row's lock: of two setups at once, the second finds a person and is refused."""
    errors: dict[str, str] = {}
    name, email = _person_fields(data.display_name, data.email, data.password, errors)
    workspace_name, slug = _workspace_fields(data.workspace_name, data.slug, errors)
    async with writing(db):
        installation = await _installation(db)
        if await db.scalar(select(UserProfile.id).limit(1)) is not None:
            raise SetupClosed
        if require_code:
            expected = installation.setup_code_hash or ""
            if not expected or not hmac.compare_digest(digest(data.code.upper()), expected):
                errors["code"] = (
                    "That is not the setup code vigilo migrate printed (vigilo setup-code prints a new one)."
                )
        if errors:
            raise FieldError(errors)
        user = await add_user(db, email, name, password=data.password)
        user.is_installation_admin = True
        workspace = Workspace(slug=slug, name=workspace_name)
        db.add(workspace)
        await db.flush()
        db.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.OWNER.value, is_active=True))
        installation.setup_code_hash, installation.set_up_at = None, now
    return user


# ---------------------------------------------------------------- workspaces


@dataclass(frozen=True)
class NewWorkspace:
    workspace: Workspace
    owner: UserProfile
    password_link: str | None  # a one-time link token when the owner's account was created here


async def create_workspace(
    db: AsyncSession, name_raw: str, slug_raw: str, owner_email: str, now: datetime.datetime, by: uuid.UUID | None
) -> NewWorkspace:
    """A workspace with `owner_email` as owner; an owner without an account gets one, and a one-time
    link to set their password."""
    errors: dict[str, str] = {}
    name, slug = _workspace_fields(name_raw, slug_raw, errors)
    try:
        email = normalise_email(owner_email)
    except InvalidContact as exc:
        errors["owner"] = exc.message
        email = ""
    if errors:
        raise FieldError(errors)
    try:
        async with writing(db):
            if await db.scalar(select(Workspace.id).where(Workspace.slug == slug)) is not None:
                raise FieldError.one("slug", f"A workspace already uses “{slug}”; choose another.")
            owner = await db.scalar(select(UserProfile).where(UserProfile.email == email))
            token = None
            if owner is None:
                owner = await add_user(db, email, email.split("@", maxsplit=1)[0])
                token = _add_password_link(db, owner.id, by, now)
            workspace = Workspace(slug=slug, name=name)
            db.add(workspace)
            await db.flush()
            db.add(Membership(workspace_id=workspace.id, user_id=owner.id, role=Role.OWNER.value, is_active=True))
    except IntegrityError:
        raise FieldError.one("slug", f"A workspace already uses “{slug}”; choose another.") from None
    return NewWorkspace(workspace, owner, token)


async def list_workspaces(db: AsyncSession) -> list[tuple[Workspace, int]]:
    """Every workspace with its number of active members, by name (installation administrators)."""
    rows = await db.execute(
        select(Workspace, func.count(Membership.id))
        .outerjoin(Membership, (Membership.workspace_id == Workspace.id) & Membership.is_active)
        .group_by(Workspace.id)
        .order_by(Workspace.name)
    )
    return [(workspace, count) for workspace, count in rows.all()]


# ---------------------------------------------------------------- invitations


async def invite(
    db: AsyncSession, access: WorkspaceAccess, email_raw: str, role_raw: str, now: datetime.datetime
) -> str:
    """Invite an email with a role; returns the link's token (shown to the admin once). The answer is
    the same whether or not the email has an account."""
    role = parse_role(role_raw or "member")
    try:
        email = normalise_email(email_raw)
    except InvalidContact as exc:
        raise FieldError.one("email", exc.message) from None
    try:
        check_new_membership(access.role, role)
    except MembershipRefused as exc:
        raise Forbidden(str(exc)) from None
    token = new_token()
    async with writing(db):
        member = await db.scalar(
            select(Membership.id)
            .join(UserProfile, UserProfile.id == Membership.user_id)
            .where(Membership.workspace_id == access.workspace.id, UserProfile.email == email, Membership.is_active)
        )
        if member is not None:  # a deactivated member may be invited back: accepting reactivates them
            raise FieldError.one("email", f"{email} is already in this workspace; change their role below.")
        for earlier in await db.scalars(
            select(Invitation).where(
                Invitation.workspace_id == access.workspace.id,
                Invitation.email == email,
                Invitation.status == "pending",
            )
        ):
            earlier.status, earlier.decided_at = "revoked", now  # only the newest link works
        db.add(
            Invitation(
                workspace_id=access.workspace.id,
                email=email,
                role=role.value,
                token_hash=digest(token),
                invited_by_id=access.user.id,
                expires_at=now + INVITATION_VALID_FOR,
                status="pending",
            )
        )
    return token


async def pending_invitations(db: AsyncSession, workspace_id: uuid.UUID, now: datetime.datetime) -> list[Invitation]:
    """The workspace's invitations still waiting for an answer, newest first."""
    rows = await db.scalars(
        select(Invitation)
        .where(Invitation.workspace_id == workspace_id, Invitation.status == "pending", Invitation.expires_at > now)
        .order_by(Invitation.created_at.desc())
    )
    return list(rows)


async def revoke_invitation(
    db: AsyncSession, access: WorkspaceAccess, invitation_id: str, now: datetime.datetime
) -> Invitation:
    """An admin withdraws a pending invitation; its link stops working."""
    async with writing(db):
        invitation = await db.get(Invitation, parse_id(invitation_id, "invitation"))
        if invitation is None or invitation.workspace_id != access.workspace.id:
            raise NotFound("No such invitation.")
        if invitation.status != "pending":
            raise Conflict(f"That invitation is already {invitation.status}.")
        invitation.status, invitation.decided_at = "revoked", now
    return invitation


@dataclass(frozen=True)
class InvitationView:
    invitation: Invitation
    workspace: Workspace
    has_account: bool


async def invitation_by_token(db: AsyncSession, token: str, now: datetime.datetime) -> InvitationView:
    """The pending, unexpired invitation a link names, or NotFound."""
    invitation = await db.scalar(select(Invitation).where(Invitation.token_hash == digest(token)))
    if invitation is None or invitation.status != "pending" or invitation.expires_at <= now:
        await db.commit()
        raise NotFound("This invitation link is not valid: it was used, withdrawn or has expired.")
    workspace = await db.get_one(Workspace, invitation.workspace_id)
    account = await db.scalar(select(UserProfile.id).where(UserProfile.email == invitation.email))
    await db.commit()
    return InvitationView(invitation, workspace, account is not None)


async def invitations_for(db: AsyncSession, email: str, now: datetime.datetime) -> list[InvitationView]:
    """The pending invitations of a person's email, for them to accept or decline after logging in."""
    rows = await db.execute(
        select(Invitation, Workspace)
        .join(Workspace, Workspace.id == Invitation.workspace_id)
        .where(Invitation.email == email, Invitation.status == "pending", Invitation.expires_at > now)
        .order_by(Invitation.created_at)
    )
    found = [InvitationView(invitation, workspace, True) for invitation, workspace in rows.all()]
    await db.commit()
    return found


async def _pending_locked(db: AsyncSession, invitation_id: uuid.UUID, now: datetime.datetime) -> Invitation:
    await lock_row(db, Invitation, invitation_id)
    invitation = await db.get(Invitation, invitation_id, populate_existing=True)
    if invitation is None or invitation.status != "pending" or invitation.expires_at <= now:
        raise NotFound("This invitation is no longer open: it was used, withdrawn or has expired.")
    return invitation


async def _join(db: AsyncSession, invitation: Invitation, user: UserProfile, now: datetime.datetime) -> Workspace:
    membership = await db.scalar(
        select(Membership).where(Membership.workspace_id == invitation.workspace_id, Membership.user_id == user.id)
    )
    if membership is None:
        db.add(Membership(workspace_id=invitation.workspace_id, user_id=user.id, role=invitation.role, is_active=True))
    elif not membership.is_active:
        membership.is_active, membership.role = True, invitation.role
    invitation.status, invitation.decided_at = "accepted", now
    return await db.get_one(Workspace, invitation.workspace_id)


async def accept_as_new(
    db: AsyncSession, token: str, display_name: str, password: str, now: datetime.datetime
) -> tuple[UserProfile, Workspace]:
    """A person without an account follows their link, sets their own name and password, and joins."""
    errors: dict[str, str] = {}
    name, _ = _person_fields(display_name, None, password, errors)
    view = await invitation_by_token(db, token, now)
    if errors:
        raise FieldError(errors)
    async with writing(db):
        invitation = await _pending_locked(db, view.invitation.id, now)
        if await db.scalar(select(UserProfile.id).where(UserProfile.email == invitation.email)) is not None:
            raise Conflict("An account with this email exists now: log in to accept the invitation.")
        user = UserProfile(email=invitation.email, display_name=name, password_hash=hash_password(password))
        db.add(user)
        await db.flush()
        workspace = await _join(db, invitation, user, now)
    return user, workspace


async def answer_invitation(
    db: AsyncSession, invitation_id: uuid.UUID, user_id: uuid.UUID, accept: bool, now: datetime.datetime
) -> Workspace:
    """A logged-in person accepts or declines an invitation made out to their email."""
    async with writing(db):
        invitation = await _pending_locked(db, invitation_id, now)
        user = await db.get_one(UserProfile, user_id)
        if invitation.email != user.email:
            raise Forbidden(f"This invitation is for another email address, not {user.email}.")
        if not accept:
            invitation.status, invitation.decided_at = "declined", now
            return await db.get_one(Workspace, invitation.workspace_id)
        return await _join(db, invitation, user, now)


# ---------------------------------------------------------------- one-time password links


def _add_password_link(db: AsyncSession, user_id: uuid.UUID, by: uuid.UUID | None, now: datetime.datetime) -> str:
    token = new_token()
    db.add(
        PasswordLink(
            user_id=user_id,
            token_hash=digest(token),
            created_by_id=by,
            expires_at=now + PASSWORD_LINK_VALID_FOR,
        )
    )
    return token


async def issue_reset_link(
    db: AsyncSession, access: WorkspaceAccess, membership_id: str, now: datetime.datetime
) -> tuple[UserProfile, str]:
    """An admin makes a one-time link for a member who forgot their password (shown once). Admins
    help viewers and members; owners help anyone."""
    async with writing(db):
        membership = await membership_in(db, access.workspace.id, membership_id)
        target = MembershipView(Role(membership.role), membership.is_active)
        try:
            check_membership_change(access.role, target, target.role, target.is_active, 2)
        except MembershipRefused:
            raise Forbidden("Only owners can make a reset link for an admin or owner.") from None
        user = await db.get_one(UserProfile, membership.user_id)
        token = _add_password_link(db, user.id, access.user.id, now)
    return user, token


async def password_link_user(db: AsyncSession, token: str, now: datetime.datetime) -> UserProfile:
    """Whose unused, unexpired link this is, or NotFound."""
    link = await db.scalar(select(PasswordLink).where(PasswordLink.token_hash == digest(token)))
    user = await db.get(UserProfile, link.user_id) if link is not None else None
    await db.commit()
    if link is None or user is None or link.used_at is not None or link.expires_at <= now:
        raise NotFound("This link is not valid: it was used or has expired. Ask an admin for a new one.")
    return user


async def use_password_link(db: AsyncSession, token: str, password: str, now: datetime.datetime) -> UserProfile:
    """Set the password through a one-time link; the link is spent and every other session of the
    person ends."""
    check_password_strength(password)
    async with writing(db):
        link = await db.scalar(select(PasswordLink).where(PasswordLink.token_hash == digest(token)).with_for_update())
        if link is None or link.used_at is not None or link.expires_at <= now:
            raise NotFound("This link is not valid: it was used or has expired. Ask an admin for a new one.")
        link.used_at = now
        user = await db.get_one(UserProfile, link.user_id)
        user.password_hash = hash_password(password)
        user.sessions_valid_after = now
    return user
