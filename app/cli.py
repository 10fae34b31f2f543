"""The `vigilo` command: serve, worker, migrate, setup-code, demo, create-workspace, create-user, create-token."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings, SettingsError
from app.db.engine import create_engine

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        click.echo(f"vigilo: configuration error: {exc}", err=True)
        sys.exit(2)


def share_between_processes(database_url: str) -> None:
    """Before anything records a metric (prometheus-client picks its storage when first imported):
    point this process, and the processes it starts, at one folder per database for their metrics
    (app/metrics.py), unless PROMETHEUS_MULTIPROC_DIR already names one."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(
        Path(tempfile.gettempdir()) / f"vigilo-metrics-{hashlib.sha256(database_url.encode()).hexdigest()[:12]}"
    )
    Path(folder).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def _run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def runner() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(runner())


@click.group()
def main() -> None:
    """Vigilo On-call."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="Web processes (needs VIGILO_REDIS_URL when > 1).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app (without VIGILO_REDIS_URL it also runs the worker and the periodic tick)."""
    import uvicorn  # noqa: PLC0415 - only this command needs it

    settings = _settings()
    if workers > 1 and not settings.redis_url:
        click.echo(
            "vigilo: --workers > 1 needs VIGILO_REDIS_URL (the embedded worker lives in one process)",
            err=True,
        )
        sys.exit(2)
    if settings.redis_url:  # web and worker processes add up their metrics in one shared folder
        share_between_processes(settings.database_url)
    click.echo(f"Vigilo On-call on http://{host}:{port}/  (database: {settings.database_url.split('://')[0]})")
    # X-Forwarded-For is believed only from VIGILO_TRUSTED_PROXIES; uvicorn's own default trusts
    # 127.0.0.1, which would let anything on this machine pick its address for the login throttle.
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies),
    )


WORKER_SHUTDOWN_MS = 5_000


