"""A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, which `.ci/run` installs) for
the tests: its YAML config written into the test's directory with one webhook receiver, started on a
free port with clustering off, ready once GET /-/ready answers, and always killed at teardown.
Alerts are posted to its own API (/api/v2/alerts), as Prometheus does."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI
from tests.processes import free_port

BINARY = "/usr/bin/prometheus-alertmanager"
# Short waits so a test plays out in seconds: notify a new group after 1 s, a changed one within 1 s.
GROUP_WAIT = "1s"
GROUP_INTERVAL = "1s"
REPEAT_INTERVAL = "1h"  # an unchanged group is never sent again while a test runs
# How long an alert posted without endsAt lasts unless posted again (Prometheus re-posts; the tests
# end alerts themselves): longer than any test, so nothing ends by itself.
RESOLVE_TIMEOUT = "2m"


def instant(at: datetime.datetime | None = None) -> str:
    return (at or datetime.datetime.now(datetime.UTC)).isoformat().replace("+00:00", "Z")


def binary() -> str:
    """The binary's path; skipped where it is missing, but a failure under CI, which must run it."""
    found = BINARY if Path(BINARY).is_file() else shutil.which("prometheus-alertmanager")
    if found:
        return found
    message = "prometheus-alertmanager is not installed (apt-get install -y prometheus-alertmanager; .ci/run does)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Alertmanager:
    """One Alertmanager process whose only route groups by alertname and sends to `webhook_url`."""

    directory: Path
    webhook_url: str
    group_by: tuple[str, ...] = ("alertname",)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where its API answers; also its externalURL, which each notification carries."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "alertmanager.log"

    def config(self) -> dict[str, Any]:
        return {
            "global": {"resolve_timeout": RESOLVE_TIMEOUT},
            "route": {
                "receiver": "vigilo",
                "group_by": list(self.group_by),
                "group_wait": GROUP_WAIT,
                "group_interval": GROUP_INTERVAL,
                "repeat_interval": REPEAT_INTERVAL,
            },
            "receivers": [{"name": "vigilo", "webhook_configs": [{"url": self.webhook_url, "send_resolved": True}]}],
        }

    def start(self, timeout: float = 20) -> None:
        path = self.directory / "alertmanager.yml"
        path.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML
        storage = self.directory / "alertmanager-data"
        storage.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary(),
                f"--config.file={path}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--web.external-url={self.url}",
                "--cluster.listen-address=",  # no clustering: no gossip port, ready at once
                "--log.level=debug",  # each notification attempt, for the failure message
            ],
            cwd=self.directory,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"alertmanager exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"alertmanager was not ready in {timeout} s:\n{self.tail()}")
            time.sleep(0.1)

    def post(self, *alerts: dict[str, Any]) -> None:
        """Alerts into its API, as Prometheus sends them."""
        answer = httpx.post(self.url + "/api/v2/alerts", json=list(alerts), timeout=5)
        assert answer.status_code == 200, answer.text

    def alerts(self) -> list[dict[str, Any]]:
        """What it holds now (its API's view)."""
        found: list[dict[str, Any]] = httpx.get(self.url + "/api/v2/alerts", timeout=5).json()
        return found

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


def alert(
    labels: dict[str, str],
    starts_at: datetime.datetime,
    annotations: dict[str, str] | None = None,
    ended: bool = False,
    generator_url: str = "http://prometheus.example:9090/graph",
) -> dict[str, Any]:
    """One alert of /api/v2/alerts, as Prometheus posts it; `ended`: its endsAt is now, which ends it
    (without one it lasts RESOLVE_TIMEOUT)."""
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations or {},
        "startsAt": instant(starts_at),
        "generatorURL": generator_url,
    }
    if ended:
        body["endsAt"] = instant()
    return body
