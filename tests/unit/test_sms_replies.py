"""The SMS reply grammar and which pending page a reply acts on, as tables (no database)."""

from __future__ import annotations

import uuid

import pytest

from app.domain.acks import (
    Addressing,
    Command,
    PendingReply,
    SmsCommand,
    choose_page,
    first_free_code,
    parse_sms,
    pending_list_text,
)
from app.domain.paging import sms_text

ACK, DECLINE = Command.ACK, Command.DECLINE


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        ("4A", SmsCommand(ACK, Addressing.CODE, 4)),
        ("4a", SmsCommand(ACK, Addressing.CODE, 4)),
        ("  4d ", SmsCommand(DECLINE, Addressing.CODE, 4)),
        ("12 A", SmsCommand(ACK, Addressing.CODE, 12)),
        ("ACK", SmsCommand(ACK, Addressing.BARE)),
        (" ack ", SmsCommand(ACK, Addressing.BARE)),
        ("Decline", SmsCommand(DECLINE, Addressing.BARE)),
        ("ACK 42", SmsCommand(ACK, Addressing.INCIDENT, 42)),
        ("  ack   42 ", SmsCommand(ACK, Addressing.INCIDENT, 42)),
        ("ack INC-42", SmsCommand(ACK, Addressing.INCIDENT, 42)),
        ("DECLINE 7", SmsCommand(DECLINE, Addressing.INCIDENT, 7)),
        ("4", None),
        ("A4", None),
        ("4B", None),
        ("4A please", None),
        ("acknowledge", None),
        ("ACK 42 please", None),
        ("", None),
        ("STOP", None),
    ],
)
def test_grammar(body: str, parsed: SmsCommand | None) -> None:
    assert parse_sms(body) == parsed


@pytest.mark.parametrize(("taken", "code"), [(set(), 1), ({1}, 2), ({1, 2, 4}, 3), ({2, 3}, 1)])
def test_reply_code_is_the_smallest_free(taken: set[int], code: int) -> None:
    assert first_free_code(taken) == code


def _pending(code: int, number: int, workspace: str = "Acme") -> PendingReply:
    return PendingReply(uuid.uuid4(), code, number, workspace, f"title {number}")


ONE = [_pending(1, 42)]
TWO = [_pending(1, 42, "Acme"), _pending(2, 42, "Globex")]
MIXED = [_pending(1, 42), _pending(2, 7)]


@pytest.mark.parametrize(
    ("body", "pending", "chosen"),
    [
        ("1A", ONE, 0),
        ("2D", TWO, 1),
        ("3A", TWO, None),  # unknown code
        ("ACK", ONE, 0),  # bare with exactly one pending page
        ("ACK", TWO, None),  # bare with two: the list, no change
        ("ACK", [], None),
        ("ACK 42", ONE, 0),
        ("ACK 42", TWO, None),  # INC-42 pending in two workspaces: ambiguous
        ("ACK 7", MIXED, 1),
        ("DECLINE 8", MIXED, None),
    ],
)
def test_choose_page(body: str, pending: list[PendingReply], chosen: int | None) -> None:
    command = parse_sms(body)
    assert command is not None
    result = choose_page(command, pending)
    assert result == (pending[chosen] if chosen is not None else None)


def test_the_list_names_codes_workspaces_and_titles() -> None:
    text = pending_list_text(parse_sms("ACK"), TWO)
    assert "1A/1D: Acme INC-42 title 42" in text
    assert "2A/2D: Globex INC-42 title 42" in text
    assert "Reply 1A to acknowledge, 1D to decline." in text
    assert "no pending page of yours has code 9" in pending_list_text(parse_sms("9A"), TWO)
    assert "pending in 2 of your workspaces" in pending_list_text(parse_sms("ACK 42"), TWO)
    assert "no pending pages" in pending_list_text(parse_sms("ACK"), [])


def test_paging_sms_ends_with_its_reply_code() -> None:
    text = sms_text("Acme", 42, "SEV1", "Database down", 4)
    assert text.endswith("Reply 4A to acknowledge, 4D to decline.")
    assert "Acme" in text
    assert "INC-42" in text
