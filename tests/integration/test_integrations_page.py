"""Settings → Integrations: admins see the wiring and the delivery log and set the incident channel."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Workspace
from app.main import create_app
from tests.factories import PASSWORD, make_team, reload
from tests.web import login, post_form

PAGE = "/ws/acme/settings/integrations"


async def test_admin_sees_urls_and_sets_the_channel(integration_settings: Settings, db: AsyncSession) -> None:
    team = await make_team(db)
    async with AsyncTestClient(app=create_app(integration_settings)) as client:
        await login(client, "admin@acme.test", PASSWORD)
        page = await client.get(PAGE)
        assert page.status_code == 200
        assert "http://testserver.local/integrations/slack/events" in page.text
        assert "http://testserver.local/integrations/twilio_sms/" in page.text
        assert "+15550009999" in page.text
        assert "xoxb-test-token" not in page.text  # secrets are never shown
        bad = await post_form(client, PAGE + "/slack-channel", {"channel": "#incidents"}, from_page=PAGE)
        assert "channel id" in (await client.get(bad.headers["location"])).text
        ok = await post_form(client, PAGE + "/slack-channel", {"channel": "c0newchan1"}, from_page=PAGE)
        assert ok.status_code == 303
    workspace = await reload(db, Workspace, team.workspace.id)
    assert workspace.slack_channel_id == "C0NEWCHAN1"


async def test_members_cannot_open_integrations(settings: Settings, db: AsyncSession) -> None:
    await make_team(db)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await login(client, "member@acme.test", PASSWORD)
        assert (await client.get(PAGE)).status_code == 403
