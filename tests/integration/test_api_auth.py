"""The JSON API authenticates by Bearer token only, bound to one workspace and one user."""

from __future__ import annotations

import datetime

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import ApiToken
from app.main import create_app
from app.services.tokens import issue_token, revoke_token
from tests.factories import PASSWORD, make_team
from tests.web import login


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["detail"]
    assert "errors" in body
    return body  # type: ignore[no-any-return]


async def test_token_lists_members_with_the_users_role(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    token = await issue_token(db, team.workspace.id, team["viewer"].id, "ci")
    stored = await db.scalar(select(ApiToken))
    assert stored is not None
    assert token not in {stored.token_hash, stored.prefix}
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/api/v1/ws/acme/members", headers=bearer(token))
        assert response.status_code == 200
        emails = {m["user"]["email"] for m in response.json()}
        assert emails == {"owner@acme.test", "admin@acme.test", "member@acme.test", "viewer@acme.test"}
        assert set(response.json()[0]["user"]) == {"id", "email", "display_name"}


async def test_missing_and_garbage_tokens_are_401(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        body = assert_problem(await client.get("/api/v1/ws/acme/members"), 401)
        assert "Bearer" in str(body["detail"])
        assert_problem(await client.get("/api/v1/ws/acme/members", headers=bearer("vgl_made-up")), 401)
        assert_problem(await client.get("/api/v1/ws/acme/members", headers={"Authorization": "Basic abc"}), 401)


async def test_revoked_token_is_401(settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    token = await issue_token(db, team.workspace.id, team["admin"].id)
    row = await db.scalar(select(ApiToken))
    assert row is not None
    await revoke_token(db, row.id, datetime.datetime.now(datetime.UTC))
    async with AsyncTestClient(app=create_app(settings)) as client:
        body = assert_problem(await client.get("/api/v1/ws/acme/members", headers=bearer(token)), 401)
        assert "revoked" in str(body["detail"])


async def test_token_of_another_workspace_is_404(settings: Settings, db: AsyncSession) -> None:
    acme = await make_team(db, "acme")
    await make_team(db, "globex")
    token = await issue_token(db, acme.workspace.id, acme["owner"].id)
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert_problem(await client.get("/api/v1/ws/globex/members", headers=bearer(token)), 404)


async def test_session_cookie_never_authenticates_the_api(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "owner@acme.test", PASSWORD)
        assert (await client.get("/ws/acme/")).status_code == 200
        assert_problem(await client.get("/api/v1/ws/acme/members"), 401)


async def test_token_stops_working_when_membership_is_deactivated(settings: Settings, db: AsyncSession) -> None:
    from app.db.models import Membership

    team = await make_team(db)
    token = await issue_token(db, team.workspace.id, team["member"].id)
    membership = await db.scalar(select(Membership).where(Membership.user_id == team["member"].id))
    assert membership is not None
    membership.is_active = False
    await db.commit()
    async with AsyncTestClient(app=create_app(settings)) as client:
        assert_problem(await client.get("/api/v1/ws/acme/members", headers=bearer(token)), 401)


async def test_web_settings_page_creates_and_revokes_a_token(settings: Settings, db: AsyncSession) -> None:
    from tests.web import post_form

    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "member@acme.test", PASSWORD)
        created = await post_form(
            client, "/ws/acme/settings/tokens", {"name": "laptop"}, from_page="/ws/acme/settings/"
        )
        assert created.status_code == 200
        token = created.text.split('id="new-token">')[1].split("<")[0]
        assert (await client.get("/api/v1/ws/acme/members", headers=bearer(token))).status_code == 200
        row = await db.scalar(select(ApiToken))
        assert row is not None
        revoked = await post_form(
            client, f"/ws/acme/settings/tokens/{row.id}/revoke", {}, from_page="/ws/acme/settings/"
        )
        assert revoked.status_code == 303
        assert (await client.get("/api/v1/ws/acme/members", headers=bearer(token))).status_code == 401
