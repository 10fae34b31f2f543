"""VIGILO_TRUSTED_PROXIES: the proxies whose X-Forwarded-For is believed; none unless set."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings, SettingsError


def test_none_by_default(tmp_path: Path) -> None:
    assert Settings.from_env({}, dotenv=tmp_path / "missing.env").trusted_proxies == ()
    assert Settings.from_env({"VIGILO_TRUSTED_PROXIES": " , "}, dotenv=tmp_path / "missing.env").trusted_proxies == ()


def test_addresses_and_ranges_parse_to_a_tuple(tmp_path: Path) -> None:
    settings = Settings.from_env({"VIGILO_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.5"}, dotenv=tmp_path / "x.env")
    assert isinstance(settings.trusted_proxies, tuple)
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.5/32")


def test_ipv6_and_host_bits_are_accepted(tmp_path: Path) -> None:
    settings = Settings.from_env({"VIGILO_TRUSTED_PROXIES": "::1,10.1.2.3/8"}, dotenv=tmp_path / "x.env")
    assert settings.trusted_proxies == ("::1/128", "10.0.0.0/8")


@pytest.mark.parametrize("raw", ["not-an-ip", "10.0.0.0/8, nope", "300.1.1.1", "10.0.0.0/99", "*"])
def test_a_bad_entry_names_the_variable(raw: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"VIGILO_TRUSTED_PROXIES": raw}, dotenv=tmp_path / "x.env")
    assert caught.value.variable == "VIGILO_TRUSTED_PROXIES"
    assert str(caught.value).startswith("VIGILO_TRUSTED_PROXIES:")
