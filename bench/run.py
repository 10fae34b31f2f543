"""`make bench`: measure what on-call users feel, on this machine, with the app run as in production.

It times how long the app takes to start (from `vigilo serve`, and from a fresh clone's `make run`),
makes a fresh PostgreSQL database, seeds it, starts 2 web processes and 2 worker processes on
Redis (plus fake Slack and Twilio servers on 127.0.0.1), runs every scenario with bounded load,
stops everything it started, and writes bench/results/latest.json and latest.md.
`python bench/run.py --only paging` (or any of startup, http, paging, webhooks, alerts, rotation,
comma-separated) runs just those; the report then says which ran.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import Environment
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.models import DeliveryLog, Incident, Membership, Page, Workspace
from app.db.transactions import writing
from app.domain.roles import Role
from app.services.accounts import add_user
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.overrides import edit_slot
from app.services.schedules import create_schedule, regenerate_schedule, slots_between
from app.services.tokens import issue_token
from tests.fakes.servers import FakeServer, start_fake_slack, start_fake_twilio

PG_ADMIN = os.environ.get("VIGILO_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("VIGILO_BENCH_REDIS", "redis://127.0.0.1:6379/13")
DB_NAME = "vigilo_bench"
DB_URL = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{DB_NAME}"
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret-key-0123456789-0123456789-abcdef"
SIGNING = "bench-signing-secret"
TWILIO_TOKEN = "bench-twilio-token"
SCALE = 0.05  # one minute of escalation delay lasts 0.05 s
PASSWORD = "bench-password-123"


@dataclass
class Figure:
    scenario: str
    figure: str
    value: float
    unit: str
    target: str
    passed: bool | None


FIGURES: list[Figure] = []


def record(scenario: str, figure: str, value: float, unit: str, target: str = "", passed: bool | None = None) -> None:
    FIGURES.append(Figure(scenario, figure, round(value, 3), unit, target, passed))
    mark = "" if passed is None else (" PASS" if passed else " MISS")
    print(f"  {scenario:28} {figure:34} {value:12.3f} {unit:8} {target}{mark}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Slowness:
    """How long the fake Slack and Twilio take to answer (0: at once), to keep the delivery queue busy.
    The fakes take a responder; this wraps it, leaving tests/fakes as it is."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, server: FakeServer) -> None:
        inner = server._responder

        def responder(request: Any) -> Any:
            if self.seconds:
                time.sleep(self.seconds)
            return inner(request)

        server._responder = responder


# ---------------------------------------------------------------- set-up


def fresh_database() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    upgrade(DB_URL)


async def seed(schedules: int = 200) -> dict[str, Any]:
    """A workspace with 20 people and `schedules` daily schedules holding a year of slots, some overridden."""
    engine = create_engine(DB_URL)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime.datetime.now(datetime.UTC)
    async with maker() as db:
        async with writing(db):
            workspace = Workspace(slug="bench", name="Bench", slack_channel_id="C0BENCH001")
            db.add(workspace)
            await db.flush()
            people = []
            for i in range(20):
                user = await add_user(
                    db,
                    f"p{i}@bench.test",
                    f"Person {i}",
                    password=PASSWORD if i < 2 else None,
                    phone=f"+1555020{i:04d}",
                    slack_user_id=f"U0BENCH{i:03d}",
                    verified_at=datetime.datetime.now(datetime.UTC),
                )
                db.add(
                    Membership(
                        workspace_id=workspace.id,
                        user_id=user.id,
                        role=Role.OWNER.value if i == 0 else Role.MEMBER.value,
                    )
                )
                people.append(user)
        started = time.perf_counter()
        ids = await add_schedules(db, workspace, people, schedules, datetime.timedelta(days=365), now)
        seeded = time.perf_counter() - started
        token = await issue_token(db, workspace.id, people[0].id, "bench")
    await engine.dispose()
    return {"workspace_id": workspace.id, "schedule_ids": ids, "token": token, "seconds": seeded, "people": people}


async def add_schedules(
    db: Any, workspace: Workspace, people: list[Any], count: int, history: datetime.timedelta, now: datetime.datetime
) -> list[uuid.UUID]:
    """`count` daily schedules of 4 of the people (people[0] the owner and backup), started `history` ago
    and laid out to the 8-week horizon; every fourth has an override the day after tomorrow."""
    owner = WorkspaceAccess(WorkspaceRef.of(workspace), UserRef.of(people[0]), Role.OWNER)
    ids = []
    for n in range(count):
        members = [people[(n + k) % 19 + 1].email for k in range(4)]
        schedule = await create_schedule(
            db,
            workspace.id,
            {
                "name": f"Service {n:04d}",
                "rotation": "daily",
                "timezone": "Europe/Berlin",
                "handoff_time": "09:00",
                "starts_at": (now - history).isoformat(),
                "members": members,
                "escalation_to": people[0].email,
                "escalation_delay_minutes": 10,
            },
            now,
        )
        ids.append(schedule.id)
        if n % 4 == 0:  # some overrides
            rows = await slots_between(
                db, schedule.id, now + datetime.timedelta(days=2), now + datetime.timedelta(days=3)
            )
            if rows:
                await edit_slot(db, owner, rows[0][0].id, {"user": people[(n % 19) + 1].email}, now)
    return ids


WIDE_SLUG = "bench2k"
WIDE_SCHEDULES = 2000
WIDE_HISTORY = datetime.timedelta(days=7)  # with the 8-week horizon, about 63 slots a schedule


async def seed_wide(people: list[Any]) -> dict[str, Any]:
    """A second workspace, bench2k, whose members are the first workspace's 20 people, with 2,000 daily
    schedules: the on-call page and who's up at ten times the first workspace's size. A week of history
    each (not a year) keeps seeding affordable; who's up and the page look at now and ahead."""
    engine = create_engine(DB_URL)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime.datetime.now(datetime.UTC)
    async with maker() as db:
        async with writing(db):
            workspace = Workspace(slug=WIDE_SLUG, name="Bench 2k", slack_channel_id="C0BENCH2K0")
            db.add(workspace)
            await db.flush()
            for i, person in enumerate(people):
                role = Role.OWNER.value if i == 0 else Role.MEMBER.value
                db.add(Membership(workspace_id=workspace.id, user_id=person.id, role=role))
        started = time.perf_counter()
        await add_schedules(db, workspace, people, WIDE_SCHEDULES, WIDE_HISTORY, now)
        seeded = time.perf_counter() - started
        token = await issue_token(db, workspace.id, people[0].id, "bench2k")
    await engine.dispose()
    return {"token": token, "seconds": seeded}


