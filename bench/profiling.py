"""Where a request's time goes: cProfile over the who's up API, the "Currently on call" fragment
and the on-call page of a 200-schedule workspace, served in-process (no network, no second web
process) from a fresh PostgreSQL database.

`python bench/profiling.py [--requests N] [--top K]` prints, for each endpoint, the mean time per
request and the functions with the most cumulative time. Run it before and after a change.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime
import io
import logging
import pstats
import sys
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Settings
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.models import Membership, Workspace
from app.db.transactions import writing
from app.domain.roles import Role
from app.main import create_app
from app.services.accounts import add_user
from app.services.schedules import create_schedule
from app.services.tokens import issue_token

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "vigilo_profile"
DB_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
PASSWORD = "profile-password-123"
SECRET = "profile-secret-key-0123456789-0123456789-ab"


def fresh_database() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    upgrade(DB_URL)


async def seed(schedules: int) -> str:
    """A workspace "prof" with 12 people and `schedules` daily rotations; returns an owner's API token."""
    engine = create_engine(DB_URL)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime.datetime.now(datetime.UTC)
    async with maker() as db:
        async with writing(db):
            workspace = Workspace(slug="prof", name="Prof", slack_channel_id="C0PROF0001")
            db.add(workspace)
            await db.flush()
            people = []
            for i in range(12):
                user = await add_user(db, f"p{i}@prof.test", f"Person {i}", password=PASSWORD)
                db.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.OWNER.value))
                people.append(user)
        for n in range(schedules):
            body = {
                "name": f"Service {n:04d}",
                "rotation": "daily",
                "timezone": "Europe/Berlin",
                "handoff_time": "09:00",
                "starts_at": (now - datetime.timedelta(days=30)).isoformat(),
                "members": [people[(n + k) % 11 + 1].email for k in range(4)],
                "escalation_to": people[0].email,
            }
            await create_schedule(db, workspace.id, body, now)
        token = await issue_token(db, workspace.id, people[0].id, "profile")
    await engine.dispose()
    return token


async def profile(token: str, requests: int, top: int) -> None:
    settings = Settings(database_url=DB_URL, secret_key=SECRET)
    app = create_app(settings)
    # In this thread and event loop (a test client would serve from a thread cProfile does not see).
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        page = await client.get("/login")
        csrf = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        await client.post("/login", data={"email": "p0@prof.test", "password": PASSWORD, "_csrf_token": csrf})
        endpoints = {
            "who's up (API)": ("/api/v1/ws/prof/oncall", {"Authorization": f"Bearer {token}"}),
            "fragment": ("/ws/prof/oncall/", {"HX-Request": "true", "HX-Target": "oncall-highlight"}),
            "on-call page": ("/ws/prof/oncall/", {}),
            "SELECT 1": ("/healthz/db", {}),
        }
        for name, (path, headers) in endpoints.items():
            first = await client.get(path, headers=headers)
            assert first.status_code == 200, (name, first.status_code, first.text[:300])
            started = time.perf_counter()
            for _ in range(requests):
                await client.get(path, headers=headers)
            plain = (time.perf_counter() - started) / requests * 1000
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for _ in range(requests):
                await client.get(path, headers=headers)
            profiler.disable()
            mean = (time.perf_counter() - started) / requests * 1000
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
                r"app/|sqlalchemy/engine|jinja|msgspec", top
            )
            print(f"\n=== {name}: {plain:.2f} ms per request, {mean:.2f} ms profiled ({requests} each, in-process)")
            lines = [line for line in out.getvalue().splitlines() if line.strip()]
            print("\n".join(lines[-top - 1 :]))


def main() -> None:
    logging.disable(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    fresh_database()
    token = asyncio.run(seed(args.schedules))
    asyncio.run(profile(token, args.requests, args.top))


if __name__ == "__main__":
    main()
