"""Invariant 12: a role member changes only time they hold; admins and owners may override any range.

`check_member_change(slot, actor, may_override, start, end)` is the one rule the dialog, the full page
and the API ask; each row below is (case, whose slot, may_override, start, end, expected refusal).
"""

from __future__ import annotations

import datetime
import uuid

import pytest

from app.domain.overrides import EditRefused, SlotState, check_member_change

ME = uuid.uuid4()
OTHER = uuid.uuid4()
START = datetime.datetime(2030, 3, 4, 9, 0, tzinfo=datetime.UTC)
END = START + datetime.timedelta(weeks=1)
H = datetime.timedelta(hours=1)


def slot(user: uuid.UUID = ME, is_override: bool = False) -> SlotState:
    return SlotState(uuid.uuid4(), user, START, END, is_override)


# Each row: the case, who holds the slot, whether the actor may override, the new start and end.
ALLOWED: list[tuple[str, uuid.UUID, bool, datetime.datetime | None, datetime.datetime | None]] = [
    ("own slot, nothing given", ME, False, None, None),
    ("own slot, same bounds", ME, False, START, END),
    ("own slot, start later", ME, False, START + 24 * H, None),
    ("own slot, end earlier", ME, False, None, END - 24 * H),
    ("own slot, both inside", ME, False, START + H, END - H),
    ("own slot, give the whole", ME, False, START, END),
    ("own slot, give the second half", ME, False, START + 84 * H, END),
    ("own slot, zone offset of the same instants", ME, False, START.astimezone(datetime.timezone(H)), END),
    ("admin, someone else's slot, same bounds", OTHER, True, None, None),
    ("admin, start six weeks earlier", OTHER, True, START - datetime.timedelta(weeks=6), END),
    ("admin, end six weeks later", OTHER, True, START, END + datetime.timedelta(weeks=6)),
    ("admin, own slot widened both ways", ME, True, START - 24 * H, END + 24 * H),
]

# Each row: the case, who holds the slot, the new start and end, and the field the refusal names.
REFUSED: list[tuple[str, uuid.UUID, datetime.datetime | None, datetime.datetime | None, str]] = [
    ("start a minute earlier", ME, START - datetime.timedelta(minutes=1), None, "start"),
    ("start a day earlier, end kept", ME, START - 24 * H, END, "start"),
    ("start earlier, end earlier", ME, START - H, END - H, "start"),
    ("end a minute later", ME, None, END + datetime.timedelta(minutes=1), "end"),
    ("end six weeks later", ME, None, END + datetime.timedelta(weeks=6), "end"),
    ("start later, end later", ME, START + H, END + H, "end"),
    ("someone else's slot, nothing given", OTHER, None, None, "slot"),
    ("someone else's slot, inside its bounds", OTHER, START + H, END - H, "slot"),
    ("someone else's slot, widened", OTHER, START - H, END + H, "slot"),
]


@pytest.mark.parametrize(("case", "holder", "may_override", "start", "end"), ALLOWED, ids=[r[0] for r in ALLOWED])
def test_allowed(
    case: str,
    holder: uuid.UUID,
    may_override: bool,
    start: datetime.datetime | None,
    end: datetime.datetime | None,
) -> None:
    for is_override in (False, True):
        assert check_member_change(slot(holder, is_override), ME, may_override, start, end) is None


@pytest.mark.parametrize(("case", "holder", "start", "end", "field"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_as_403_naming_the_field(
    case: str, holder: uuid.UUID, start: datetime.datetime | None, end: datetime.datetime | None, field: str
) -> None:
    for is_override in (False, True):
        with pytest.raises(EditRefused) as caught:
            check_member_change(slot(holder, is_override), ME, False, start, end)
        assert caught.value.status == 403
        assert caught.value.field == field
        assert caught.value.message
        assert str(caught.value) == caught.value.message


def test_refusal_says_where_the_members_time_begins_and_ends() -> None:
    with pytest.raises(EditRefused) as early:
        check_member_change(slot(), ME, False, START - H, None)
    assert "Mon 04 Mar 09:00 UTC" in early.value.message
    assert "only change time you hold" in early.value.message
    with pytest.raises(EditRefused) as late:
        check_member_change(slot(), ME, False, None, END + H)
    assert "Mon 11 Mar 09:00 UTC" in late.value.message
    with pytest.raises(EditRefused) as theirs:
        check_member_change(slot(OTHER), ME, False)
    assert "ask an admin" in theirs.value.message


def test_someone_elses_slot_is_refused_before_the_bounds() -> None:
    """Another person's slot names "slot", even when the bounds would also be out of range."""
    with pytest.raises(EditRefused) as caught:
        check_member_change(
            slot(OTHER), ME, False, START - datetime.timedelta(weeks=6), END + datetime.timedelta(weeks=6)
        )
    assert caught.value.field == "slot"
