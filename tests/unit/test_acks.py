"""Ack and decline rules and the SMS grammar, without a database."""

from __future__ import annotations

import uuid

import pytest

from app.domain.acks import AckOutcome, DeclineOutcome, PendingPage, decide_ack, decide_decline

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


def test_decline_only_by_the_person_paged() -> None:
    primary, backup = PendingPage(uuid.uuid4(), ANN, 0), PendingPage(uuid.uuid4(), BEN, 1)
    assert decide_decline([primary], ANN) == (DeclineOutcome.PAGE_BACKUP, primary)
    assert decide_decline([backup], BEN) == (DeclineOutcome.NOBODY_CLAIMED, backup)
    assert decide_decline([primary], BEN) == (DeclineOutcome.IGNORED, None)
