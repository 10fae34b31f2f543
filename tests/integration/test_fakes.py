"""The fake Slack and Twilio servers answer the real SDKs and record what they receive."""

from __future__ import annotations

from slack_sdk import WebClient
from twilio.rest import Client

from tests.fakes.servers import FakeServer


def test_slack_sdk_reaches_the_fake(fake_slack: FakeServer) -> None:
    client = WebClient(token="xoxb-test-token", base_url=fake_slack.url + "/api/")
    response = client.chat_postMessage(channel="C0INCIDENT", text="hello from a test")
    assert response["ok"]
    assert response["channel"] == "C0INCIDENT"
    assert response["ts"]
    (call,) = fake_slack.calls("chat.postMessage")
    assert call.params["text"] == "hello from a test"
    assert call.headers["authorization"] == "Bearer xoxb-test-token"


def test_twilio_sdk_reaches_the_fake(fake_twilio: FakeServer) -> None:
    sid = "AC" + "0" * 32
    client = Client(sid, "test-twilio-auth-token")
    client.api.base_url = fake_twilio.url
    message = client.messages.create(to="+15550100001", from_="+15550009999", body="ping")
    assert message.sid
    assert message.sid.startswith("SM")
    (call,) = fake_twilio.calls("/Messages.json")
    assert call.form == {"To": "+15550100001", "From": "+15550009999", "Body": "ping"}
    assert f"/Accounts/{sid}/" in call.path
