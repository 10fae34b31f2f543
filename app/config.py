"""Settings, read from the environment once.

Every setting is a `VIGILO_*` variable (see the README's table). A bad value raises
`SettingsError` naming the variable; the CLI prints that one line and exits.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from app.domain.contact import is_e164


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./vigilo.db"
DEV_SECRET_KEY = "insecure-development-key-change-me"  # noqa: S105 - refused in production
MIN_SECRET_KEY_LENGTH = 32
# Settings that point a provider's SDK at a test server: http allowed, refused in production.
TEST_URLS = ("SLACK_API_URL", "TWILIO_API_URL", "PAGERDUTY_EVENTS_URL", "PAGERDUTY_API_URL")


@dataclass(frozen=True)
class Settings:
    env: Environment = Environment.DEVELOPMENT
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    public_url: str = "http://127.0.0.1:8000"
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str | None = None
    # PagerDuty's Events API v2 and REST API; tests point them at a local fake (http allowed only then).
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_api_url: str = "https://api.pagerduty.com"
    seconds_per_delay_minute: float = 60.0
    tick_seconds: float = 15.0  # how often workers run the periodic sweeps
    send_timeout_seconds: float = 10.0  # a Slack or Twilio call that takes longer is "unknown"
    # Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges); none by default.
    trusted_proxies: tuple[str, ...] = ()
    # Requests an alert source may make in one fixed one-minute window (counted in the database).
    alert_rate_limit: int = 600
    # When set, /metrics answers only `Authorization: Bearer <this>`.
    metrics_token: str | None = None

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        """Read the settings; values in `dotenv` (default ./.env) fill in what the environment lacks."""
        values = dict(read_dotenv(dotenv or Path(".env")))
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            raw = values.get(f"VIGILO_{name}")
            return raw.strip() if raw and raw.strip() else None

        env_raw = get("ENV") or Environment.DEVELOPMENT.value
        try:
            env = Environment(env_raw)
        except ValueError:
            raise SettingsError("VIGILO_ENV", f"must be development, test or production, not {env_raw!r}") from None

        database_url = get("DATABASE_URL") or DEFAULT_DATABASE_URL
        if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise SettingsError("VIGILO_DATABASE_URL", "must start with sqlite+aiosqlite:// or postgresql+psycopg://")
        redis_url = get("REDIS_URL")
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("VIGILO_REDIS_URL", "must be a redis:// or rediss:// URL")

        secret_key = get("SECRET_KEY")
        if secret_key is None:
            if env is Environment.PRODUCTION:
                raise SettingsError("VIGILO_SECRET_KEY", "is required when VIGILO_ENV=production")
            secret_key = DEV_SECRET_KEY
        elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError("VIGILO_SECRET_KEY", f"must be at least {MIN_SECRET_KEY_LENGTH} characters")

        public_url = (get("PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")
        _require_http_url("VIGILO_PUBLIC_URL", public_url)
        for name in TEST_URLS:
            url = get(name)
            if url is not None:
                _require_http_url(f"VIGILO_{name}", url)

        scale_raw = get("SECONDS_PER_DELAY_MINUTE")
        scale = 60.0
        if scale_raw is not None:
            if env is Environment.PRODUCTION:
                raise SettingsError("VIGILO_SECONDS_PER_DELAY_MINUTE", "is a test setting, refused in production")
            try:
                scale = float(scale_raw)
            except ValueError:
                raise SettingsError("VIGILO_SECONDS_PER_DELAY_MINUTE", "must be a number") from None
            if not 0 < scale <= 3600:
                raise SettingsError("VIGILO_SECONDS_PER_DELAY_MINUTE", "must be between 0 and 3600")

        tick_seconds = _bounded_number("VIGILO_TICK_SECONDS", get("TICK_SECONDS"), 15.0, 0.2, 300)
        send_timeout = _bounded_number("VIGILO_SEND_TIMEOUT_SECONDS", get("SEND_TIMEOUT_SECONDS"), 10.0, 0.5, 60)

        if env is Environment.PRODUCTION:
            for name in TEST_URLS:
                if get(name) is not None:
                    raise SettingsError(f"VIGILO_{name}", "points the SDK at a test server; refused in production")

        from_number = get("TWILIO_FROM_NUMBER")
        if from_number is not None and not is_e164(from_number):
            raise SettingsError("VIGILO_TWILIO_FROM_NUMBER", "must be an E.164 number such as +15551234567")

        trusted_proxies = _networks("VIGILO_TRUSTED_PROXIES", get("TRUSTED_PROXIES"))
        alert_rate_limit = int(_bounded_number("VIGILO_ALERT_RATE_LIMIT", get("ALERT_RATE_LIMIT"), 600, 1, 1_000_000))

        return cls(
            env=env,
            database_url=database_url,
            redis_url=redis_url,
            secret_key=secret_key,
            public_url=public_url,
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_api_url=get("SLACK_API_URL"),
            twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_from_number=from_number,
            twilio_api_url=get("TWILIO_API_URL"),
            pagerduty_events_url=(get("PAGERDUTY_EVENTS_URL") or cls.pagerduty_events_url).rstrip("/"),
            pagerduty_api_url=(get("PAGERDUTY_API_URL") or cls.pagerduty_api_url).rstrip("/"),
            seconds_per_delay_minute=scale,
            tick_seconds=tick_seconds,
            send_timeout_seconds=send_timeout,
            trusted_proxies=trusted_proxies,
            alert_rate_limit=alert_rate_limit,
            metrics_token=get("METRICS_TOKEN"),
        )


def _bounded_number(variable: str, raw: str | None, default: float, low: float, high: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(variable, "must be a number of seconds") from None
    if not low <= value <= high:
        raise SettingsError(variable, f"must be between {low:g} and {high:g} seconds")
    return value


def _networks(variable: str, raw: str | None) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR ranges, each checked; blank means none."""
    found: list[str] = []
    for part in (raw or "").split(","):
        item = part.strip()
        if not item:
            continue
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(variable, f"{item!r} is not an IP address or CIDR range such as 10.0.0.0/8") from None
    return tuple(found)


def _require_http_url(variable: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(variable, f"must be an http(s) URL, not {url!r}")


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blanks skipped); empty when it is missing."""
    if not path.is_file():
        return {}
    pairs: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        pairs[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return pairs
