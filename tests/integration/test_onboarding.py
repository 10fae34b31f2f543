"""Onboarding (issue 16) on both databases: the first-run setup, slugs, invitations and one-time
password links, at the service level and through the pages."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Environment, Settings
from app.db.engine import create_engine
from app.db.models import Invitation, Membership, PasswordLink, UserProfile, Workspace
from app.domain.roles import Role
from app.main import create_app
from app.services.errors import FieldError, NotFound
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.onboarding import (
    SetupClosed,
    SetupInput,
    accept_as_new,
    answer_invitation,
    invitation_by_token,
    invite,
    issue_setup_code,
    set_up,
)
from tests.factories import PASSWORD, Team, make_team
from tests.web import login, post_form

LINK = re.compile(r'<section class="card" id="one-time-link".*?<code class="secret">([^<]+)</code>', re.S)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CSRF_VALUE = re.compile(r'name="_csrf_token" value="[^"]+"')


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _setup(code: str = "", slug: str = "platform", email: str = "first@example.com") -> SetupInput:
    return SetupInput("First Person", email, "first-password", "Platform", slug, code)


def _production(settings: Settings) -> Settings:
    return Settings(
        env=Environment.PRODUCTION,
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        public_url=settings.public_url,
    )


def _access(team: Team, key: str, role: Role) -> WorkspaceAccess:
    return WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team[key]), role)


def _link(page: Any) -> str:
    match = LINK.search(page.text)
    assert match, page.text
    return match.group(1)


def _path(url: str) -> str:
    return url.removeprefix("http://testserver.local")


async def _count(db: AsyncSession, model: type[Any]) -> int:
    await db.commit()
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- the first run


async def test_setup_in_development_needs_no_code_then_is_gone(settings: Settings, db: AsyncSession) -> None:
    dev = Settings(
        env=Environment.DEVELOPMENT,
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        public_url=settings.public_url,
    )
    async with AsyncTestClient(app=create_app(dev)) as client:
        root = await client.get("/", follow_redirects=False)
        assert (root.status_code, root.headers["location"]) == (303, "/setup")
        page = await client.get("/setup")
        assert page.status_code == 200
        assert 'name="code"' not in page.text
        done = await post_form(
            client,
            "/setup",
            {
                "display_name": "Ada",
                "email": "Ada@Example.com",
                "password": "ada-password",
                "workspace_name": "Platform",
                "slug": "platform",
            },
            from_page="/setup",
        )
        assert (done.status_code, done.headers["location"]) == (303, "/ws/platform/")
        assert (await client.get("/ws/platform/")).status_code == 200  # logged in
        assert (await client.get("/setup")).status_code == 404
        again = await client.post("/setup", data={}, follow_redirects=False)
        assert again.status_code in {403, 404}  # (403 when the CSRF check answers first)
    user = await db.scalar(select(UserProfile).where(UserProfile.email == "ada@example.com"))
    assert user is not None
    assert user.is_installation_admin
    membership = await db.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership is not None
    assert membership.role == Role.OWNER.value


async def test_setup_in_production_refuses_a_wrong_code(settings: Settings, db: AsyncSession) -> None:
    code = await issue_setup_code(db, _now())
    assert code is not None
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", code)
    form = {
        "display_name": "Ada",
        "email": "ada@example.com",
        "password": "ada-password",
        "workspace_name": "Platform",
        "slug": "platform",
    }
    async with AsyncTestClient(app=create_app(_production(settings))) as client:
        page = await client.get("/setup")
        assert 'name="code"' in page.text
        wrong = await post_form(client, "/setup", {**form, "code": "0000-0000-0000"}, from_page="/setup")
        assert wrong.status_code == 422
        assert 'id="code-error"' in wrong.text
        assert "not the setup code" in wrong.text
        missing = await post_form(client, "/setup", form, from_page="/setup")
        assert missing.status_code == 422
        assert await _count(db, UserProfile) == 0
        right = await post_form(client, "/setup", {**form, "code": code.lower()}, from_page="/setup")
        assert (right.status_code, right.headers["location"]) == (303, "/ws/platform/")
    assert await _count(db, UserProfile) == 1
    assert await issue_setup_code(db, _now()) is None  # `vigilo setup-code` has nothing to print now


async def test_a_new_setup_code_replaces_the_old_one(db: AsyncSession) -> None:
    old = await issue_setup_code(db, _now())
    new = await issue_setup_code(db, _now())
    assert old and new and old != new
    with pytest.raises(FieldError) as refused:
        await set_up(db, _setup(old), require_code=True, now=_now())
    assert set(refused.value.errors) == {"code"}
    user = await set_up(db, _setup(new), require_code=True, now=_now())
    assert user.is_installation_admin


async def test_two_setups_at_once_exactly_one_wins(settings: Settings, db: AsyncSession) -> None:
    engines = [create_engine(settings.database_url) for _ in range(2)]
    try:
        sessions = [async_sessionmaker(engine, expire_on_commit=False)() for engine in engines]
        results = await asyncio.gather(
            set_up(sessions[0], _setup(slug="one", email="one@example.com"), require_code=False, now=_now()),
            set_up(sessions[1], _setup(slug="two", email="two@example.com"), require_code=False, now=_now()),
            return_exceptions=True,
        )
        for session in sessions:
            await session.close()
    finally:
        for engine in engines:
            await engine.dispose()
    won = [r for r in results if isinstance(r, UserProfile)]
    lost = [r for r in results if isinstance(r, SetupClosed)]
    assert (len(won), len(lost)) == (1, 1), results
    assert await _count(db, UserProfile) == 1
    assert await _count(db, Workspace) == 1


# ---------------------------------------------------------------- workspaces and slugs


BAD_SLUGS = [
    ("api", "reserved"),
    ("integrations", "reserved"),
    ("static", "reserved"),
    ("Platform", "lower-case"),
    ("-platform", "lower-case"),
    ("platform-", "lower-case"),
    ("plat form", "lower-case"),
]


async def test_workspaces_page_refuses_bad_slugs(settings: Settings, db: AsyncSession) -> None:
    await set_up(db, _setup(), require_code=False, now=_now())
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "first@example.com", "first-password")
        for slug, message in BAD_SLUGS:
            refused = await post_form(
                client,
                "/workspaces",
                {"name": "Ops", "slug": slug, "owner": "ops@example.com"},
                from_page="/workspaces",
            )
            assert refused.status_code == 422, slug
            assert 'id="slug-error"' in refused.text, slug
            assert message in refused.text, slug
    assert await _count(db, Workspace) == 1


async def test_workspaces_page_creates_a_workspace_and_a_password_link(settings: Settings, db: AsyncSession) -> None:
    await set_up(db, _setup(), require_code=False, now=_now())
    await make_team(db, "acme")
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "member@acme.test", PASSWORD)
        assert (await client.get("/workspaces")).status_code == 403  # not an installation admin
        await login(client, "first@example.com", "first-password")
        made = await post_form(
            client,
            "/workspaces",
            {"name": "Ops team", "slug": "ops-2", "owner": "Ops@Example.com"},
            from_page="/workspaces",
        )
        assert made.status_code == 201
        link = re.search(r'id="owner-link".*?<code class="secret">([^<]+)</code>', made.text, re.S)
        assert link, made.text
        taken = await post_form(
            client, "/workspaces", {"name": "Again", "slug": "ops-2", "owner": "x@example.com"}, from_page="/workspaces"
        )
        assert taken.status_code == 422
        assert "already uses" in taken.text
        # An existing owner gets no link.
        existing = await post_form(
            client,
            "/workspaces",
            {"name": "Third", "slug": "third", "owner": "member@acme.test"},
            from_page="/workspaces",
        )
        assert existing.status_code == 201
        assert 'id="owner-link"' not in existing.text
    async with AsyncTestClient(app=create_app(settings)) as owner:
        path = _path(link.group(1))
        assert (await owner.get(path)).status_code == 200
        done = await post_form(owner, path, {"password": "ops-owner-password"}, from_page=path)
        assert done.status_code == 303
        assert (await owner.get("/ws/ops-2/")).status_code == 200


def _vigilo(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGILO_DATABASE_URL": database_url, "VIGILO_ENV": "test"}
    env["VIGILO_PUBLIC_URL"] = "http://testserver.local"
    env.pop("VIGILO_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, check=False
    )


async def test_cli_create_workspace_checks_the_slug_and_prints_a_link(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrated = _vigilo(url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "http://testserver.local/setup" in migrated.stdout
    assert "setup code" not in migrated.stdout  # not production
    for slug, message in (("api", "reserved"), ("-Ops", "lower-case")):
        refused = _vigilo(url, "create-workspace", "--slug", slug, "--name", "Ops", "--owner", "ops@example.com")
        assert refused.returncode == 1, (slug, refused.stdout)
        assert refused.stderr.startswith("vigilo: --slug:"), refused.stderr
        assert message in refused.stderr
    made = _vigilo(url, "create-workspace", "--slug", "ops", "--name", "Ops", "--owner", "Ops@Example.com")
    assert made.returncode == 0, made.stderr
    assert "/ws/ops/ owned by ops@example.com" in made.stdout
    link = made.stdout.strip().splitlines()[-1]
    assert link.startswith("http://testserver.local/password/")
    # The owner now exists: `vigilo setup-code` has no code to print.
    assert _vigilo(url, "setup-code").returncode == 1
    async with AsyncTestClient(app=create_app(Settings(env=Environment.TEST, database_url=url))) as client:
        path = _path(link)
        page = await client.get(path)
        assert page.status_code == 200
        assert "ops@example.com" in page.text
        assert (await post_form(client, path, {"password": "ops-password"}, from_page=path)).status_code == 303
        assert (await client.get("/ws/ops/")).status_code == 200
        assert (await client.get(path)).status_code == 404


# ---------------------------------------------------------------- invitations


def _masked(text: str, email: str, link: str) -> str:
    text = text.replace(link, "LINK").replace(email, "EMAIL")
    text = UUID.sub("ID", text)
    text = CSRF_VALUE.sub("CSRF", text)
    return re.sub(r"<td>\w{3} \d\d \w{3} \d\d:\d\d</td>", "<td>UNTIL</td>", text)


async def test_invite_answers_the_same_with_or_without_an_account(settings: Settings, db: AsyncSession) -> None:
    await make_team(db, "acme")
    await make_team(db, "globex")  # member@globex.test has an account, but not in acme
    pages = []
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        for email in ("newcomer@example.com", "member@globex.test"):
            answer = await post_form(
                client, "/ws/acme/people/", {"email": email, "role": "member"}, from_page="/ws/acme/people/"
            )
            assert answer.status_code == 200
            link = _link(answer)
            assert link.startswith("http://testserver.local/invite/")
            pages.append(_masked(answer.text, email, link))
            # Withdraw it, so the pending list looks the same for the next one.
            invitation_id = await db.scalar(select(Invitation.id).where(Invitation.email == email))
            await db.commit()
            revoked = await post_form(
                client, f"/ws/acme/people/invitations/{invitation_id}/revoke", {}, from_page="/ws/acme/people/"
            )
            assert revoked.status_code == 303
            assert (await client.get(_path(link))).status_code == 404  # a withdrawn link is gone
    assert pages[0] == pages[1]


async def test_new_person_accepts_once_and_an_expired_one_is_refused(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, "acme")
    owner = _access(team, "owner", Role.OWNER)
    token = await invite(db, owner, "New@Example.com", "member", _now())
    later = _now() + datetime.timedelta(days=8)
    with pytest.raises(NotFound):
        await invitation_by_token(db, token, later)
    with pytest.raises(NotFound):
        await accept_as_new(db, token, "Newcomer", "newcomer-password", later)
    assert (await invitation_by_token(db, token, _now())).has_account is False

    async with AsyncTestClient(app=create_app(settings)) as client:
        page = await client.get(f"/invite/{token}")
        assert page.status_code == 200
        assert "new@example.com" in page.text
        short = await post_form(
            client, f"/invite/{token}", {"display_name": "Nia", "password": "short"}, from_page=f"/invite/{token}"
        )
        assert short.status_code == 422
        joined = await post_form(
            client,
            f"/invite/{token}",
            {"display_name": "Nia New", "password": "nia-password"},
            from_page=f"/invite/{token}",
        )
        assert (joined.status_code, joined.headers["location"]) == (303, "/ws/acme/")
        assert (await client.get("/ws/acme/")).status_code == 200
        used = await client.get(f"/invite/{token}")
        assert used.status_code == 404
        assert "not valid" in used.text
        reuse = await client.post(
            f"/invite/{token}", data={"display_name": "X", "password": "another-password"}, follow_redirects=False
        )
        assert reuse.status_code in {403, 404}
    with pytest.raises(NotFound):
        await accept_as_new(db, token, "Again", "another-password", _now())
    user = await db.scalar(select(UserProfile).where(UserProfile.email == "new@example.com"))
    assert user is not None
    assert user.display_name == "Nia New"
    assert not user.is_installation_admin


async def test_existing_person_accepts_after_logging_in(settings: Settings, db: AsyncSession) -> None:
    acme = await make_team(db, "acme")
    acme_id = acme.workspace.id
    await make_team(db, "globex")
    invitation_token = await invite(db, _access(acme, "owner", Role.OWNER), "viewer@globex.test", "admin", _now())
    invitation_id = await db.scalar(select(Invitation.id).where(Invitation.email == "viewer@globex.test"))
    await db.commit()
    assert invitation_id is not None
    later = _now() + datetime.timedelta(days=8)
    with pytest.raises(NotFound):
        await answer_invitation(db, invitation_id, (await _user(db, "viewer@globex.test")).id, True, later)
    async with AsyncTestClient(app=create_app(settings)) as client:
        page = await client.get(f"/invite/{invitation_token}")
        assert page.status_code == 200
        assert "/login?next=/invite/" in page.text
        assert 'name="password"' not in page.text
        await login(client, "viewer@globex.test", PASSWORD)
        home = await client.get("/", follow_redirects=False)
        assert home.headers["location"] == "/invitations"
        listing = await client.get("/invitations")
        assert "Acme" in listing.text
        assert f"/invitations/{invitation_id}/accept" in listing.text
        accepted = await post_form(client, f"/invitations/{invitation_id}/accept", {}, from_page="/invitations")
        assert (accepted.status_code, accepted.headers["location"]) == (303, "/ws/acme/")
        assert (await client.get("/ws/acme/")).status_code == 200
        again = await post_form(client, f"/invitations/{invitation_id}/accept", {}, from_page="/ws/acme/")
        assert (again.status_code, again.headers["location"]) == (303, "/invitations")
    membership = await db.scalar(
        select(Membership)
        .join(UserProfile, UserProfile.id == Membership.user_id)
        .where(Membership.workspace_id == acme_id, UserProfile.email == "viewer@globex.test")
    )
    assert membership is not None
    assert membership.role == "admin"


async def _user(db: AsyncSession, email: str) -> UserProfile:
    await db.commit()
    user = await db.scalar(select(UserProfile).where(UserProfile.email == email))
    assert user is not None
    return user


async def test_someone_else_cannot_use_an_invitation(settings: Settings, db: AsyncSession) -> None:
    acme = await make_team(db, "acme")
    await make_team(db, "globex")
    token = await invite(db, _access(acme, "owner", Role.OWNER), "owner@globex.test", "member", _now())
    invitation_id = await db.scalar(select(Invitation.id).where(Invitation.email == "owner@globex.test"))
    await db.commit()
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "member@acme.test", PASSWORD)
        page = await client.get(f"/invite/{token}")
        assert page.status_code == 200
        assert "this invitation is for owner@globex.test" in page.text
        assert f"/invitations/{invitation_id}/accept" not in page.text
        refused = await post_form(client, f"/invitations/{invitation_id}/accept", {}, from_page="/ws/acme/")
        assert refused.status_code == 403
        # Logged in as someone else, the new-person form is not offered and posting it changes nothing.
        hijack = await post_form(
            client, f"/invite/{token}", {"display_name": "Eve", "password": "eve-password"}, from_page="/ws/acme/"
        )
        assert hijack.status_code == 303
        assert hijack.headers["location"].startswith("/login")
    invitation = await db.get_one(Invitation, invitation_id, populate_existing=True)
    assert invitation.status == "pending"
    assert (await _user(db, "owner@globex.test")).display_name == "Owner"


async def test_an_admin_cannot_invite_an_owner(settings: Settings, db: AsyncSession) -> None:
    await make_team(db, "acme")
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "admin@acme.test", PASSWORD)
        refused = await post_form(
            client, "/ws/acme/people/", {"email": "boss@example.com", "role": "owner"}, from_page="/ws/acme/people/"
        )
        assert refused.status_code == 403
        assert 'id="one-time-link"' not in refused.text
        member = await post_form(
            client, "/ws/acme/people/", {"email": "helper@example.com", "role": "member"}, from_page="/ws/acme/people/"
        )
        assert member.status_code == 200
        await login(client, "member@acme.test", PASSWORD)
        viewer_try = await post_form(
            client, "/ws/acme/people/", {"email": "x@example.com", "role": "viewer"}, from_page="/ws/acme/people/"
        )
        assert viewer_try.status_code == 403
    emails = set((await db.scalars(select(Invitation.email))).all())
    assert emails == {"helper@example.com"}


# ---------------------------------------------------------------- password reset links


async def test_reset_link_works_once_and_ends_other_sessions(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, "acme")
    membership_id = await db.scalar(select(Membership.id).where(Membership.user_id == team["member"].id))
    await db.commit()
    app = create_app(settings)
    async with AsyncTestClient(app=app) as old, AsyncTestClient(app=app) as admin, AsyncTestClient(app=app) as fresh:
        await login(old, "member@acme.test", PASSWORD)
        assert (await old.get("/ws/acme/")).status_code == 200
        await login(admin, "admin@acme.test", PASSWORD)
        issued = await post_form(admin, f"/ws/acme/people/{membership_id}/reset-link", {}, from_page="/ws/acme/people/")
        assert issued.status_code == 200
        path = _path(_link(issued))
        assert path.startswith("/password/")
        assert (await admin.get("/ws/acme/people/")).text.count(path) == 0  # shown only once
        page = await fresh.get(path)
        assert page.status_code == 200
        assert "member@acme.test" in page.text
        done = await post_form(fresh, path, {"password": "brand-new-password"}, from_page=path)
        assert done.status_code == 303
        assert (await fresh.get("/ws/acme/")).status_code == 200
        logged_out = await old.get("/ws/acme/", follow_redirects=False)
        assert logged_out.status_code == 303
        assert logged_out.headers["location"].startswith("/login")
        spent = await fresh.get(path)
        assert spent.status_code == 404
        assert "not valid" in spent.text
        reuse = await post_form(fresh, path, {"password": "third-password-x"}, from_page="/ws/acme/")
        assert reuse.status_code == 404
        await login(old, "member@acme.test", "brand-new-password")
        assert (await admin.get("/ws/acme/")).status_code == 200  # the admin's own session is untouched
    assert await _count(db, PasswordLink) == 1


async def test_an_admin_cannot_make_a_reset_link_for_an_owner(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db, "acme")
    owner_membership = await db.scalar(select(Membership.id).where(Membership.user_id == team["owner"].id))
    await db.commit()
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "admin@acme.test", PASSWORD)
        refused = await post_form(
            client, f"/ws/acme/people/{owner_membership}/reset-link", {}, from_page="/ws/acme/people/"
        )
        assert refused.status_code == 403
        assert "/password/" not in refused.text
    assert await _count(db, PasswordLink) == 0
