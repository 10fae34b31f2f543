"""Settings come from the environment; a bad one names its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Environment, Settings, SettingsError

GOOD_KEY = "k" * 40


def test_defaults_are_the_embedded_mode(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv=tmp_path / "missing.env")
    assert settings.env is Environment.DEVELOPMENT
    assert settings.database_url == "sqlite+aiosqlite:///./vigilo.db"
    assert settings.redis_url is None
    assert settings.seconds_per_delay_minute == 60
    assert (settings.tick_seconds, settings.send_timeout_seconds) == (15, 10)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"VIGILO_ENV": "staging"}, "VIGILO_ENV"),
        ({"VIGILO_ENV": "production"}, "VIGILO_SECRET_KEY"),
        ({"VIGILO_SECRET_KEY": "short"}, "VIGILO_SECRET_KEY"),
        ({"VIGILO_DATABASE_URL": "mysql://x"}, "VIGILO_DATABASE_URL"),
        ({"VIGILO_REDIS_URL": "http://x"}, "VIGILO_REDIS_URL"),
        ({"VIGILO_PUBLIC_URL": "example.com"}, "VIGILO_PUBLIC_URL"),
        ({"VIGILO_SLACK_API_URL": "ftp://x"}, "VIGILO_SLACK_API_URL"),
        ({"VIGILO_TWILIO_FROM_NUMBER": "555-1234"}, "VIGILO_TWILIO_FROM_NUMBER"),
        ({"VIGILO_SECONDS_PER_DELAY_MINUTE": "fast"}, "VIGILO_SECONDS_PER_DELAY_MINUTE"),
        ({"VIGILO_TICK_SECONDS": "often"}, "VIGILO_TICK_SECONDS"),
        ({"VIGILO_TICK_SECONDS": "0"}, "VIGILO_TICK_SECONDS"),
        ({"VIGILO_SEND_TIMEOUT_SECONDS": "600"}, "VIGILO_SEND_TIMEOUT_SECONDS"),
        (
            {"VIGILO_ENV": "production", "VIGILO_SECRET_KEY": GOOD_KEY, "VIGILO_SECONDS_PER_DELAY_MINUTE": "1"},
            "VIGILO_SECONDS_PER_DELAY_MINUTE",
        ),
        (
            {"VIGILO_ENV": "production", "VIGILO_SECRET_KEY": GOOD_KEY, "VIGILO_SLACK_API_URL": "http://127.0.0.1:1/"},
            "VIGILO_SLACK_API_URL",
        ),
        ({"VIGILO_PAGERDUTY_EVENTS_URL": "events.pagerduty.com"}, "VIGILO_PAGERDUTY_EVENTS_URL"),
        ({"VIGILO_PAGERDUTY_EVENTS_URL": "ftp://127.0.0.1:1"}, "VIGILO_PAGERDUTY_EVENTS_URL"),
        ({"VIGILO_PAGERDUTY_API_URL": "not a url"}, "VIGILO_PAGERDUTY_API_URL"),
        (
            {
                "VIGILO_ENV": "production",
                "VIGILO_SECRET_KEY": GOOD_KEY,
                "VIGILO_PAGERDUTY_EVENTS_URL": "http://127.0.0.1:1",
            },
            "VIGILO_PAGERDUTY_EVENTS_URL",
        ),
        (
            # Even pointing at PagerDuty itself: in production the URLs are not settings at all.
            {
                "VIGILO_ENV": "production",
                "VIGILO_SECRET_KEY": GOOD_KEY,
                "VIGILO_PAGERDUTY_API_URL": "https://api.pagerduty.com",
            },
            "VIGILO_PAGERDUTY_API_URL",
        ),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], variable: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ, dotenv=tmp_path / "missing.env")
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable + ":")


def test_pagerduty_urls_default_to_pagerduty_and_take_a_test_server(tmp_path: Path) -> None:
    missing = tmp_path / "missing.env"
    defaults = Settings.from_env({}, dotenv=missing)
    assert defaults.pagerduty_events_url == "https://events.pagerduty.com"
    assert defaults.pagerduty_api_url == "https://api.pagerduty.com"
    assert Settings().pagerduty_events_url == defaults.pagerduty_events_url
    assert Settings().pagerduty_api_url == defaults.pagerduty_api_url
    fake = Settings.from_env(
        {
            "VIGILO_ENV": "test",
            "VIGILO_PAGERDUTY_EVENTS_URL": "http://127.0.0.1:8765/",
            "VIGILO_PAGERDUTY_API_URL": " http://127.0.0.1:8766 ",
        },
        dotenv=missing,
    )
    assert fake.env is Environment.TEST
    assert (fake.pagerduty_events_url, fake.pagerduty_api_url) == ("http://127.0.0.1:8765", "http://127.0.0.1:8766")
    # Production without them keeps PagerDuty's own.
    production = Settings.from_env({"VIGILO_ENV": "production", "VIGILO_SECRET_KEY": GOOD_KEY}, dotenv=missing)
    assert production.pagerduty_events_url == "https://events.pagerduty.com"


def test_dotenv_fills_in_what_the_environment_lacks(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"# generated\nVIGILO_SECRET_KEY={GOOD_KEY}\nVIGILO_PUBLIC_URL=https://oncall.example\n")
    settings = Settings.from_env({"VIGILO_PUBLIC_URL": "http://127.0.0.1:9000"}, dotenv=dotenv)
    assert settings.secret_key == GOOD_KEY
    assert settings.public_url == "http://127.0.0.1:9000"
    assert not settings.secure_cookies


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env={"VIGILO_ENV": "production", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "vigilo: configuration error: VIGILO_SECRET_KEY: is required when VIGILO_ENV=production"
    ]
