"""How objects look in the JSON API (DESIGN.md's contract)."""

from __future__ import annotations

from typing import Any

from app.db.models import Membership, UserProfile


def user_view(user: UserProfile) -> dict[str, Any]:
    """Users appear as {id, email, display_name}."""
    return {"id": str(user.id), "email": user.email, "display_name": user.display_name}


def member_view(membership: Membership) -> dict[str, Any]:
    return {"user": user_view(membership.user), "role": membership.role, "is_active": membership.is_active}
