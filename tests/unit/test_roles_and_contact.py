"""Role rules and contact validation, without a database."""

from __future__ import annotations

import pytest

from app.domain.contact import InvalidContact, normalise_email, normalise_phone, normalise_slack_user_id, parse_zone
from app.domain.roles import MembershipRefused, MembershipView, Role, check_membership_change, check_new_membership


def test_role_order() -> None:
    assert [r.rank for r in (Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER)] == [0, 1, 2, 3]
    assert Role.OWNER.at_least(Role.ADMIN)
    assert not Role.MEMBER.at_least(Role.ADMIN)


@pytest.mark.parametrize(
    ("actor", "target", "new_role", "active", "owners", "allowed"),
    [
        (Role.ADMIN, Role.MEMBER, Role.VIEWER, True, 1, True),
        (Role.ADMIN, Role.MEMBER, Role.ADMIN, True, 1, False),
        (Role.ADMIN, Role.ADMIN, Role.MEMBER, True, 1, False),
        (Role.ADMIN, Role.OWNER, Role.OWNER, False, 2, False),
        (Role.MEMBER, Role.VIEWER, Role.MEMBER, True, 1, False),
        (Role.OWNER, Role.ADMIN, Role.OWNER, True, 1, True),
        (Role.OWNER, Role.OWNER, Role.ADMIN, True, 1, False),
        (Role.OWNER, Role.OWNER, Role.OWNER, False, 1, False),
        (Role.OWNER, Role.OWNER, Role.ADMIN, True, 2, True),
    ],
)
def test_membership_changes(
    actor: Role, target: Role, new_role: Role, active: bool, owners: int, allowed: bool
) -> None:
    view = MembershipView(target, True)
    if allowed:
        check_membership_change(actor, view, new_role, active, owners)
    else:
        with pytest.raises(MembershipRefused):
            check_membership_change(actor, view, new_role, active, owners)


def test_only_owners_add_admins() -> None:
    check_new_membership(Role.ADMIN, Role.MEMBER)
    check_new_membership(Role.OWNER, Role.ADMIN)
    with pytest.raises(MembershipRefused):
        check_new_membership(Role.ADMIN, Role.ADMIN)


def test_contact_normalisation() -> None:
    assert normalise_email("  Alice@Example.COM ") == "alice@example.com"
    assert normalise_phone("+1 (555) 010-0001") == "+15550100001"
    assert normalise_phone("  ") is None
    assert normalise_slack_user_id("u024be7lh") == "U024BE7LH"
    assert parse_zone("Australia/Lord_Howe").key == "Australia/Lord_Howe"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: normalise_email("no-at-sign"), "email"),
        (lambda: normalise_phone("015112345"), "phone"),
        (lambda: normalise_phone("+0123456789"), "phone"),
        (lambda: normalise_slack_user_id("#general"), "slack_user_id"),
        (lambda: parse_zone("Europe/Atlantis"), "time_zone"),
        (lambda: parse_zone("../../etc/passwd"), "time_zone"),
    ],
)
def test_bad_contact_names_its_field(call: object, field: str) -> None:
    with pytest.raises(InvalidContact) as caught:
        call()  # type: ignore[operator]
    assert caught.value.field == field
