"""The pager in trouble, as an owner sees it: a page message stuck for five minutes puts a red banner
on every workspace page (loaded by htmx, refreshed every 30 s) saying what is wrong; a member sees
none; once the message is dealt with, the banner goes on the next refresh. Saved at desktop and phone
width as e2e/artifacts/engine-banner-*.png."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db.engine import create_engine
from app.db.models import DeliveryLog
from app.db.transactions import writing
from app.services.deliveries import queue_delivery
from e2e.conftest import OVERLAPS, LiveServer, log_in
from e2e.test_pagerduty import DESKTOP, PHONE, UNREADABLE, _shot

BANNER = "#engine-status .engine-trouble"


def _set_stuck_message(server: LiveServer, stuck: bool) -> uuid.UUID | None:
    """Queue an SMS that has been due for five minutes with nobody sending it (stuck), or give up on
    every such message again (not stuck), straight in the server's database."""

    async def work() -> uuid.UUID | None:
        engine = create_engine(server.env["VIGILO_DATABASE_URL"])
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as db, writing(db):
                if not stuck:
                    await db.execute(
                        update(DeliveryLog)
                        .where(DeliveryLog.summary == "e2e: stuck page", DeliveryLog.status == "pending")
                        .values(status="failed", error="given up by the e2e test")
                    )
                    return None
                now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
                row = queue_delivery(
                    db, workspace_id=None, channel="sms", target="+15550100099", text="e2e: stuck page", now=now
                )
                return row.id
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps an event loop in this thread
        return pool.submit(asyncio.run, work()).result()


def test_owners_see_the_engine_in_trouble_and_members_do_not(browser: Browser, live_server: LiveServer) -> None:
    _set_stuck_message(live_server, stuck=True)
    try:
        for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
            context = browser.new_context(viewport=size)
            page: Page = context.new_page()
            log_in(page, live_server, "admin@example.com")
            page.goto(live_server.url + "/ws/demo/oncall/")
            banner = page.locator(BANNER)
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("The pager is in trouble.")
            expect(banner).to_contain_text("A message has waited 5 minutes to be sent: pages are not going out.")
            expect(banner.get_by_role("link", name="Details")).to_have_attribute("href", "/healthz/engine")
            assert page.evaluate(UNREADABLE, "#main") == []
            assert page.evaluate(OVERLAPS, "#main") == []
            _shot(page, f"engine-banner-{label}", full_page=False)
            context.close()

        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        log_in(page, live_server, "alice@example.com")  # a member
        page.goto(live_server.url + "/ws/demo/oncall/")
        expect(page.locator("h1")).to_be_visible()
        expect(page.locator("#engine-status")).to_have_count(0)
        context.close()

        # Dealt with: the banner is gone the next time it is loaded.
        _set_stuck_message(live_server, stuck=False)
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        log_in(page, live_server, "admin@example.com")
        with page.expect_response(lambda r: r.url.endswith("/ws/demo/engine-status")) as loaded:
            page.goto(live_server.url + "/ws/demo/oncall/")
        assert loaded.value.status == 200
        expect(page.locator(BANNER)).to_have_count(0)
        context.close()
    finally:
        _set_stuck_message(live_server, stuck=False)  # the shared server is healthy for the other tests