@main.command()
@click.option("--processes", default=1, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
def worker(processes: int, threads: int) -> None:
    """Run Dramatiq workers against VIGILO_REDIS_URL."""
    settings = _settings()
    if not settings.redis_url:
        click.echo(
            "vigilo: `vigilo worker` needs VIGILO_REDIS_URL; without it `vigilo serve` runs the worker",
            err=True,
        )
        sys.exit(2)
    from dramatiq.cli import main as dramatiq_main  # noqa: PLC0415

    share_between_processes(settings.database_url)  # before any worker process records a metric

    sys.argv = [
        "vigilo worker",
        "app.tasks.worker_entry",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        # Dramatiq waits 10 minutes for in-flight work by default; a deploy or a test stops within
        # 10 s. What a stopped worker held is safe: its rows are swept, and a send cut off mid-way
        # is "unknown", never resent.
        "--worker-shutdown-timeout",
        str(WORKER_SHUTDOWN_MS),
    ]
    sys.exit(dramatiq_main())  # type: ignore[no-untyped-call]


@main.command()
def migrate() -> None:
    """Apply every database migration."""
    from app.db.migrate import upgrade  # noqa: PLC0415

    settings = _settings()
    upgrade(settings.database_url)
    click.echo("database is up to date")
    _print_setup_code(settings)


def _print_setup_code(settings: Settings) -> None:
    from app.services.onboarding import issue_setup_code  # noqa: PLC0415

    now = datetime.datetime.now(datetime.UTC)
    code = _run_in_session(settings, lambda db: issue_setup_code(db, now))
    if code is None:
        return
    click.echo(f"nobody has an account yet: open {settings.public_url}/setup to create the first one")
    if settings.is_production:
        click.echo(f"one-time setup code: {code}")


@main.command("setup-code")
def setup_code() -> None:
    """Print a new one-time setup code (the first-run page asks for it in production)."""
    settings = _settings()
    now = datetime.datetime.now(datetime.UTC)
    from app.services.onboarding import issue_setup_code  # noqa: PLC0415

    code = _run_in_session(settings, lambda db: issue_setup_code(db, now))
    if code is None:
        click.echo("vigilo: this installation is set up already; log in, or ask an administrator", err=True)
        sys.exit(1)
    click.echo(f"open {settings.public_url}/setup")
    click.echo(f"one-time setup code: {code}")


@main.command("create-workspace")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--owner", "owner_email", required=True, help="The owner's email; an account is made if needed.")
def create_workspace_command(slug: str, name: str, owner_email: str) -> None:
    """Create a workspace owned by OWNER (printing a one-time link to set a password for a new owner)."""
    from app.services.errors import FieldError  # noqa: PLC0415
    from app.services.onboarding import create_workspace  # noqa: PLC0415

    settings = _settings()
    now = datetime.datetime.now(datetime.UTC)
    try:
        made = _run_in_session(settings, lambda db: create_workspace(db, name, slug, owner_email, now, None))
    except FieldError as exc:
        for field_name, message in exc.errors.items():
            option = {"workspace_name": "name"}.get(field_name, field_name)
            click.echo(f"vigilo: --{option}: {message}", err=True)
        sys.exit(1)
    click.echo(f"created {settings.public_url}/ws/{made.workspace.slug}/ owned by {made.owner.email}")
    if made.password_link:
        click.echo("the owner has no password yet; send them this one-time link (valid 2 days):")
        click.echo(f"{settings.public_url}/password/{made.password_link}")


@main.command()
@click.option("--password", default=None, help="Password for every demo person (default: a random one).")
def demo(password: str | None) -> None:
    """Create the demo workspace (idempotent) and print how to log in."""
    from app.services.demo import DEMO_SLUG, seed_demo  # noqa: PLC0415

    settings = _settings()
    now = datetime.datetime.now(datetime.UTC)
    result = _run_in_session(settings, lambda db: seed_demo(db, now, password))
    click.echo(("created" if result.created else "refreshed") + " the demo workspace")
    click.echo(f"open {settings.public_url}/ws/{DEMO_SLUG}/ and log in as admin@example.com")
    click.echo(f"password: {result.password}")


@main.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", default=None)
def create_user_command(email: str, name: str, password: str | None) -> None:
    """Create a user account."""
    from app.services.accounts import create_user  # noqa: PLC0415
    from app.services.errors import FieldError  # noqa: PLC0415

    settings = _settings()
    try:
        user = _run_in_session(settings, lambda db: create_user(db, email, name, password=password))
    except FieldError as exc:
        click.echo(f"vigilo: {exc}", err=True)
        sys.exit(1)
    click.echo(f"created {user.email} ({user.id})")


@main.command("create-token")
@click.option("--workspace", "slug", required=True)
@click.option("--email", required=True)
@click.option("--name", default="cli")
def create_token_command(slug: str, email: str, name: str) -> None:
    """Create an API token for EMAIL in WORKSPACE; the token is printed alone on the last line."""
    from app.db.models import UserProfile, Workspace  # noqa: PLC0415
    from app.services.errors import NotFound  # noqa: PLC0415
    from app.services.tokens import issue_token  # noqa: PLC0415

    async def work(db: AsyncSession) -> str:
        workspace = await db.scalar(select(Workspace).where(Workspace.slug == slug))
        user = await db.scalar(select(UserProfile).where(UserProfile.email == email.strip().lower()))
        if workspace is None or user is None:
            raise NotFound(f"no workspace {slug!r} or no user {email!r}")
        return await issue_token(db, workspace.id, user.id, name)

    settings = _settings()
    try:
        token = _run_in_session(settings, work)
    except NotFound as exc:
        click.echo(f"vigilo: {exc}", err=True)
        sys.exit(1)
    click.echo(f"token for {email} in {slug} (shown once):")
    click.echo(token)


if __name__ == "__main__":
    main()
