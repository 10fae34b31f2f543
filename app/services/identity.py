"""Plain snapshots of who is asking and where, safe to keep across transactions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.db.models import UserProfile, Workspace
from app.domain.roles import Role


@dataclass(frozen=True)
class UserRef:
    id: uuid.UUID
    email: str
    display_name: str
    time_zone: str
    phone: str | None
    slack_user_id: str | None
    phone_verified: bool = False
    slack_verified: bool = False
    contact_notice: str | None = None
    is_installation_admin: bool = False

    @property
    def pageable(self) -> bool:
        """Whether a page can reach this person: a verified phone number or Slack identity."""
        return self.phone_verified or self.slack_verified

    @classmethod
    def of(cls, user: UserProfile) -> UserRef:
        return cls(
            user.id,
            user.email,
            user.display_name,
            user.time_zone,
            user.phone,
            user.slack_user_id,
            user.paging_phone is not None,
            user.paging_slack_id is not None,
            user.contact_notice,
            user.is_installation_admin,
        )


@dataclass(frozen=True)
class WorkspaceRef:
    id: uuid.UUID
    slug: str
    name: str
    slack_channel_id: str | None
    board_version: int = 0  # as read with the caller's access: what a cached board must match

    @classmethod
    def of(cls, workspace: Workspace) -> WorkspaceRef:
        return cls(workspace.id, workspace.slug, workspace.name, workspace.slack_channel_id, workspace.board_version)


@dataclass(frozen=True)
class WorkspaceAccess:
    """The caller's standing in one workspace."""

    workspace: WorkspaceRef
    user: UserRef
    role: Role

    def allows(self, needed: Role) -> bool:
        return self.role.at_least(needed)