@dataclass
class Stack:
    processes: list[subprocess.Popen[bytes]]
    url: str
    env: dict[str, str]


@contextmanager
def running_stack(slack_url: str, twilio_url: str) -> Iterator[Stack]:
    redis.Redis.from_url(REDIS_BASE).flushdb()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # Production topology (PostgreSQL, Redis, several web and worker processes); development mode
        # only because the SDKs must be pointed at the local fakes, which production refuses.
        "VIGILO_ENV": Environment.DEVELOPMENT.value,
        "VIGILO_DATABASE_URL": DB_URL,
        "VIGILO_REDIS_URL": REDIS_BASE,
        "VIGILO_SECRET_KEY": SECRET,
        "VIGILO_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "VIGILO_SLACK_BOT_TOKEN": "xoxb-bench",
        "VIGILO_SLACK_SIGNING_SECRET": SIGNING,
        "VIGILO_SLACK_API_URL": slack_url + "/api/",
        "VIGILO_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "VIGILO_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "VIGILO_TWILIO_FROM_NUMBER": "+15550009999",
        "VIGILO_TWILIO_API_URL": twilio_url,
        "VIGILO_SECONDS_PER_DELAY_MINUTE": str(SCALE),
    }
    logs = (RESULTS / "stack.log").open("wb")
    web = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=logs,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--processes", "2", "--threads", "4"],
        env=env,
        cwd=ROOT,
        stdout=logs,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack = Stack([web, worker], f"http://127.0.0.1:{port}", env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(stack.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        time.sleep(2)  # let both web processes come up
        yield stack
    finally:
        for process in stack.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in stack.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        logs.close()


def peak_rss_mb(root_pid: int) -> float:
    """The largest VmHWM among a process and its children (in MiB)."""
    peak = 0
    pids = [root_pid]
    children = Path(f"/proc/{root_pid}/task/{root_pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            match = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            if match:
                peak = max(peak, int(match.group(1)))
    return peak / 1024


# ---------------------------------------------------------------- start-up

BIN = ROOT / ".venv" / "bin"
SERVE_TIMEOUT = 60  # s for `vigilo serve` to answer
CLONE_TIMEOUT = 600  # s for a fresh clone's `make run` to answer (it installs everything first)


def fresh_shell_env() -> dict[str, str]:
    """This environment as a new shell has it: no VIGILO_* settings, and no virtualenv or PYTHONPATH
    of the bench's that would make another checkout import this one's code."""
    dropped = ("VIRTUAL_ENV", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if not k.startswith("VIGILO_") and k not in dropped}


def answers_healthz(url: str, process: subprocess.Popen[bytes], deadline: float) -> bool:
    """Poll GET /healthz every 20 ms until it answers 200 (True), the process exits or the deadline passes."""
    while time.perf_counter() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    return False


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group the process leads (`make` and the server it started); SIGKILL to
    whatever of the group is still there 10 s later."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        process.poll()  # reaps the leader once it exits, so that only live members keep the group
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def log_tail(path: Path, lines: int = 15) -> None:
    """Print the end of a log that explains a failure."""
    print("\n".join(path.read_text(errors="replace").splitlines()[-lines:]), flush=True)


def startup_scenarios() -> None:
    print("start-up", flush=True)
    serve_to_first_answer()
    clone_to_serving()


def serve_to_first_answer() -> None:
    """`vigilo serve` on the embedded default SQLite database (./vigilo.db of a fresh folder, migrated
    first, untimed) until /healthz answers: what a restart costs."""
    figure = "vigilo serve → first answer"
    with tempfile.TemporaryDirectory(prefix="vigilo-bench-") as folder:
        env = {**fresh_shell_env(), "VIGILO_SECRET_KEY": SECRET}
        log = Path(folder) / "serve.log"
        with log.open("wb") as out:
            subprocess.run(
                [BIN / "vigilo", "migrate"], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, check=True
            )
            port = free_port()
            started = time.perf_counter()
            process = subprocess.Popen(
                [BIN / "vigilo", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                answered = answers_healthz(f"http://127.0.0.1:{port}", process, started + SERVE_TIMEOUT)
                seconds = time.perf_counter() - started
            finally:
                stop_group(process)
        if not answered:
            log_tail(log)
        record("startup", figure, seconds, "s", f"answers within {SERVE_TIMEOUT} s", answered)


def clone_to_serving() -> None:
    """A fresh clone of what is committed, `make run` in it (install, .env, migrate, demo, serve) until
    /healthz answers. `make install` has uv take packages from its cache, warm on a machine that has
    installed them before, so this is not a first install on a new machine."""
    figure = "fresh clone → make run serving (uv cache warm)"
    with tempfile.TemporaryDirectory(prefix="vigilo-bench-") as folder:
        clone = Path(folder) / "clone"
        log = Path(folder) / "make-run.log"
        port = free_port()
        with log.open("wb") as out:
            started = time.perf_counter()
            subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=CLONE_TIMEOUT)
            process = subprocess.Popen(
                ["make", "run", f"PORT={port}", "HOST=127.0.0.1"],
                cwd=clone,
                env=fresh_shell_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                answered = answers_healthz(f"http://127.0.0.1:{port}", process, started + CLONE_TIMEOUT)
                seconds = time.perf_counter() - started
            finally:
                stop_group(process)
        if not answered:
            log_tail(log)
        record("startup", figure, seconds, "s", f"answers within {CLONE_TIMEOUT} s", answered)


# ---------------------------------------------------------------- HTTP load (wrk)


WRK_THREADS = 2


def wrk(
    url: str,
    connections: int,
    seconds: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    timeout: int = 5,
) -> dict[str, float]:
    """Load `url` for `seconds` (with `script`, a Lua script from `lua_requests`, every request is the
    script's and `url` only names the server). Errors are non-2xx answers plus socket errors (timeouts too)."""
    threads = min(WRK_THREADS, connections)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", f"{timeout}s"]
    for key, value in (headers or {}).items():
        args += ["-H", f"{key}: {value}"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run(
        [*args, url], capture_output=True, text=True, check=True, timeout=seconds + timeout + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = {}
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            latency[pct] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    refused = int(non_2xx.group(1)) if non_2xx else 0
    broken = sum(int(x) for x in socket_errors.groups()) if socket_errors else 0
    return {
        "rps": rps,
        "requests": total,
        "p50": latency.get("50", 0.0),
        "p99": latency.get("99", 0.0),
        "non_2xx": refused,
        "socket_errors": broken,
        "errors": refused + broken,
    }


@dataclass
class LuaRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str


LUA_CHUNK = 1000  # requests per Lua function: LuaJIT allows a function only so many constants


def lua_string(text: str) -> str:
    """A Lua string literal of `text`, which is printable ASCII (JSON as json.dumps writes it)."""
    if not (text.isascii() and text.isprintable()):
        raise ValueError(f"not printable ASCII: {text[:80]!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_requests(folder: Path, name: str, requests: Sequence[LuaRequest]) -> Path:
    """Write a wrk script that sends `requests` in turn (thread k of WRK_THREADS sends every
    WRK_THREADS-th from the k-th, so no request is sent twice before the table runs out; then it
    starts over). Written at run time into `folder`, since signed bodies go stale."""
    lines = [
        "-- Written by bench/run.py for one wrk run.",
        "local requests = {}",
        "local function add(method, path, headers, body)",
        "  requests[#requests + 1] = {method, path, headers, body}",
        "end",
    ]
    for first in range(0, len(requests), LUA_CHUNK):
        lines.append(";(function()")
        for r in requests[first : first + LUA_CHUNK]:
            headers = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in r.headers.items())
            lines.append(f"add({lua_string(r.method)}, {lua_string(r.path)}, {{{headers}}}, {lua_string(r.body)})")
        lines.append("end)()")
    lines += [
        f"local threads, started = {WRK_THREADS}, 0",
        "function setup(thread)",
        "  started = started + 1",
        '  thread:set("share", started)',
        "end",
        "local index",
        "function init(args)",
        "  index = share",
        "end",
        "function request()",
        "  local r = requests[index]",
        "  index = index + threads",
        "  if index > #requests then index = share end",
        "  return wrk.format(r[1], r[2], r[3], r[4])",
        "end",
    ]
    path = folder / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def generator_ceiling(url: str, folder: Path, requests: Sequence[LuaRequest], connections: int) -> float:
    """What wrk with the same Lua table reaches against the bare JSON endpoint (the same headers and
    bodies, as GET /healthz): the most a throughput measured with that script could show."""
    bare = [LuaRequest("GET", "/healthz", r.headers, r.body) for r in requests]
    return wrk(url, connections, 5, script=lua_requests(folder, "ceiling", bare))["rps"]


def session_cookie(base: str) -> str:
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        page = client.get("/login")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"email": "p0@bench.test", "password": PASSWORD, "_csrf_token": csrf})
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def http_scenarios(stack: Stack, token: str, wide_token: str) -> None:
    print("who's up and the on-call page", flush=True)
    auth = {"Authorization": f"Bearer {token}"}
    cookie = {"Cookie": session_cookie(stack.url)}
    ceiling = wrk(stack.url + "/healthz", 8, 8, {})
    floor = wrk(stack.url + "/healthz/db", 8, 8, {})
    record("reference", "bare JSON endpoint", ceiling["rps"], "req/s")
    record("reference", "SELECT 1 endpoint", floor["rps"], "req/s")
    api = wrk(stack.url + "/api/v1/ws/bench/oncall", 8, 10, auth)
    record("who's up (API)", "throughput", api["rps"], "req/s", ">= 80% of SELECT 1", api["rps"] >= 0.8 * floor["rps"])
    record("who's up (API)", "ratio to SELECT 1", api["rps"] / floor["rps"], "x")
    record("who's up (API)", "ratio to bare JSON", api["rps"] / ceiling["rps"], "x")
    record("who's up (API)", "errors", api["errors"], "count", "0", api["errors"] == 0)
    fragment = wrk(
        stack.url + "/ws/bench/oncall/", 8, 10, {**cookie, "HX-Request": "true", "HX-Target": "oncall-highlight"}
    )
    record(
        "who's up (fragment)",
        "throughput",
        fragment["rps"],
        "req/s",
        ">= 80% of SELECT 1",
        fragment["rps"] >= 0.8 * floor["rps"],
    )
    record("who's up (fragment)", "ratio to SELECT 1", fragment["rps"] / floor["rps"], "x")
    page8 = wrk(stack.url + "/ws/bench/oncall/", 8, 10, cookie)
    record("on-call page, 8 conns", "p99 latency", page8["p99"], "ms", "< 150 ms", page8["p99"] < 150)
    record("on-call page, 8 conns", "p50 latency", page8["p50"], "ms")
    page32 = wrk(stack.url + "/ws/bench/oncall/", 32, 10, cookie)
    record("on-call page, 32 conns", "p50 latency", page32["p50"], "ms")
    record("on-call page, 32 conns", "p99 latency", page32["p99"], "ms")
    wide_scenarios(stack, wide_token, cookie)


WIDE_TIMEOUT = 30  # s: an answer of the 2,000-schedule page may take seconds; measure it, never drop it


def warm_up(url: str, headers: dict[str, str], times: int = 4) -> None:
    """A few untimed requests, one at a time: they wait out what the run before left queued, and the
    first answers of a workspace (each web process lays out its board once) are not measured."""
    for _ in range(times):
        httpx.get(url, headers=headers, timeout=120).raise_for_status()


def wide_scenarios(stack: Stack, token: str, cookie: dict[str, str]) -> None:
    """The on-call page and who's up of the 2,000-schedule workspace (`cookie` is a session of its
    owner, who is the first workspace's owner too): reported, without targets; the answers and errors
    rows say whether the latencies stand on anything."""
    auth = {"Authorization": f"Bearer {token}"}
    warm_up(stack.url + f"/ws/{WIDE_SLUG}/oncall/", cookie)
    page = wrk(stack.url + f"/ws/{WIDE_SLUG}/oncall/", 8, 10, cookie, timeout=WIDE_TIMEOUT)
    scenario = "on-call page, 2,000 schedules, 8 conns"
    record(scenario, "p50 latency", page["p50"], "ms")
    record(scenario, "p99 latency", page["p99"], "ms")
    record(scenario, "answers in 10 s", page["requests"], "count", "> 0", page["requests"] > 0)
    record(scenario, "errors", page["errors"], "count", "0", page["errors"] == 0)
    warm_up(stack.url + f"/api/v1/ws/{WIDE_SLUG}/oncall", auth)
    api = wrk(stack.url + f"/api/v1/ws/{WIDE_SLUG}/oncall", 8, 10, auth, timeout=WIDE_TIMEOUT)
    scenario = "who's up (API), 2,000 schedules"
    record(scenario, "throughput", api["rps"], "req/s")
    record(scenario, "answers in 10 s", api["requests"], "count", "> 0", api["requests"] > 0)
    record(scenario, "errors", api["errors"], "count", "0", api["errors"] == 0)


# ---------------------------------------------------------------- rotation cost


async def rotation_cost() -> None:
    print("rotation cost", flush=True)
    engine = create_engine(DB_URL)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime.datetime.now(datetime.UTC)
    async with maker() as db:
        bench = await db.scalar(select(Workspace).where(Workspace.slug == "bench"))
        assert bench is not None
        from app.db.models import UserProfile as Person

        async with writing(db):
            workspace = Workspace(slug=f"cost-{uuid.uuid4().hex[:6]}", name="Rotation cost")
            db.add(workspace)
            await db.flush()
            for person in await db.scalars(
                select(Person).where(Person.email.in_([f"p{i}@bench.test" for i in (1, 2, 3, 4)]))
            ):
                db.add(Membership(workspace_id=workspace.id, user_id=person.id, role=Role.MEMBER.value))
        members = [f"p{i}@bench.test" for i in (1, 2, 3, 4)]
        for count in (250, 500, 1000):
            tag = uuid.uuid4().hex[:6]
            ids = []
            for n in range(count):
                schedule = await create_schedule(
                    db,
                    workspace.id,
                    {
                        "name": f"Cost {tag} {n}",
                        "rotation": "custom",
                        "shift_hours": 12,
                        "timezone": "America/New_York",
                        "handoff_time": "08:00",
                        "members": members,
                    },
                    now,
                )
                ids.append(schedule.id)
            started = time.perf_counter()
            for schedule_id in ids:
                await regenerate_schedule(db, workspace.id, schedule_id, now.isoformat(), now)
            seconds = time.perf_counter() - started
            target = "< 10 s" if count == 1000 else ""
            record(
                "rotation cost",
                f"regenerate {count} schedules",
                seconds,
                "s",
                target,
                seconds < 10 if count == 1000 else None,
            )
            record("rotation cost", f"per schedule at {count}", seconds / count * 1000, "ms")
    await engine.dispose()


# ---------------------------------------------------------------- paging


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def first_page_latencies(sent: dict[int, float], slack: Any, twilio: Any) -> list[float]:
    """For each incident number → when its trigger was sent, the ms until the first outbound page
    request (a Slack post or an SMS naming INC-n) reached the fakes; waits up to a minute."""
    deadline = time.time() + 60
    first_seen: dict[int, float] = {}
    while time.time() < deadline and len(first_seen) < len(sent):
        for call in slack.calls("chat.postMessage") + twilio.calls("/Messages.json"):
            text = call.params.get("text", "") if "chat.postMessage" in call.path else call.form.get("Body", "")
            match = re.search(r"INC-(\d+)", text)
            if match and int(match.group(1)) in sent:
                number = int(match.group(1))
                first_seen[number] = min(first_seen.get(number, call.at), call.at)
        await asyncio.sleep(0.5)
    return [(first_seen[n] - sent[n]) * 1000 for n in first_seen]


async def paging_scenarios(
    stack: Stack, token: str, schedule_ids: list[uuid.UUID], slack: Any, twilio: Any, slow: Slowness
) -> None:
    print("paging latency", flush=True)
    auth = {"Authorization": f"Bearer {token}"}
    sent: dict[int, float] = {}
    failures: list[int] = []
    async with httpx.AsyncClient(base_url=stack.url, headers=auth, timeout=30) as client:
        semaphore = asyncio.Semaphore(8)

        async def trigger(n: int) -> None:
            async with semaphore:
                started = time.time()
                response = await client.post(
                    "/api/v1/ws/bench/incidents",
                    json={
                        "title": f"bench {n}",
                        "severity": "SEV3",
                        "schedule_id": str(schedule_ids[n % len(schedule_ids)]),
                    },
                )
                if response.status_code != 201:
                    failures.append(response.status_code)
                    return
                sent[response.json()["number"]] = started

        await asyncio.gather(*(trigger(n) for n in range(200)))
    latencies = await first_page_latencies(sent, slack, twilio)
    record("paging latency", "trigger errors", len(failures), "count", "0", not failures)
    record("paging latency", "incidents paged", len(latencies), "count", "200", len(latencies) == 200)
    record("paging latency", "p50", percentile(latencies, 50), "ms")
    record("paging latency", "p99", percentile(latencies, 99), "ms", "< 300 ms", percentile(latencies, 99) < 300)
    # Three runs in a row, each on policies and incidents of its own: one good run may be luck.
    punctual = 0
    for run in range(1, PUNCTUALITY_RUNS + 1):
        punctual += await escalation_punctuality(stack, token, schedule_ids, twilio, slow, run)
    record(
        PUNCTUALITY,
        "p99 ≤ 2 s in every run",
        punctual,
        "runs",
        str(PUNCTUALITY_RUNS),
        punctual == PUNCTUALITY_RUNS,
    )


# Escalation punctuality: incidents on 3-step policies (a schedule, then a person, then another person;
# 10 min a step at SCALE) while the delivery queue is busy: Slack and Twilio answer slowly and a backlog
# of pages from other incidents sits in the notifications queue as the steps come due.
CHAIN_POLICIES = 8
CHAIN_INCIDENTS = 200
CHAIN_STEP_MINUTES = 10
BACKLOG_INCIDENTS = 300  # each queues 4 messages: its Slack post and SMS, then the post's 2 reactions
BACKLOG_STEP_MINUTES = 1440  # their one step runs out long after the measurement; they are resolved first
SLOW_ANSWER_SECONDS = 0.15  # how long the fake Slack and Twilio take to answer while the queue is busy
WAITING = ("pending", "retrying")  # a delivery row not yet sent
PUNCTUALITY = "escalation punctuality, 3-step policies"
PUNCTUALITY_RUNS = 3


@dataclass
class Sample:
    at: float
    waiting_rows: int  # outbound delivery rows pending or retrying (PostgreSQL)
    queued: int  # notifications.deliver messages waiting in Redis, not yet taken by a worker


class QueueWatch:
    """Samples the delivery backlog every `interval` s, and notes when each delayed `paging.escalate`
    wake-up was set to fire (its eta), to tell a late wake-up from a late worker."""

    def __init__(self, maker: Any, interval: float = 0.2) -> None:
        self.maker, self.interval = maker, interval
        self.samples: list[Sample] = []
        self.etas: dict[str, tuple[str, float]] = {}  # Redis message id → (incident id, eta in epoch s)
        self._redis = redis.Redis.from_url(REDIS_BASE)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        namespace = "vigilo"  # app.tasks.broker.DEFAULT_NAMESPACE
        async with self.maker() as db:
            while True:
                waiting = await db.scalar(
                    select(func.count())
                    .select_from(DeliveryLog)
                    .where(DeliveryLog.direction == "outbound", DeliveryLog.status.in_(WAITING))
                )
                await db.commit()
                queued = int(self._redis.llen(f"{namespace}:notifications"))
                self.samples.append(Sample(time.time(), int(waiting or 0), queued))
                delayed: dict[bytes, bytes] = self._redis.hgetall(f"{namespace}:paging.DQ.msgs")  # type: ignore[assignment]
                for key, raw in delayed.items():
                    if key.decode() not in self.etas:
                        message = json.loads(raw)
                        options = message.get("options", {})
                        eta = options.get("eta")
                        # A retry (the actor raised) is re-sent with a backoff; only first wake-ups count.
                        if eta is not None and message.get("args") and not options.get("retries"):
                            self.etas[key.decode()] = (str(message["args"][0]), eta / 1000)
                await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def at(self, moment: float) -> Sample | None:
        """The last sample taken at or before `moment`."""
        index = bisect.bisect_right([s.at for s in self.samples], moment)
        return self.samples[index - 1] if index else None


def log_mark() -> int:
    """Where the stack's log ends now."""
    path = RESULTS / "stack.log"
    return path.stat().st_size if path.exists() else 0


def deadlocks_since(mark: int) -> int:
    """PostgreSQL deadlocks the web and worker processes logged since `mark` (one line per error)."""
    with (RESULTS / "stack.log").open("rb") as log:
        log.seek(mark)
        return sum(1 for line in log if line.startswith(b"psycopg.errors.DeadlockDetected"))


async def settle(maker: Any, seconds: float) -> bool:
    """Wait until no chain is running and no message waits to be sent."""
    end = time.time() + seconds
    while time.time() < end:
        async with maker() as db:
            waiting = await db.scalar(
                select(func.count())
                .select_from(DeliveryLog)
                .where(DeliveryLog.direction == "outbound", DeliveryLog.status.in_([*WAITING, "sending"]))
            )
            running = await db.scalar(
                select(func.count())
                .select_from(Incident)
                .where(Incident.status == "triggered", Incident.escalation_due_at.is_not(None))
            )
        if not waiting and not running:
            return True
        await asyncio.sleep(0.5)
    return False


async def declare_many(client: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> tuple[dict[int, str], list[int]]:
    """Declare incidents 8 at a time: number → id, and the status of every refusal."""
    declared: dict[int, str] = {}
    failures: list[int] = []
    semaphore = asyncio.Semaphore(8)

    async def one(body: dict[str, Any]) -> None:
        async with semaphore:
            response = await client.post("/api/v1/ws/bench/incidents", json=body)
            if response.status_code != 201:
                failures.append(response.status_code)
                return
            declared[response.json()["number"]] = response.json()["id"]

    await asyncio.gather(*(one(body) for body in bodies))
    return declared, failures


async def escalation_punctuality(
    stack: Stack, token: str, schedule_ids: list[uuid.UUID], twilio: Any, slow: Slowness, run: int
) -> bool:
    """One run (its policies and incidents named after `run`); whether its lateness p99 was within 2 s."""
    print(f"escalation punctuality (3-step policies, busy delivery queue), run {run}", flush=True)
    scenario = f"{PUNCTUALITY}, run {run}"
    engine = create_engine(DB_URL)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    # What the paging latency scenario or the run before started (pages, backup hops, backlog) is over first.
    settled = await settle(maker, 90)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=auth, timeout=60) as client:
        policies: list[str] = []
        for k in range(CHAIN_POLICIES):
            response = await client.post(
                "/api/v1/ws/bench/escalation-policies",
                json={
                    "name": f"Bench chain {k}, run {run}",
                    "repeat": 0,
                    "steps": [
                        {"delay_minutes": CHAIN_STEP_MINUTES, "targets": [{"schedule_id": str(schedule_ids[k])}]},
                        {"delay_minutes": CHAIN_STEP_MINUTES, "targets": [{"user": f"p{k + 1}@bench.test"}]},
                        {
                            "delay_minutes": CHAIN_STEP_MINUTES,
                            "targets": [{"user": f"p{k + 1 + CHAIN_POLICIES}@bench.test"}],
                        },
                    ],
                },
            )
            response.raise_for_status()
            policies.append(response.json()["id"])
        response = await client.post(
            "/api/v1/ws/bench/escalation-policies",
            json={
                "name": f"Bench backlog, run {run}",
                "steps": [{"delay_minutes": BACKLOG_STEP_MINUTES, "targets": [{"schedule_id": str(schedule_ids[-1])}]}],
            },
        )
        response.raise_for_status()
        backlog_policy = response.json()["id"]

        mark = log_mark()
        watch = QueueWatch(maker)
        watch.start()
        slow.seconds = SLOW_ANSWER_SECONDS
        # The backlog: other incidents' pages fill the notifications queue just before the chains start.
        backlog, backlog_failures = await declare_many(
            client,
            [
                {"title": f"backlog {n}, run {run}", "severity": "SEV4", "escalation_policy_id": backlog_policy}
                for n in range(BACKLOG_INCIDENTS)
            ],
        )
        chains, chain_failures = await declare_many(
            client,
            [
                {
                    "title": f"chain {n}, run {run}",
                    "severity": "SEV3",
                    "escalation_policy_id": policies[n % CHAIN_POLICIES],
                }
                for n in range(CHAIN_INCIDENTS)
            ],
        )
        chain_ids = [uuid.UUID(i) for i in chains.values()]
        # Every chain runs out (3 steps × 10 min × SCALE after it opened, plus any lateness).
        end = time.time() + 120
        while time.time() < end:
            async with maker() as db:
                running = await db.scalar(
                    select(func.count())
                    .select_from(Incident)
                    .where(Incident.id.in_(chain_ids), Incident.escalation_due_at.is_not(None))
                )
            if not running:
                break
            await asyncio.sleep(0.5)
        await watch.stop()
        async with maker() as db:
            rows = (
                await db.execute(
                    select(Page.incident_id, Page.round, Page.step, Page.user_id, Page.sent_at, Page.deadline).where(
                        Page.incident_id.in_(chain_ids)
                    )
                )
            ).all()
        # Let the backlog go: answers come at once again, the backlog incidents are resolved, and
        # everything queued is sent before the next scenario.
        slow.seconds = 0.0
        semaphore = asyncio.Semaphore(8)

        async def resolve(incident_id: str) -> None:
            async with semaphore:
                await client.post(f"/api/v1/ws/bench/incidents/{incident_id}/resolve")

        await asyncio.gather(*(resolve(i) for i in backlog.values()))
    drained = await settle(maker, 240)
    await engine.dispose()
    deadlocks = deadlocks_since(mark)

    steps: dict[tuple[uuid.UUID, int, int], list[Any]] = {}
    for row in rows:
        steps.setdefault((row.incident_id, row.round, row.step), []).append(row)
    # Escalated twice: a step (of a round) paged more than its one target, a person paged twice at one
    # step, or a round the chain (repeat 0) does not have.
    doubles = sum(len(pages) - 1 for pages in steps.values() if len(pages) > 1)
    doubles += sum(len(pages) for (_, rnd, _step), pages in steps.items() if rnd != 0)
    lateness: dict[int, list[float]] = {0: [], 1: []}
    depth_rows: list[int] = []
    depth_queued: list[int] = []
    deadlines: dict[uuid.UUID, list[float]] = {}
    for (incident_id, rnd, step), pages in steps.items():
        if rnd == 0 and pages[0].deadline is not None:
            deadlines.setdefault(incident_id, []).append(pages[0].deadline.timestamp())
        if rnd != 0 or step not in lateness or (incident_id, 0, step + 1) not in steps:
            continue
        due = max(p.deadline for p in pages if p.deadline is not None)
        nxt = min(p.sent_at for p in steps[(incident_id, 0, step + 1)])
        lateness[step].append((nxt - due).total_seconds() * 1000)
        sample = watch.at(due.timestamp())
        if sample is not None:
            depth_rows.append(sample.waiting_rows)
            depth_queued.append(sample.queued)
    # When each wake-up was set to fire, against the deadline of the step it wakes.
    eta_late: list[float] = []
    for woken, eta in watch.etas.values():
        due_list = deadlines.get(uuid.UUID(woken))
        if due_list:
            eta_late.append((eta - min(due_list, key=lambda d: abs(d - eta))) * 1000)
    # End to end: each step's SMS reached the fake Twilio once.
    numbers = set(chains)
    sms: dict[tuple[int, str, str], int] = {}
    for call in twilio.calls("/Messages.json"):
        match = re.search(r"INC-(\d+) .*\((step \d+ of \d+)", call.form.get("Body", ""))
        if match and int(match.group(1)) in numbers:
            key = (int(match.group(1)), match.group(2), call.form.get("To", ""))
            sms[key] = sms.get(key, 0) + 1
    sms_twice = sum(c - 1 for c in sms.values() if c > 1)

    every = lateness[0] + lateness[1]  # this run's chains only
    punctual = bool(every) and percentile(every, 99) <= 2000
    expected = 2 * len(chains)  # step 1→2 and 2→3 of every chain declared
    record(scenario, "settled before start", float(settled), "bool", "1", settled)
    record(scenario, "fake Slack/Twilio answer after", SLOW_ANSWER_SECONDS * 1000, "ms")
    record(scenario, "backlog incidents declared", len(backlog), "count", str(BACKLOG_INCIDENTS), not backlog_failures)
    record(scenario, "chain incidents declared", len(chains), "count", str(CHAIN_INCIDENTS), not chain_failures)
    record(scenario, "step transitions", len(every), "count", f"{expected} (2 a chain)", len(every) == expected)
    if depth_rows:
        record(
            scenario,
            "deliveries waiting at deadlines, min",
            min(depth_rows),
            "rows",
            "> 0 (queue busy)",
            min(depth_rows) > 0,
        )
        record(scenario, "deliveries waiting at deadlines, p50", percentile(depth_rows, 50), "rows")
        record(scenario, "deliveries waiting at deadlines, max", max(depth_rows), "rows")
        record(scenario, "Redis notifications queue at deadlines, min", min(depth_queued), "msgs")
        record(scenario, "Redis notifications queue at deadlines, max", max(depth_queued), "msgs")
    if watch.samples:
        record(scenario, "deliveries waiting, peak", max(s.waiting_rows for s in watch.samples), "rows")
    if every:
        record(scenario, "lateness p50", percentile(every, 50), "ms")
        record(scenario, "lateness p99", percentile(every, 99), "ms", "<= 2000 ms", punctual)
        record(scenario, "lateness max", max(every), "ms")
        for step in (0, 1):
            if lateness[step]:
                record(scenario, f"step {step + 1}→{step + 2} lateness p50", percentile(lateness[step], 50), "ms")
                record(scenario, f"step {step + 1}→{step + 2} lateness p99", percentile(lateness[step], 99), "ms")
    if eta_late:
        record(scenario, "first wake-up due after deadline, p50", percentile(eta_late, 50), "ms")
        record(scenario, "first wake-up due after deadline, max", max(eta_late), "ms")
    record(scenario, "escalated twice", doubles, "count", "0", doubles == 0)
    record(scenario, "database deadlocks logged", deadlocks, "count", "0", deadlocks == 0)
    record(scenario, "step SMS sent twice", sms_twice, "count", "0", sms_twice == 0)
    record(scenario, "backlog drained after", float(drained), "bool", "1", drained)
    return punctual


# ---------------------------------------------------------------- webhooks


SLACK_EVENTS = 30_000  # more than a wrk run at 16 connections sends, so every event is new
WEBHOOK_TARGET = 500  # req/s; the generator must reach twice that to measure it
WEBHOOK_CONNECTIONS = 16
WEBHOOK_SECONDS = 10
WEBHOOK_TIMEOUT = 30  # s, as the Python client these wrk runs replace: a slow answer is slow, not an error


def signed_slack_events(count: int) -> list[LuaRequest]:
    """`count` Slack reaction events (each its own event_id, each acknowledging a message), signed
    with a timestamp of now: Slack's check refuses ones older than 5 minutes, so sign just before use."""
    verifier = SignatureVerifier(SIGNING)
    stamp = str(int(time.time()))
    requests = []
    for n in range(count):
        body = json.dumps(
            {
                "type": "event_callback",
                "event_id": f"EvBench{n}",
                "event": {
                    "type": "reaction_added",
                    "user": "U0BENCH001",
                    "reaction": "eyes",
                    "item": {"type": "message", "channel": "C0BENCH001", "ts": f"{n}.000001"},
                },
            }
        )
        headers = {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=body),
            "Content-Type": "application/json",
        }
        requests.append(LuaRequest("POST", "/integrations/slack/events", headers, body))
    return requests


def record_generator(scenario: str, ceiling: float) -> None:
    """The generator's ceiling, and how many times the target it is (it must be at least twice)."""
    record(scenario, "generator ceiling (wrk, bare JSON)", ceiling, "req/s")
    ratio = ceiling / WEBHOOK_TARGET
    record(scenario, f"generator ceiling ÷ {WEBHOOK_TARGET}/s target", ratio, "x", ">= 2", ratio >= 2)


async def webhook_scenarios(stack: Stack) -> None:
    """Signed Slack events from wrk (pre-signed bodies in a Lua table: Python's own client tops out
    below the target), then Twilio SMS from Python."""
    print("webhooks", flush=True)
    with tempfile.TemporaryDirectory(prefix="vigilo-bench-") as folder:
        events = signed_slack_events(SLACK_EVENTS)
        ceiling = generator_ceiling(stack.url, Path(folder), events, WEBHOOK_CONNECTIONS)
        script = lua_requests(Path(folder), "slack", events)
        slack = wrk(stack.url, WEBHOOK_CONNECTIONS, WEBHOOK_SECONDS, script=script, timeout=WEBHOOK_TIMEOUT)
    rate, errors = slack["rps"], slack["errors"]
    passed = rate >= WEBHOOK_TARGET and errors == 0
    record("webhooks (Slack)", "throughput", rate, "req/s", f">= {WEBHOOK_TARGET} req/s", passed)
    record("webhooks (Slack)", "errors", errors, "count", "0", errors == 0)
    sent = slack["requests"]
    record("webhooks (Slack)", "events posted", sent, "count", f"<= {SLACK_EVENTS} (each once)", sent <= SLACK_EVENTS)
    record_generator("webhooks (Slack)", ceiling)
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TWILIO_TOKEN)
    url = stack.env["VIGILO_PUBLIC_URL"] + "/integrations/twilio_sms/"
    errors = 0
    async with httpx.AsyncClient(base_url=stack.url, timeout=30, limits=httpx.Limits(max_connections=16)) as client:
        started = time.perf_counter()
        total = 1000

        async def sms(n: int) -> None:
            nonlocal errors
            params = {"From": "+19990000000", "Body": "HELP", "MessageSid": f"SMbench{n}"}
            response = await client.post(
                "/integrations/twilio_sms/",
                data=params,
                headers={"X-Twilio-Signature": validator.compute_signature(url, params)},
            )
            errors += response.status_code != 200

        semaphore = asyncio.Semaphore(16)

        async def guarded(n: int) -> None:
            async with semaphore:
                await sms(n)

        await asyncio.gather(*(guarded(n) for n in range(total)))
        seconds = time.perf_counter() - started
    record("webhooks (Twilio)", "throughput", total / seconds, "req/s")
    record("webhooks (Twilio)", "errors", errors, "count", "0", errors == 0)


# ---------------------------------------------------------------- alert sources

ALERT_SOURCES = 50
STORM_GROUPS = 5  # per source: 250 groups, so 250 incidents if the grouping holds
STORM_NOTIFICATIONS = 12  # per group: the first opens its incident, the rest add an alert each
LATENCY_GROUPS = 100  # new groups, each timed from its notification to its first page


def alertmanager_notification(group: str, firing: int) -> dict[str, Any]:
    """An Alertmanager webhook (version 4) for `group` with `firing` alerts, as Alertmanager sends it."""
    now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    common = {"alertname": group, "severity": "critical", "job": "bench"}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{group}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "vigilo",
        "groupLabels": {"alertname": group},
        "commonLabels": common,
        "commonAnnotations": {"summary": f"{group} is failing"},
        "externalURL": "http://alertmanager.bench:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {**common, "instance": f"host-{k}"},
                "annotations": {"summary": f"{group} is failing"},
                "startsAt": now,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.bench:9090/graph?g0.expr=up%7Binstance%3D%22host-{k}%22%7D",
                "fingerprint": f"{group}-{k}",
            }
            for k in range(firing)
        ],
    }


