"""Login, logout, CSRF, throttling and sessions, on both databases."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import LoginFailure, UserProfile, WebSession
from app.domain.login_throttle import MAX_FAILURES_PER_PAIR
from app.main import create_app
from tests.factories import PASSWORD, make_team, reload
from tests.web import login, post_form


async def test_login_then_home_then_logout(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await login(client, "owner@acme.test", PASSWORD)
        assert response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert "vigilo_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie.replace("Lax", "lax")
        home = await client.get("/", follow_redirects=True)
        assert home.status_code == 200
        assert "Acme" in home.text
        assert "Owner" in home.text
        logout = await post_form(client, "/logout", {}, from_page="/ws/acme/")
        assert logout.status_code == 303
        after = await client.get("/ws/acme/", follow_redirects=False)
        assert after.status_code == 303
        assert after.headers["location"].startswith("/login?next=")


async def test_wrong_password_shows_error_and_gives_no_session(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await post_form(client, "/login", {"email": "owner@acme.test", "password": "nope-nope"})
        assert response.status_code == 401
        assert "do not match" in response.text
        page = await client.get("/ws/acme/", follow_redirects=False)
        assert page.status_code == 303
    assert await db.scalar(select(func.count()).select_from(WebSession).where(WebSession.data.is_not(None))) == 0
    assert await db.scalar(select(func.count()).select_from(LoginFailure)) == 1


async def test_repeated_failures_throttle_even_the_right_password(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        for _ in range(MAX_FAILURES_PER_PAIR):
            response = await post_form(client, "/login", {"email": "owner@acme.test", "password": "wrong-wrong"})
            assert response.status_code == 401
        throttled = await post_form(client, "/login", {"email": "owner@acme.test", "password": PASSWORD})
        assert throttled.status_code == 429
        assert "Too many failed attempts" in throttled.text
        assert int(throttled.headers["retry-after"]) > 0
        # Another account from the same address is still let in.
        await login(client, "member@acme.test", PASSWORD)


async def test_post_without_csrf_token_is_refused_and_changes_nothing(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        response = await client.post(
            "/ws/acme/profile/",
            data={"display_name": "Hijacked", "phone": "", "slack_user_id": "", "time_zone": "UTC"},
            follow_redirects=False,
        )
        assert response.status_code == 403
        assert "CSRF" in response.text
    owner = await reload(db, UserProfile, team["owner"].id)
    assert owner.display_name == "Owner"


async def test_session_survives_a_restart_and_another_process(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as first:
        await login(first, "owner@acme.test", PASSWORD)
        cookie = first.cookies.get("vigilo_session")
    assert cookie
    async with AsyncTestClient(app=create_app(settings)) as second:
        second.cookies.set("vigilo_session", cookie, domain="testserver.local")
        page = await second.get("/ws/acme/", follow_redirects=False)
        assert page.status_code == 200


async def test_login_issues_a_fresh_session_id(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        client.cookies.set("vigilo_session", "planted-by-an-attacker", domain="testserver.local")
        await login(client, "owner@acme.test", PASSWORD)
        assert client.cookies.get("vigilo_session") not in {None, "planted-by-an-attacker"}


async def test_next_parameter_only_goes_to_our_own_paths(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await post_form(
            client, "/login", {"email": "owner@acme.test", "password": PASSWORD, "next": "//evil.example/"}
        )
        assert response.headers["location"] == "/"
