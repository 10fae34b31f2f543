"""Workspace roles and the decisions about who may change whose membership."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        """Position in viewer < member < admin < owner."""
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        """True when this role may do what `other` may do."""
        return self.rank >= other.rank


_RANKS = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class MembershipRefused(Exception):
    """A membership change the rules forbid; the message says why in plain words."""

    def __init__(self, message: str, field: str = "role") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MembershipView:
    """What the rules need to know about one membership."""

    role: Role
    is_active: bool


def check_membership_change(
    actor: Role,
    target: MembershipView,
    new_role: Role,
    new_active: bool,
    active_owner_count: int,
) -> None:
    """Refuse a role or activity change `actor` may not make.

    Admins manage viewers and role members; only owners touch admins and owners, and the last
    active owner can be neither demoted nor deactivated.
    """
    if not actor.at_least(Role.ADMIN):
        raise MembershipRefused("Only admins and owners manage people.")
    touches_high_role = target.role.at_least(Role.ADMIN) or new_role.at_least(Role.ADMIN)
    if touches_high_role and actor is not Role.OWNER:
        raise MembershipRefused("Only owners can grant, change or remove the admin and owner roles.")
    losing_owner = target.role is Role.OWNER and target.is_active and (new_role is not Role.OWNER or not new_active)
    if losing_owner and active_owner_count <= 1:
        raise MembershipRefused("The last owner cannot be removed or demoted; make someone else an owner first.")


def check_new_membership(actor: Role, role: Role) -> None:
    """Refuse adding someone with a role `actor` may not grant."""
    if not actor.at_least(Role.ADMIN):
        raise MembershipRefused("Only admins and owners add people.")
    if role.at_least(Role.ADMIN) and actor is not Role.OWNER:
        raise MembershipRefused("Only owners can add admins and owners.")