async def alert_scenarios(stack: Stack, token: str, schedule_ids: list[uuid.UUID], slack: Any, twilio: Any) -> None:
    """Alert ingest over 50 sources, each paging one of the schedules: first alert → first outbound page
    request for 100 new groups, then a storm of notifications for 250 groups from wrk (a Lua table of
    them: Python's own client tops out below the target), counting the incidents."""
    print("alert sources", flush=True)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=stack.url, headers=auth, timeout=30, limits=httpx.Limits(max_connections=16)
    ) as client:
        paths = []
        for n in range(ALERT_SOURCES):
            created = await client.post(
                "/api/v1/ws/bench/alert-sources",
                json={"name": f"Prometheus {n:02d}", "kind": "alertmanager", "schedule_id": str(schedule_ids[n])},
            )
            created.raise_for_status()
            paths.append(httpx.URL(created.json()["url"]).path)

        # Alert → first page: new groups, 8 at a time, each notification timed from when it was sent.
        sent: dict[int, float] = {}
        refused: list[int] = []
        semaphore = asyncio.Semaphore(8)

        async def first_alert(n: int) -> None:
            async with semaphore:
                started = time.time()
                answer = await client.post(
                    paths[n % ALERT_SOURCES], json=alertmanager_notification(f"BenchLatency{n:03d}", 1)
                )
                incident = answer.json().get("incident") if answer.status_code == 202 else None
                if incident is None:
                    refused.append(answer.status_code)
                    return
                sent[incident["number"]] = started

        await asyncio.gather(*(first_alert(n) for n in range(LATENCY_GROUPS)))
        latencies = await first_page_latencies(sent, slack, twilio)
        record("alert → first page", "notification errors", len(refused), "count", "0", not refused)
        paged = len(latencies)
        record("alert → first page", "groups paged", paged, "count", str(LATENCY_GROUPS), paged == LATENCY_GROUPS)
        record("alert → first page", "p50", percentile(latencies, 50), "ms")
        record(
            "alert → first page", "p99", percentile(latencies, 99), "ms", "< 300 ms", percentile(latencies, 99) < 300
        )

    with tempfile.TemporaryDirectory(prefix="vigilo-bench-") as folder:
        storm = storm_requests(paths)
        ceiling = generator_ceiling(stack.url, Path(folder), storm, WEBHOOK_CONNECTIONS)
        script = lua_requests(Path(folder), "storm", storm)
        ingest = wrk(stack.url, WEBHOOK_CONNECTIONS, WEBHOOK_SECONDS, script=script, timeout=WEBHOOK_TIMEOUT)
    refused = await every_group_once(stack.url, paths)
    rate, errors = ingest["rps"], ingest["errors"] + refused
    scenario = "alert ingest (50 sources)"
    passed = rate >= WEBHOOK_TARGET and not errors
    record(scenario, "throughput", rate, "notifications/s", f">= {WEBHOOK_TARGET}/s", passed)
    record(scenario, "errors (wrk run and closing round)", errors, "count", "0", errors == 0)
    record(scenario, "notifications posted by wrk", ingest["requests"], "count")
    engine = create_engine(DB_URL)
    async with async_sessionmaker(engine)() as db:
        opened = await db.scalar(select(func.count()).select_from(Incident).where(Incident.title.like("BenchStorm%")))
    await engine.dispose()
    groups = ALERT_SOURCES * STORM_GROUPS
    record(scenario, "incidents for 250 groups", opened or 0, "count", str(groups), opened == groups)
    record_generator(scenario, ceiling)


