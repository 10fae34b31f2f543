"""Voice calls: what a call says, what a key pressed on it means, and how a person is paged. Pure.

A call says the workspace, the incident, its title and the step, twice, then asks for one key:
1 acknowledges, 2 declines. No key, another key or an answering machine changes nothing, and the
chain goes on at its deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

MAX_VOICE_AFTER = 10
KEYS_PROMPT = "Press 1 to acknowledge, press 2 to decline."


class PageBy(StrEnum):
    SMS = "sms"
    VOICE = "voice"


class KeyAnswer(StrEnum):
    ACK = "ack"
    DECLINE = "decline"
    NO_KEY = "no_key"
    WRONG_KEY = "wrong_key"
    MACHINE = "machine"  # voicemail or a fax: Twilio's AnsweredBy with machine detection


def read_answer(digits: str | None, answered_by: str | None) -> KeyAnswer:
    """What the key pressed on a call means. Machine detection's first guess ("machine_start") sometimes
    takes a person with a long greeting for a machine, so a 1 or 2 still counts then; once it heard
    the voicemail's beep ("machine_end_…") or a fax, tones are the greeting's, not a person's."""
    pressed = (digits or "").strip()
    who = answered_by or ""
    if who.startswith("machine_end") or who == "fax":
        return KeyAnswer.MACHINE
    if pressed in {"1", "2"}:
        return KeyAnswer.ACK if pressed == "1" else KeyAnswer.DECLINE
    if who.startswith("machine"):
        return KeyAnswer.MACHINE
    return KeyAnswer.WRONG_KEY if pressed else KeyAnswer.NO_KEY


def call_script(workspace: str, number: int, title: str, where: str) -> tuple[str, ...]:
    """The sentences a call says (the adapter says them twice with pauses, then asks for a key)."""
    stands = where[:1].upper() + where[1:] if where else ""
    sentences = [f"Vigilo page for {workspace[:60]}.", f"Incident {number}: {title[:150]}."]
    if stands:
        sentences.append(f"{stands}.")
    return (*sentences, KEYS_PROMPT)


def nothing_pressed_note(name: str, number: int, answer: KeyAnswer, digits: str) -> str:
    """The timeline's words for a call that changed nothing."""
    if answer is KeyAnswer.MACHINE:
        return f"The call to {name} for INC-{number} reached voicemail; the chain goes on."
    if answer is KeyAnswer.WRONG_KEY:
        return f"{name} pressed {digits[:4]} on the call for INC-{number}, which means nothing; the chain goes on."
    return f"{name} answered the call for INC-{number} but pressed no key; the chain goes on."


# Twilio's call statuses (its status callback): the last four are final.
CALL_PROGRESS = frozenset({"queued", "initiated", "ringing", "in-progress"})
CALL_FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def call_outcome_note(what: str, status: str) -> str | None:
    """The timeline's words for a call's final status (None for a call that was answered: the key
    pressed, or not, says the rest)."""
    if status == "busy":
        return f"{what}: the line was busy; the chain goes on at its deadline."
    if status == "no-answer":
        return f"{what}: nobody answered; the chain goes on at its deadline."
    if status == "canceled":
        return f"{what} was cancelled before it rang."
    return None


@dataclass(frozen=True)
class PagingChoice:
    sms: bool
    voice: bool
    voice_after_minutes: int


def parse_paging_choice(
    page_by: Sequence[str] | None, voice_after: object
) -> tuple[PagingChoice | None, dict[str, str]]:
    """The person's choice, or errors by field: at least one way, the call's wait 0 to 10 minutes."""
    errors: dict[str, str] = {}
    ways = [str(way).strip().lower() for way in (page_by or [])]
    unknown = [way for way in ways if way not in {p.value for p in PageBy}]
    if unknown:
        errors["page_by"] = f"Choose from sms and voice ({unknown[0][:20]} is neither)."
    elif not ways:
        errors["page_by"] = "Choose at least one way to be paged: SMS, a voice call, or both."
    minutes = 0
    if isinstance(voice_after, bool):
        errors["voice_after_minutes"] = "Say 0 to 10 minutes."
    else:
        try:
            minutes = int(str(voice_after).strip() or "0") if not isinstance(voice_after, int) else voice_after
        except ValueError:
            errors["voice_after_minutes"] = "Say 0 to 10 minutes."
        else:
            if not 0 <= minutes <= MAX_VOICE_AFTER:
                errors["voice_after_minutes"] = "Say 0 to 10 minutes."
    if errors:
        return None, errors
    return PagingChoice(PageBy.SMS.value in ways, PageBy.VOICE.value in ways, minutes), {}
