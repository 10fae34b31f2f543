"""Ack and decline rules and the SMS grammar, without a database."""

from __future__ import annotations

import uuid

import pytest

from app.domain.acks import AckOutcome, decide_ack

ANN, BEN = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("status", "responders", "eligible", "expected"),
    [
        ("triggered", set(), True, AckOutcome.ACKNOWLEDGED),
        ("acknowledged", {BEN}, True, AckOutcome.JOINED),
        ("acknowledged", {ANN}, True, AckOutcome.ALREADY),
        ("resolved", set(), True, AckOutcome.RESOLVED),
        ("triggered", set(), False, AckOutcome.NOT_ALLOWED),
    ],
)
def test_ack(status: str, responders: set[uuid.UUID], eligible: bool, expected: AckOutcome) -> None:
    assert decide_ack(status, responders, ANN, eligible) is expected