def storm_requests(paths: list[str]) -> list[LuaRequest]:
    """Every group's notifications (the k-th with k + 1 alerts) in a shuffled order, for wrk to send in
    turn, then again: a group's first notification may arrive after its later ones, as when two
    Alertmanagers in a cluster send."""
    storm = [
        LuaRequest(
            "POST",
            paths[s],
            {"Content-Type": "application/json"},
            json.dumps(alertmanager_notification(f"BenchStorm{s:02d}x{g}", k + 1)),
        )
        for k in range(STORM_NOTIFICATIONS)
        for s in range(ALERT_SOURCES)
        for g in range(STORM_GROUPS)
    ]
    random.Random(7).shuffle(storm)
    return storm


async def every_group_once(url: str, paths: list[str]) -> int:
    """After the wrk run, each storm group's last notification once more, 16 at a time: every group has
    then arrived, whatever part of the table wrk reached in its time. Returns how many were refused."""
    semaphore = asyncio.Semaphore(WEBHOOK_CONNECTIONS)
    refused = 0

    async def send(client: httpx.AsyncClient, source: int, group: int) -> None:
        nonlocal refused
        async with semaphore:
            body = alertmanager_notification(f"BenchStorm{source:02d}x{group}", STORM_NOTIFICATIONS)
            refused += (await client.post(paths[source], json=body)).status_code != 202

    async with httpx.AsyncClient(base_url=url, timeout=WEBHOOK_TIMEOUT) as client:
        await asyncio.gather(*(send(client, s, g) for s in range(ALERT_SOURCES) for g in range(STORM_GROUPS)))
    return refused


