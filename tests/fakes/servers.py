"""Small fake Slack, Twilio and PagerDuty HTTP servers on 127.0.0.1 that record every request.

They answer like the real APIs do for the calls we make, so the real slack-sdk and twilio
clients can be pointed at them. `fail_next` makes the next answers an error (status, body,
headers) or a hang, for fault tests.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    response: dict[str, Any] | None = None  # what the fake answered (e.g. the ts of a posted message)

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def json(self) -> dict[str, Any]:
        data = json.loads(self.body.decode() or "{}")
        return data if isinstance(data, dict) else {}

    @property
    def params(self) -> dict[str, Any]:
        """The call's arguments, whether sent as JSON or as a form."""
        if "json" in self.headers.get("content-type", ""):
            return self.json
        return self.form


@dataclass
class Failure:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0
    # Only a request this accepts gets the failure (e.g. the SMS to one number); others pass it by.
    when: Any = None


class FakeServer:
    """A recording HTTP server; `responder(request)` returns (status, json body)."""

    def __init__(self, responder: Any) -> None:
        self.requests: list[RecordedRequest] = []
        self.directory: dict[str, str] = {}  # fake Slack: email → Slack user id, for users.lookupByEmail
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self._responder = responder
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = RecordedRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
                )
                with fake._lock:
                    fake.requests.append(recorded)
                    failure = next((f for f in fake._failures if f.when is None or f.when(recorded)), None)
                    if failure is not None:
                        fake._failures.remove(failure)
                if failure is not None:
                    if failure.hang_seconds:
                        time.sleep(failure.hang_seconds)
                    self._send(failure.status, failure.body.encode(), failure.headers)
                    return
                status, payload = fake._responder(recorded)
                recorded.response = payload
                self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _handle  # noqa: N815
            do_POST = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, failure: Failure, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([failure] * times)

    def calls(self, path_suffix: str) -> list[RecordedRequest]:
        """Requests whose path ends with `path_suffix` (e.g. "chat.postMessage")."""
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0].endswith(path_suffix)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _slack_responder(request: RecordedRequest, directory: dict[str, str]) -> tuple[int, dict[str, Any]]:
    method = request.path.split("?")[0].rsplit("/", 1)[-1]
    params = request.params
    if method == "auth.test":
        return 200, {"ok": True, "user_id": "U0VIGILOBOT", "bot_id": "B0VIGILO", "team_id": "T0FAKE"}
    if method == "chat.postMessage":
        ts = f"{time.time():.6f}"
        return 200, {"ok": True, "channel": params.get("channel", "C0FAKE"), "ts": ts, "message": {"ts": ts}}
    if method == "conversations.open":
        users = str(params.get("users", "U0"))
        return 200, {"ok": True, "channel": {"id": "D" + users.split(",", maxsplit=1)[0][1:]}}
    if method == "reactions.add":
        return 200, {"ok": True}
    if method == "users.lookupByEmail":
        found = directory.get(str(params.get("email", "")).lower())
        if found is None:
            return 200, {"ok": False, "error": "users_not_found"}
        return 200, {"ok": True, "user": {"id": found, "name": found.lower()}}
    return 200, {"ok": True}


def _twilio_responder(request: RecordedRequest) -> tuple[int, dict[str, Any]]:
    if request.path.endswith("/Messages.json"):
        form = request.form
        return 201, {
            "sid": "SM" + uuid.uuid4().hex,
            "status": "queued",
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
        }
    if request.path.endswith("/Calls.json"):
        form = request.form
        return 201, {
            "sid": "CA" + uuid.uuid4().hex,
            "status": "queued",
            "to": form.get("To"),
            "from": form.get("From"),
        }
    return 404, {"code": 20404, "message": "not found", "status": 404}


def gather_url(twiml: str) -> str:
    """The URL a call's <Gather> posts the key to (what Twilio would call)."""
    match = re.search(r'<Gather[^>]* action="([^"]+)"', twiml)
    assert match, f"no <Gather action=...> in {twiml}"
    return html.unescape(match.group(1))


def signed_twilio_post(auth_token: str, url: str, params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A webhook the way Twilio posts it: the form, and the X-Twilio-Signature the SDK's own helper
    computes over the full URL and the fields."""
    signature = RequestValidator(auth_token).compute_signature(url, params)
    return params, {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


def _pagerduty_responder(request: RecordedRequest, users: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """PagerDuty's Events API v2 (POST /v2/enqueue) and the REST API's GET /users/{id}."""
    path = request.path.split("?")[0]
    if request.method == "POST" and path == "/v2/enqueue":
        body = request.json
        if not body.get("routing_key") or body.get("event_action") not in {"trigger", "acknowledge", "resolve"}:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["bad event"]}
        return 202, {
            "status": "success",
            "message": "Event processed",
            "dedup_key": body.get("dedup_key") or uuid.uuid4().hex,
        }
    match = re.fullmatch(r"/users/([A-Z0-9]+)", path)
    if request.method == "GET" and match:
        if not request.headers.get("authorization", "").startswith("Token token="):
            return 401, {"error": {"message": "Unauthorized", "code": 2006}}
        email = users.get(match.group(1))
        if email is None:
            return 404, {"error": {"message": "Not Found", "code": 2100}}
        name = email.split("@")[0].title()
        return 200, {"user": {"id": match.group(1), "type": "user", "email": email, "name": name, "summary": name}}
    return 404, {"error": {"message": "Not Found", "code": 2100}}


def pagerduty_signature(secret: str, raw: bytes) -> str:
    """The fake's own signing: "v1=" + hex HMAC-SHA256 of the raw body (PagerDuty's v3 scheme)."""
    return "v1=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def pagerduty_webhook(
    event_type: str,
    incident_key: str | None,
    agent_id: str | None = "PAGENT1",
    agent_summary: str = "Pat Pager",
    event_id: str | None = None,
) -> dict[str, Any]:
    """A v3 webhook body as PagerDuty sends it for an incident event."""
    return {
        "event": {
            "id": event_id or "01" + uuid.uuid4().hex[:24].upper(),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-12-01T03:00:00.000Z",
            "agent": {"id": agent_id, "type": "user_reference", "summary": agent_summary} if agent_id else None,
            "client": None,
            "data": {
                "id": "Q0" + uuid.uuid4().hex[:10].upper(),
                "type": "incident",
                "number": 42,
                "status": "acknowledged" if event_type == "incident.acknowledged" else "resolved",
                "incident_key": incident_key,
                "title": "a fake incident",
            },
        }
    }


def signed_pagerduty_post(secrets: list[str], body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A webhook the way PagerDuty posts it: the raw body, one `v1=` signature per secret (comma-
    separated, as during a secret rotation) and the event id in X-Webhook-Id."""
    raw = json.dumps(body).encode()
    signature = ",".join(pagerduty_signature(secret, raw) for secret in secrets)
    return raw, {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": signature,
        "X-Webhook-Id": str(body.get("event", {}).get("id", "")),
        "X-Webhook-Subscription": "PSUB0FAKE",
    }


def start_fake_pagerduty() -> FakeServer:
    """`directory` maps a PagerDuty user id to their email (GET /users/{id})."""
    users: dict[str, str] = {}
    server = FakeServer(lambda request: _pagerduty_responder(request, users))
    server.directory = users
    return server


def start_fake_slack() -> FakeServer:
    directory: dict[str, str] = {}
    server = FakeServer(lambda request: _slack_responder(request, directory))
    server.directory = directory
    return server


def start_fake_twilio() -> FakeServer:
    return FakeServer(_twilio_responder)
