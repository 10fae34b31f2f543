"""Production parts as separate processes, for the tests that break them: a private redis-server on a
free port (never the shared one), `vigilo worker` and `vigilo serve` processes on PostgreSQL, with the
fake Slack, Twilio and PagerDuty servers behind the real SDKs. Delays are scaled (VIGILO_SECONDS_PER_DELAY_MINUTE),
the periodic sweeps tick every second and a send times out after two seconds, so faults play out fast."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import redis

from app.config import Environment, Settings
from app.tasks import broker as task_broker

ROOT = Path(__file__).resolve().parents[1]
SCALE = 0.1  # one minute of delay lasts 0.1 s
TICK_SECONDS = 1.0
SEND_TIMEOUT_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server of this test's own, with no persistence: a restart loses everything."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=(self.directory / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def flushall(self) -> None:
        client = redis.Redis.from_url(self.url)
        client.flushall()
        client.close()


@dataclass
class Stack:
    """Worker and web processes sharing one PostgreSQL database and the private Redis."""

    settings: Settings
    env: dict[str, str]
    redis: RedisServer
    log: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    webs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self) -> None:
        """A `vigilo worker` process, once it is ready for action (importing the app takes seconds:
        a test timing how fast a page leaves must not time the worker's start-up)."""
        ready = "Worker process is ready for action."
        before = self.log.read_text(errors="replace").count(ready) if self.log.exists() else 0
        self.workers.append(self._spawn("worker", "--processes", "1", "--threads", "2"))
        deadline = time.monotonic() + 60
        while self.log.read_text(errors="replace").count(ready) <= before if self.log.exists() else True:
            if time.monotonic() > deadline:
                raise RuntimeError("worker process did not start:\n" + self.log.read_text(errors="replace"))
            time.sleep(0.1)

    def start_web(self) -> str:
        """A `vigilo serve` process; its base URL once it answers."""
        port = free_port()
        self.webs.append(self._spawn("serve", "--host", "127.0.0.1", "--port", str(port)))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return url
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("web process did not start:\n" + self.log.read_text()) from None
                time.sleep(0.2)

    def kill_workers(self) -> None:
        """kill -9: no goodbye, so messages in flight stay where they were."""
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.workers.clear()

    def stop(self) -> None:
        for process in self.workers + self.webs:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers + self.webs:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.workers.clear()
        self.webs.clear()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def stack(integration_settings: Settings, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    """One worker process running (start more with `start_worker`, web processes with `start_web`)."""
    if "postgresql" not in integration_settings.database_url:
        pytest.skip("worker processes run against PostgreSQL, as in production")
    settings = replace(
        integration_settings,
        redis_url=redis_server.url,
        seconds_per_delay_minute=SCALE,
        env=Environment.DEVELOPMENT,
        tick_seconds=TICK_SECONDS,
        send_timeout_seconds=SEND_TIMEOUT_SECONDS,
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VIGILO_ENV": "development",
        "VIGILO_DATABASE_URL": settings.database_url,
        "VIGILO_REDIS_URL": redis_server.url,
        "VIGILO_SECRET_KEY": settings.secret_key,
        "VIGILO_PUBLIC_URL": settings.public_url,
        "VIGILO_SLACK_BOT_TOKEN": settings.slack_bot_token or "",
        "VIGILO_SLACK_SIGNING_SECRET": settings.slack_signing_secret or "",
        "VIGILO_SLACK_API_URL": settings.slack_api_url or "",
        "VIGILO_TWILIO_ACCOUNT_SID": settings.twilio_account_sid or "",
        "VIGILO_TWILIO_AUTH_TOKEN": settings.twilio_auth_token or "",
        "VIGILO_TWILIO_FROM_NUMBER": settings.twilio_from_number or "",
        "VIGILO_TWILIO_API_URL": settings.twilio_api_url or "",
        "VIGILO_PAGERDUTY_EVENTS_URL": settings.pagerduty_events_url,
        "VIGILO_PAGERDUTY_API_URL": settings.pagerduty_api_url,
        "VIGILO_SECONDS_PER_DELAY_MINUTE": str(SCALE),
        "VIGILO_TICK_SECONDS": str(TICK_SECONDS),
        "VIGILO_SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT_SECONDS),
        # The web and worker processes add up their metrics here (a folder of this test's own).
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir(exist_ok=True)
    # This process only enqueues (as a web process does); the workers do the rest.
    task_broker.configure(settings, with_ticker=False)
    running = Stack(settings, env, redis_server, tmp_path / "processes.log")
    running.start_worker()
    yield running
    running.stop()
    # Whatever the test did to them, the processes never wrote a secret into their logs.
    logged = running.log.read_text(errors="replace") if running.log.exists() else ""
    secrets = {
        "VIGILO_SECRET_KEY": settings.secret_key,
        "VIGILO_SLACK_BOT_TOKEN": settings.slack_bot_token,
        "VIGILO_SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "VIGILO_TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
    }
    leaked = [name for name, secret in secrets.items() if secret and secret in logged]
    assert not leaked, f"the worker and web logs hold {leaked}"
