"""What a key pressed on a call means, and how a person's paging choice is read."""

from __future__ import annotations

import pytest

from app.domain.voice import KeyAnswer, parse_paging_choice, read_answer


@pytest.mark.parametrize(
    ("digits", "answered_by", "expected"),
    [
        ("1", "human", KeyAnswer.ACK),
        ("2", "", KeyAnswer.DECLINE),
        # Machine detection's first guess may be a person with a long greeting: their key counts...
        ("1", "machine_start", KeyAnswer.ACK),
        # ...but after the voicemail's beep, or on a fax, tones are not a person's.
        ("1", "machine_end_beep", KeyAnswer.MACHINE),
        ("2", "fax", KeyAnswer.MACHINE),
        ("", "machine_end_beep", KeyAnswer.MACHINE),
        ("", "human", KeyAnswer.NO_KEY),
        (None, None, KeyAnswer.NO_KEY),
        ("7", "human", KeyAnswer.WRONG_KEY),
        ("#", "machine_start", KeyAnswer.MACHINE),
    ],
)
def test_read_answer(digits: str | None, answered_by: str | None, expected: KeyAnswer) -> None:
    assert read_answer(digits, answered_by) is expected


def test_paging_choice() -> None:
    choice, errors = parse_paging_choice(["voice", "SMS"], "5")
    assert errors == {} and choice is not None
    assert (choice.sms, choice.voice, choice.voice_after_minutes) == (True, True, 5)
    assert parse_paging_choice([], 0)[1] == {
        "page_by": "Choose at least one way to be paged: SMS, a voice call, or both."
    }
    assert set(parse_paging_choice(["fax"], 11)[1]) == {"page_by", "voice_after_minutes"}
    assert parse_paging_choice(["sms"], True)[1] == {"voice_after_minutes": "Say 0 to 10 minutes."}
