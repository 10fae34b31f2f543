"""With the incident page open, an acknowledgement from Slack shows in the timeline without a reload."""

from __future__ import annotations

import json
import re
import time
import urllib.request

from playwright.sync_api import Page, expect
from slack_sdk.signature import SignatureVerifier

from e2e.conftest import LiveServer, api_call, log_in
from tests.fakes.servers import FakeServer


def test_slack_ack_appears_in_the_open_timeline(page: Page, live_server: LiveServer, slack_fake: FakeServer) -> None:
    schedule = next(s for s in api_call(live_server, "GET", "/schedules") if s["name"] == "Platform — primary")
    incident = api_call(
        live_server, "POST", "/incidents", {"title": "Queue backlog", "severity": "SEV3", "schedule_id": schedule["id"]}
    )
    primary = incident["pages"][0]["user"]
    deadline = time.time() + 15
    post = None
    while post is None and time.time() < deadline:
        post = next(
            (
                c
                for c in slack_fake.calls("chat.postMessage")
                if f"INC-{incident['number']} " in c.params.get("text", "")
            ),
            None,
        )
        time.sleep(0.1)
    assert post is not None
    assert post.response is not None
    slack_ids = {
        "alice@example.com": "U0DEMOALIC",
        "bob@example.com": "U0DEMOBOB1",
        "carol@example.com": "U0DEMOCARL",
        "dave@example.com": "U0DEMODAVE",
        "admin@example.com": "U0DEMOADMN",
    }

    log_in(page, live_server, "viewer@example.com")
    page.goto(f"{live_server.url}/ws/demo/incidents/{incident['id']}")
    expect(page.locator("#incident-status")).to_have_text("triggered")
    page.evaluate("window.__same_page = true")

    body = json.dumps(
        {
            "type": "event_callback",
            "event_id": f"EvE2E{incident['number']}",
            "event": {
                "type": "reaction_added",
                "user": slack_ids[primary["email"]],
                "reaction": "white_check_mark",
                "item": {"type": "message", "channel": post.response["channel"], "ts": post.response["ts"]},
            },
        }
    ).encode()
    stamp = str(int(time.time()))
    signature = SignatureVerifier("e2e-signing-secret").generate_signature(timestamp=stamp, body=body)
    request = urllib.request.Request(
        f"{live_server.url}/integrations/slack/events",
        data=body,
        method="POST",
        headers={
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    expect(page.locator("ol.timeline")).to_contain_text(
        re.compile(rf"{primary['display_name']} acknowledged INC-{incident['number']} via Slack"), timeout=15_000
    )
    expect(page.locator("#incident-status")).to_have_text("acknowledged")
    assert page.evaluate("window.__same_page") is True