# ---------------------------------------------------------------- report


SCENARIOS = ("startup", "http", "paging", "webhooks", "alerts", "rotation")


def write_report(machine: str, scenarios: tuple[str, ...]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps([asdict(f) for f in FIGURES], indent=2))
    lines = [f"Machine: {machine}", ""]
    if scenarios != SCENARIOS:
        lines += [f"Scenarios run: {', '.join(scenarios)} (not all of {', '.join(SCENARIOS)})", ""]
    lines += [
        "| scenario | figure | value | unit | target | pass |",
        "|---|---|---:|---|---|---|",
    ]
    for f in FIGURES:
        verdict = "" if f.passed is None else ("yes" if f.passed else "**no**")
        lines.append(f"| {f.scenario} | {f.figure} | {f.value} | {f.unit} | {f.target} | {verdict} |")
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


async def main(scenarios: tuple[str, ...]) -> None:
    if {"http", "webhooks", "alerts"} & set(scenarios) and shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is missing (apt-get install -y wrk); `make bench` installs it")
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = f"{os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, {sys.platform}"
    if "startup" in scenarios:  # first, while nothing else of the bench runs
        startup_scenarios()
    if uses_database(scenarios):
        await measure_seeded(scenarios)
    write_report(machine, scenarios)


def uses_database(scenarios: tuple[str, ...]) -> bool:
    """Every scenario but start-up (which makes its own) measures on the seeded bench database."""
    return set(scenarios) != {"startup"}


