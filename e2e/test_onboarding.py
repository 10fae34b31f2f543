"""Onboarding through Chromium on a fresh production-mode server: the first-run setup with the code
`vigilo migrate` printed, invitations (a new person and one with an account) and a reset link."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from e2e.conftest import LiveServer, _free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-results"
ADMIN_PASSWORD = "admin-e2e-password"


@dataclass(frozen=True)
class FreshServer:
    server: LiveServer
    setup_code: str
    migrate_output: str


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshServer]:
    """`vigilo migrate` then `vigilo serve` on an empty SQLite file with VIGILO_ENV=production."""
    workdir = tmp_path_factory.mktemp("onboarding")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIGILO_")}
    env.update(
        {
            "VIGILO_ENV": "production",
            "VIGILO_SECRET_KEY": "e2e-onboarding-secret-0123456789abcdefghij",  # 40 characters
            "VIGILO_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'x.db'}",
            "VIGILO_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PYTHONPATH": str(ROOT),
        }
    )
    server = LiveServer(f"http://127.0.0.1:{port}", env)
    migrated = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = re.search(r"^one-time setup code: ([0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4})$", migrated.stdout, re.M)
    assert found, migrated.stdout + migrated.stderr
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise RuntimeError("server did not start:\n" + (workdir / "server.log").read_text()) from None
            time.sleep(0.2)
    yield FreshServer(server, found.group(1), migrated.stdout)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


def _fill_setup(page: Page, code: str) -> None:
    page.get_by_label("Setup code").fill(code)
    page.locator("#display_name").fill("Ada Admin")
    page.locator("#email").fill("ada@example.com")
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("#workspace_name").fill("Platform")
    page.locator("#slug").fill("platform")
    page.get_by_role("button", name="Create and log in").click()


def _log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _invite(page: Page, url: str, email: str) -> tuple[str, str]:
    """Invite `email` as a member from the People page: (the message shown, the one-time link)."""
    page.goto(url + "/ws/platform/people/")
    page.locator("#invite-email").fill(email)
    page.locator("#invite-role").select_option("member")
    page.get_by_role("button", name="Invite").click()
    box = page.locator("#one-time-link")
    expect(box).to_be_visible()
    return box.inner_text(), box.locator("code").inner_text().strip()


def _new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context()
    return context, context.new_page()


def test_fresh_production_server_setup_invitations_and_reset(browser: Browser, fresh_server: FreshServer) -> None:
    url = fresh_server.server.url
    assert f"{url}/setup" in fresh_server.migrate_output

    # ---- the setup page, at phone width first: usable without sideways scrolling
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    phone_page = phone.new_page()
    phone_page.goto(url + "/")
    expect(phone_page).to_have_url(re.compile(r"/setup$"))
    expect(phone_page.get_by_role("heading", name="Set up Vigilo On-call")).to_be_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    phone_page.screenshot(path=str(SCREENSHOTS / "onboarding-setup-390.png"), full_page=True)
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for field in ("#code", "#display_name", "#email", "#password", "#workspace_name", "#slug"):
        rect = phone_page.locator(field).bounding_box()
        assert rect is not None, field
        assert rect["x"] >= 0, field
        assert rect["x"] + rect["width"] <= 390, field
    phone.close()

    # ---- a wrong code is refused next to the field; nothing is created
    admin, page = _new_page(browser)
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    _fill_setup(page, "0000-0000-0000")
    expect(page.locator("#code-error")).to_contain_text("not the setup code")
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#code")).to_have_attribute("aria-describedby", "code-error")
    expect(page).to_have_url(re.compile(r"/setup$"))

    # ---- the printed code works: admin and workspace made, logged in, and /setup is gone
    _fill_setup(page, fresh_server.setup_code)
    expect(page).to_have_url(re.compile(r"/ws/platform/$"))
    expect(page.get_by_role("heading", name="Platform")).to_be_visible()
    gone = page.goto(url + "/setup")
    assert gone is not None
    assert gone.status == 404

    # ---- a second account, from the CLI, whose owner sets a password through the printed link
    printed = fresh_server.server.vigilo(
        "create-workspace", "--slug", "other", "--name", "Other", "--owner", "other@x.test"
    )
    owner_link = printed.strip().splitlines()[-1]
    assert owner_link.startswith(f"{url}/password/"), printed
    other, other_page = _new_page(browser)
    other_page.goto(owner_link)
    other_page.get_by_label("New password").fill("other-e2e-password")
    other_page.get_by_role("button", name="Set password and log in").click()
    expect(other_page).to_have_url(re.compile(r"/ws/other/$"))
    other.close()

    # ---- the admin invites a new email and the existing account: the same answer
    new_message, new_link = _invite(page, url, "newbie@x.test")
    known_message, known_link = _invite(page, url, "other@x.test")
    assert new_link.startswith(f"{url}/invite/")
    assert known_link.startswith(f"{url}/invite/")
    assert new_link != known_link
    masked = [
        message.replace(link, "LINK").replace(email, "EMAIL")
        for message, link, email in (
            (new_message, new_link, "newbie@x.test"),
            (known_message, known_link, "other@x.test"),
        )
    ]
    assert masked[0] == masked[1]
    pending = page.locator("#pending-invitations")
    expect(pending).to_contain_text("newbie@x.test")
    expect(pending).to_contain_text("other@x.test")

    # ---- the new person follows the link, sets name and password, and lands in the workspace
    newbie, newbie_page = _new_page(browser)
    newbie_page.goto(new_link)
    expect(newbie_page.get_by_role("heading", name="Join Platform")).to_be_visible()
    newbie_page.get_by_label("Your name").fill("Nico Newbie")
    newbie_page.get_by_label("Password").fill("newbie-e2e-password")
    newbie_page.get_by_role("button", name="Create my account and join").click()
    expect(newbie_page).to_have_url(re.compile(r"/ws/platform/$"))
    expect(newbie_page.get_by_text("Welcome to Platform, Nico Newbie.")).to_be_visible()

    # ---- the person with an account logs in, sees the invitation and accepts
    known, known_page = _new_page(browser)
    _log_in(known_page, url, "other@x.test", "other-e2e-password")
    expect(known_page).to_have_url(re.compile(r"/invitations$"))
    invitation = known_page.locator("section.card", has_text="Platform")
    expect(invitation).to_contain_text("as member")
    invitation.get_by_role("button", name="Accept").click()
    expect(known_page).to_have_url(re.compile(r"/ws/platform/$"))
    known.close()
    page.goto(url + "/ws/platform/people/")
    expect(page.locator("#pending-invitations")).to_have_count(0)
    for email in ("newbie@x.test", "other@x.test"):
        expect(page.get_by_role("row", name=re.compile(re.escape(email)))).to_be_visible()

    # ---- a reset link for the new person works once and logs out their old session
    row = page.get_by_role("row", name=re.compile(r"newbie@x\.test"))
    row.get_by_role("button", name="Password reset link").click()
    box = page.locator("#one-time-link")
    expect(box).to_contain_text("Nico Newbie")
    reset_link = box.locator("code").inner_text().strip()
    assert reset_link.startswith(f"{url}/password/")
    page.goto(url + "/ws/platform/people/")
    expect(page.locator("#one-time-link")).to_have_count(0)  # shown only once

    helper, helper_page = _new_page(browser)
    helper_page.goto(reset_link)
    expect(helper_page.get_by_text("newbie@x.test")).to_be_visible()
    helper_page.get_by_label("New password").fill("newbie-second-password")
    helper_page.get_by_role("button", name="Set password and log in").click()
    expect(helper_page).to_have_url(re.compile(r"/ws/platform/$"))
    again = helper_page.goto(reset_link)
    assert again is not None
    assert again.status == 404
    expect(helper_page.get_by_text("not valid")).to_be_visible()
    helper.close()

    newbie_page.goto(url + "/ws/platform/")
    expect(newbie_page).to_have_url(re.compile(r"/login\?next="))
    _log_in(newbie_page, url, "newbie@x.test", "newbie-e2e-password")
    expect(newbie_page.get_by_role("alert")).to_have_text("That email and password do not match an account.")
    _log_in(newbie_page, url, "newbie@x.test", "newbie-second-password")
    expect(newbie_page).to_have_url(re.compile(r"/ws/platform/$"))
    newbie.close()

    # The admin's own session went on through all of this.
    page.goto(url + "/ws/platform/")
    expect(page).to_have_url(re.compile(r"/ws/platform/$"))
    admin.close()


def test_setup_code_is_refused_once_the_server_is_set_up(fresh_server: FreshServer) -> None:
    """After setup, `vigilo setup-code` prints nothing new and POST /setup stays 404."""
    try:
        with urllib.request.urlopen(fresh_server.server.url + "/setup", timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status == 200:
        pytest.skip("runs after the setup test")
    assert status == 404
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "setup-code"],
        env=fresh_server.server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "set up already" in done.stderr
