"""Verification codes and their limits, as tables (no database)."""

from __future__ import annotations

import datetime
import uuid

import pytest

from app.domain.verification import (
    MAX_TRIES,
    CheckOutcome,
    OpenCode,
    check_code,
    code_for,
    next_code_allowed_at,
)

SECRET = "test-secret-key-that-is-long-enough-0123456789"
T0 = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
MIN = datetime.timedelta(minutes=1)


def test_codes_are_six_digits_stable_and_per_verification() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    assert len(code_for(SECRET, first)) == 6
    assert code_for(SECRET, first).isdigit()
    assert code_for(SECRET, first) == code_for(SECRET, first)
    assert code_for(SECRET, first) != code_for(SECRET, second) or first == second
    assert code_for(SECRET, first) != code_for(SECRET + "x", first)


@pytest.mark.parametrize(
    ("sent", "now", "allowed_at"),
    [
        ([], T0, None),
        ([T0], T0 + 30 * datetime.timedelta(seconds=1), T0 + MIN),  # one a minute
        ([T0], T0 + MIN, None),
        ([T0 + k * 10 * MIN for k in range(5)], T0 + 41 * MIN, T0 + 60 * MIN),  # five an hour
        ([T0 + k * 10 * MIN for k in range(5)], T0 + 60 * MIN, None),
        ([T0 - 2 * 60 * MIN] * 9, T0, None),  # old codes do not count
    ],
)
def test_rate_limits(
    sent: list[datetime.datetime], now: datetime.datetime, allowed_at: datetime.datetime | None
) -> None:
    assert next_code_allowed_at(sent, now) == allowed_at


def test_check_outcomes() -> None:
    code = OpenCode(uuid.uuid4(), T0 + 10 * MIN, 0)
    right = code_for(SECRET, code.id)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert check_code(SECRET, code, right, T0) is CheckOutcome.VERIFIED
    assert check_code(SECRET, code, f" {right[:3]} {right[3:]} ", T0) is CheckOutcome.VERIFIED
    assert check_code(SECRET, code, wrong, T0) is CheckOutcome.WRONG
    assert check_code(SECRET, code, right, T0 + 10 * MIN) is CheckOutcome.EXPIRED
    last_try = OpenCode(code.id, code.expires_at, MAX_TRIES - 1)
    assert check_code(SECRET, last_try, wrong, T0) is CheckOutcome.SPENT
    assert check_code(SECRET, OpenCode(code.id, code.expires_at, MAX_TRIES), right, T0) is CheckOutcome.NONE
    assert check_code(SECRET, None, right, T0) is CheckOutcome.NONE
