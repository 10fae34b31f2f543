"""End-to-end fixtures: the app as `make run` starts it, on a free port, driven by system Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.servers import FakeServer, start_fake_pagerduty, start_fake_slack

CHROMIUM = os.environ.get("VIGILO_CHROMIUM", "/usr/bin/chromium")
DEMO_PASSWORD = "e2e-demo-password"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        # Our network is closed: stop Chromium from reaching for Google's services at start-up.
        "args": ["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    env: dict[str, str]

    def vigilo(self, *args: str) -> str:
        """Run a `vigilo` command against the same database; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *args], env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout


@pytest.fixture(scope="session")
def slack_fake() -> Iterator[FakeServer]:
    """The fake Slack the live server talks to (through the real slack-sdk)."""
    server = start_fake_slack()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pagerduty_fake() -> Iterator[FakeServer]:
    """The fake PagerDuty (Events API v2 and REST API) the live server talks to (through the real client)."""
    server = start_fake_pagerduty()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, slack_fake: FakeServer, pagerduty_fake: FakeServer
) -> Iterator[LiveServer]:
    """`vigilo migrate`, `vigilo demo`, `vigilo serve` on a fresh SQLite file, as `make run` does."""
    workdir = tmp_path_factory.mktemp("live")
    port = _free_port()
    env = {
        **os.environ,
        "VIGILO_ENV": "test",
        "VIGILO_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'vigilo.db'}",
        "VIGILO_SECRET_KEY": "e2e-secret-key-0123456789-0123456789",
        "VIGILO_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "VIGILO_SLACK_BOT_TOKEN": "xoxb-e2e",
        "VIGILO_SLACK_SIGNING_SECRET": "e2e-signing-secret",
        "VIGILO_SLACK_API_URL": slack_fake.url + "/api/",
        "VIGILO_PAGERDUTY_EVENTS_URL": pagerduty_fake.url,
        "VIGILO_PAGERDUTY_API_URL": pagerduty_fake.url,
    }
    env.pop("VIGILO_REDIS_URL", None)
    server = LiveServer(f"http://127.0.0.1:{port}", env)
    server.vigilo("migrate")
    server.vigilo("demo", "--password", DEMO_PASSWORD)
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
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
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


def api_call(
    server: LiveServer, method: str, path: str, body: dict[str, Any] | None = None, as_email: str = "admin@example.com"
) -> Any:
    """Call the demo workspace's JSON API with a fresh token of `as_email`."""
    issued = server.vigilo("create-token", "--workspace", "demo", "--email", as_email)
    request = urllib.request.Request(
        f"{server.url}/api/v1/ws/demo{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {issued.strip().splitlines()[-1]}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def log_in(page: Page, server: LiveServer, email: str) -> None:
    """Log in through the form as a demo person (fresh cookies first)."""
    page.context.clear_cookies()
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ws/demo/?$"))


# Leaf boxes a person reads or presses; two of them overlapping is text on text.
OVERLAPS = """
(root) => {
  const scope = root ? document.querySelector(root) : document;
  const wanted = 'a, button, input, select, textarea, label, .badge, h1, h2, h3, p, li, td, th, time, code, legend';
  const boxes = [];
  for (const el of scope.querySelectorAll(wanted)) {
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || el.closest('[hidden], .sr-only, thead')) continue;
    // The content of a closed <details> is not shown (Chromium still gives it a box): only its summary.
    const folded = el.closest('details:not([open])');
    if (folded && !el.closest('summary')) continue;
    if (el.offsetParent === null && style.position !== 'fixed') continue;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) continue;
    boxes.push([el, r]);
  }
  const found = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, ra] = boxes[i], [b, rb] = boxes[j];
      if (a.contains(b) || b.contains(a)) continue;
      const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
      const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
      if (w > 2 && h > 2) found.push(`${a.tagName}.${a.className} "${(a.textContent || '').trim().slice(0, 30)}" with ${b.tagName}.${b.className} "${(b.textContent || '').trim().slice(0, 30)}"`);
    }
  }
  return found.slice(0, 10);
}
"""