async def measure_seeded(scenarios: tuple[str, ...]) -> None:
    """The scenarios on the seeded database (the stack's, and the rotation cost)."""
    seeded = await seed()
    record("seed", "200 schedules, a year each", seeded["seconds"], "s")
    wide_token = ""
    if "http" in scenarios:  # only the HTTP scenarios read the 2,000-schedule workspace
        wide = await seed_wide(seeded["people"])
        record("seed", f"{WIDE_SLUG}: 2,000 schedules, a week of history each", wide["seconds"], "s")
        wide_token = wide["token"]
    slack, twilio = start_fake_slack(), start_fake_twilio()
    slow = Slowness()
    slow.wrap(slack)
    slow.wrap(twilio)
    try:
        if {"http", "paging", "webhooks", "alerts"} & set(scenarios):
            with running_stack(slack.url, twilio.url) as stack:
                if "http" in scenarios:
                    http_scenarios(stack, seeded["token"], wide_token)
                if "paging" in scenarios:
                    await paging_scenarios(stack, seeded["token"], seeded["schedule_ids"], slack, twilio, slow)
                if "webhooks" in scenarios:
                    await webhook_scenarios(stack)
                if "alerts" in scenarios:
                    await alert_scenarios(stack, seeded["token"], seeded["schedule_ids"], slack, twilio)
                record("memory", "peak RSS, web processes", peak_rss_mb(stack.processes[0].pid), "MiB")
                record("memory", "peak RSS, worker processes", peak_rss_mb(stack.processes[1].pid), "MiB")
        if "rotation" in scenarios:
            await rotation_cost()
    finally:
        slack.stop()
        twilio.stop()


def parse_scenarios(argv: list[str]) -> tuple[str, ...]:
    parser = argparse.ArgumentParser(description="Measure Vigilo On-call as run in production.")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run, of {', '.join(SCENARIOS)} (default: all); "
        "memory is measured whenever the stack runs",
    )
    wanted = [name.strip() for name in parser.parse_args(argv).only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(SCENARIOS))
    if unknown or not wanted:
        parser.error(f"unknown scenario {', '.join(unknown) or '(none given)'}; choose from {', '.join(SCENARIOS)}")
    return tuple(name for name in SCENARIOS if name in wanted)


if __name__ == "__main__":
    chosen = parse_scenarios(sys.argv[1:])
    if uses_database(chosen):
        print("seeding a fresh PostgreSQL database", flush=True)
        fresh_database()  # Alembic runs its own event loop, so before ours starts
    asyncio.run(main(chosen))
