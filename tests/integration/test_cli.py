"""The `vigilo` command against a real database file: migrate, demo (twice), create-user, create-token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.config import Environment, Settings
from app.db.engine import create_engine
from app.db.models import Membership, OnCallSchedule, UserProfile, Workspace
from app.main import create_app


def vigilo(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGILO_DATABASE_URL": database_url, "VIGILO_ENV": "test"}
    env.pop("VIGILO_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, check=False
    )


async def _counts(url: str) -> tuple[int, ...]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        counts = tuple(
            [
                await conn.scalar(select(func.count()).select_from(model))
                for model in (Workspace, UserProfile, Membership, OnCallSchedule)
            ]
        )
    await engine.dispose()
    return counts  # type: ignore[return-value]


async def test_demo_is_idempotent_and_prints_a_working_password(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert vigilo(url, "migrate").returncode == 0
    first = vigilo(url, "demo")
    assert first.returncode == 0, first.stderr
    assert "/ws/demo/" in first.stdout
    assert await _counts(url) == (1, 6, 6, 2)
    second = vigilo(url, "demo", "--password", "second-run-password")
    assert second.returncode == 0
    assert second.stdout.strip().splitlines()[-1] == "password: second-run-password"
    assert await _counts(url) == (1, 6, 6, 2)

    token_run = vigilo(url, "create-token", "--workspace", "demo", "--email", "viewer@example.com")
    assert token_run.returncode == 0, token_run.stderr
    token = token_run.stdout.strip().splitlines()[-1]
    settings = Settings(env=Environment.TEST, database_url=url)
    async with AsyncTestClient(app=create_app(settings)) as client:
        members = await client.get("/api/v1/ws/demo/members", headers={"Authorization": f"Bearer {token}"})
        assert members.status_code == 200
        assert {m["role"] for m in members.json()} == {"owner", "member", "viewer"}
        login = await client.get("/login")
        csrf = login.text.split('name="_csrf_token" value="')[1].split('"')[0]
        response = await client.post(
            "/login",
            data={"email": "carol@example.com", "password": "second-run-password", "_csrf_token": csrf},
            follow_redirects=False,
        )
        assert response.status_code == 303


def test_create_user_and_token_errors_are_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    vigilo(url, "migrate")
    created = vigilo(url, "create-user", "--email", "Zed@Example.com", "--name", "Zed", "--password", "long-password")
    assert created.returncode == 0
    assert "zed@example.com" in created.stdout
    again = vigilo(url, "create-user", "--email", "zed@example.com", "--name", "Zed")
    assert again.returncode == 1
    assert "already has an account" in again.stderr
    missing = vigilo(url, "create-token", "--workspace", "nope", "--email", "zed@example.com")
    assert missing.returncode == 1
    assert missing.stderr.startswith("vigilo: no workspace")
