"""Workspace isolation, role guards, the People and Profile pages."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Invitation, Membership, UserProfile
from app.domain.roles import Role
from app.main import create_app
from tests.factories import PASSWORD, make_team, reload
from tests.web import login, post_form


async def test_another_workspace_answers_404(settings: Settings, db: AsyncSession) -> None:
    await make_team(db, "acme")
    await make_team(db, "globex")
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        assert (await client.get("/ws/acme/")).status_code == 200
        for path in ("/ws/globex/", "/ws/globex/people/", "/ws/nowhere/"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "No such workspace" in response.text


async def test_deactivated_member_loses_access(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    membership = await db.scalar(select(Membership).where(Membership.user_id == team["member"].id))
    assert membership is not None
    membership.is_active = False
    await db.commit()
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "member@acme.test", PASSWORD)
        assert (await client.get("/ws/acme/")).status_code == 404


async def test_viewer_cannot_add_people(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "viewer@acme.test", PASSWORD)
        page = await client.get("/ws/acme/people/")
        assert page.status_code == 200
        assert "Add a person" not in page.text
        response = await post_form(
            client,
            "/ws/acme/people/",
            {"email": "new@acme.test", "display_name": "New", "role": "member"},
            from_page="/ws/acme/people/",
        )
        assert response.status_code == 403
        assert "needs the admin role" in response.text
    assert (
        await db.scalar(select(func.count()).select_from(UserProfile).where(UserProfile.email == "new@acme.test")) == 0
    )


async def test_admin_invites_a_member_but_not_an_owner(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "admin@acme.test", PASSWORD)
        invited = await post_form(
            client, "/ws/acme/people/", {"email": "Erin@Acme.test", "role": "member"}, from_page="/ws/acme/people/"
        )
        assert invited.status_code == 200
        assert "Invited erin@acme.test as member" in invited.text
        assert "/invite/" in invited.text  # the one-time link, shown this once
        listing = await client.get("/ws/acme/people/")
        assert "erin@acme.test" in listing.text  # a pending invitation
        assert "/invite/" not in listing.text
        refused = await post_form(
            client, "/ws/acme/people/", {"email": "boss@acme.test", "role": "owner"}, from_page="/ws/acme/people/"
        )
        assert refused.status_code == 403
        assert "Only owners" in refused.text
        bad = await post_form(
            client, "/ws/acme/people/", {"email": "not-an-email", "role": "member"}, from_page="/ws/acme/people/"
        )
        assert bad.status_code == 422
        assert "Enter an email address" in bad.text
        assert 'value="not-an-email"' in bad.text
    await db.commit()
    emails = set(await db.scalars(select(UserProfile.email)))
    assert "erin@acme.test" not in emails  # no account until Erin sets her own password
    invited_emails = set(await db.scalars(select(Invitation.email).where(Invitation.status == "pending")))
    assert invited_emails == {"erin@acme.test"}


async def test_the_last_owner_cannot_step_down(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    owner_membership = await db.scalar(select(Membership).where(Membership.user_id == team["owner"].id))
    admin_membership = await db.scalar(select(Membership).where(Membership.user_id == team["admin"].id))
    assert owner_membership
    assert admin_membership
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        demote = await post_form(
            client,
            f"/ws/acme/people/{owner_membership.id}",
            {"role": "admin", "is_active": "on"},
            from_page="/ws/acme/people/",
        )
        assert demote.status_code == 403
        assert "last owner" in demote.text
        promote = await post_form(
            client,
            f"/ws/acme/people/{admin_membership.id}",
            {"role": "owner", "is_active": "on"},
            from_page="/ws/acme/people/",
        )
        assert promote.status_code == 303
        # With a second owner, stepping down works.
        demote_again = await post_form(
            client,
            f"/ws/acme/people/{owner_membership.id}",
            {"role": "admin", "is_active": "on"},
            from_page="/ws/acme/people/",
        )
        assert demote_again.status_code == 303
    await db.commit()
    roles = {m.user_id: m.role for m in await db.scalars(select(Membership).execution_options(populate_existing=True))}
    assert roles[team["owner"].id] == Role.ADMIN.value
    assert roles[team["admin"].id] == Role.OWNER.value


async def test_admin_cannot_touch_an_owner(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    owner_membership = await db.scalar(select(Membership).where(Membership.user_id == team["owner"].id))
    assert owner_membership
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "admin@acme.test", PASSWORD)
        response = await post_form(
            client, f"/ws/acme/people/{owner_membership.id}", {"role": "owner"}, from_page="/ws/acme/people/"
        )
        assert response.status_code == 403
    refreshed = await reload(db, Membership, owner_membership.id)
    assert refreshed.is_active


async def test_profile_validates_each_field_and_keeps_what_was_typed(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "member@acme.test", PASSWORD)
        bad = await post_form(
            client, "/ws/acme/profile/", {"display_name": "", "time_zone": "Mars/Base"}, from_page="/ws/acme/profile/"
        )
        assert bad.status_code == 422
        assert "Enter a name." in bad.text
        assert "IANA time zone" in bad.text
        assert 'value="Mars/Base"' in bad.text
        phone = await post_form(
            client, "/ws/acme/profile/contact/phone/send", {"phone": "0151 123"}, from_page="/ws/acme/profile/"
        )
        assert phone.status_code == 422
        assert "E.164" in phone.text
        assert 'value="0151 123"' in phone.text
        slack = await post_form(
            client,
            "/ws/acme/profile/contact/slack/send",
            {"slack_user_id": "not a slack id"},
            from_page="/ws/acme/profile/",
        )
        assert slack.status_code == 422
        assert "Slack member id" in slack.text
        good = await post_form(
            client,
            "/ws/acme/profile/",
            {"display_name": "Mia M", "time_zone": "Europe/Berlin"},
            from_page="/ws/acme/profile/",
        )
        assert good.status_code == 303
    member = await reload(db, UserProfile, team["member"].id)
    # Contact points change only by verification: the profile form leaves them as they were.
    assert (member.display_name, member.phone, member.slack_user_id, member.time_zone) == (
        "Mia M",
        team["member"].phone,
        team["member"].slack_user_id,
        "Europe/Berlin",
    )


async def test_pages_have_navigation_and_only_local_assets(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "member@acme.test", PASSWORD)
        home = await client.get("/ws/acme/")
        for label in ("Home", "People", "On-call", "Incidents", "Settings"):
            assert f">{label}</a>" in home.text
        assert "http://" not in home.text.replace("http://testserver.local", "")
        assert "https://" not in home.text
        assert (await client.get("/static/htmx-2.0.11.min.js")).status_code == 200
