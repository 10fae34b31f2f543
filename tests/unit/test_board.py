"""The on-call board, on plain values."""

from __future__ import annotations

import datetime
import uuid

from app.domain.board import MAX_REFRESH, BoardSchedule, BoardSlot, build_board, seen_by

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)
H = datetime.timedelta(hours=1)
ANN, BEN, CAT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def schedule(name: str, active: bool = True) -> BoardSchedule:
    return BoardSchedule(uuid.uuid4(), name, active, CAT)


def slot(s: BoardSchedule, who: uuid.UUID, start_h: float, end_h: float, override: bool = False) -> BoardSlot:
    return BoardSlot(s.id, who, NOW + start_h * H, NOW + end_h * H, override)


def test_primary_until_and_next_handoff() -> None:
    platform = schedule("Platform")
    board = build_board([platform], [slot(platform, ANN, -5, 3), slot(platform, BEN, 3, 27)], NOW, viewer_id=CAT)
    (status,) = board.statuses
    assert status.current is not None
    assert status.current.user_id == ANN
    assert status.next_handoff is not None
    assert (status.next_handoff.at, status.next_handoff.from_user, status.next_handoff.to_user) == (
        NOW + 3 * H,
        ANN,
        BEN,
    )
    assert status.problem is None
    assert board.highlight == (status,)
    assert board.viewer_on_call == ()


def test_the_viewers_own_schedules_come_first() -> None:
    alpha, beta = schedule("Alpha"), schedule("Beta")
    board = build_board([alpha, beta], [slot(alpha, ANN, -1, 1), slot(beta, BEN, -1, 1)], NOW, viewer_id=BEN)
    assert [s.schedule.name for s in board.highlight] == ["Beta", "Alpha"]
    assert [s.schedule.name for s in board.viewer_on_call] == ["Beta"]


def test_gap_inactive_and_ran_out_are_problems_with_fixes() -> None:
    gap, off, empty = schedule("Gap"), schedule("Off", active=False), schedule("Empty")
    board = build_board([gap, off, empty], [slot(gap, ANN, 2, 10), slot(off, BEN, -1, 5)], NOW, viewer_id=None)
    by_name = {s.schedule.name: s for s in board.statuses}
    assert (by_name["Gap"].problem, by_name["Gap"].gap_until, by_name["Gap"].fix) == ("gap", NOW + 2 * H, None)
    assert (by_name["Off"].problem, by_name["Off"].fix) == ("inactive", "activate")
    assert (by_name["Empty"].problem, by_name["Empty"].fix) == ("ran_out", "extend")
    assert board.highlight == ()  # an inactive schedule's slot pages nobody
    assert [h.schedule_id for h in board.handoffs] == [gap.id]  # inactive schedules announce no hand-offs


def test_same_person_back_to_back_is_no_handoff_and_order_is_by_time() -> None:
    a, b = schedule("A"), schedule("B")
    slots = [
        slot(a, ANN, -1, 2),
        slot(a, ANN, 2, 4, override=True),
        slot(a, BEN, 4, 30),
        slot(b, CAT, -3, 1),
        slot(b, ANN, 1, 9),
        slot(b, BEN, 400, 500),  # beyond 14 days
    ]
    board = build_board([a, b], slots, NOW, viewer_id=None)
    assert [(h.at - NOW, h.to_user) for h in board.handoffs] == [(1 * H, ANN), (4 * H, BEN)]


def test_refresh_comes_at_the_next_change_or_within_thirty_seconds() -> None:
    a = schedule("A")
    soon = build_board([a], [slot(a, ANN, -1, 10 / 3600), slot(a, BEN, 10 / 3600, 5)], NOW, viewer_id=None)
    assert soon.refresh_in == datetime.timedelta(seconds=10)
    later = build_board([a], [slot(a, ANN, -1, 5)], NOW, viewer_id=None)
    assert later.refresh_in == MAX_REFRESH


def test_a_kept_board_is_the_board_of_any_moment_before_it_changes() -> None:
    """`seen_by(board at t0, viewer, t)` must equal the board laid out afresh at t for every t before
    `changes_at` — that is what lets a web process keep one layout until a hand-off passes."""
    a, b, gap, later, off = (
        schedule("A"),
        schedule("B"),
        schedule("Gap"),
        BoardSchedule(uuid.uuid4(), "Later", True, CAT, NOW + 6 * H),
        schedule("Off", active=False),
    )
    slots = [
        slot(a, ANN, -1, 2),
        slot(a, BEN, 2, 26),
        slot(b, CAT, -3, 14 * 24 + 5),
        slot(gap, BEN, 3, 9),
        slot(later, ANN, 6, 30),
        slot(b, ANN, 14 * 24 + 5, 14 * 24 + 40),  # its hand-off comes into the 14 days after 5 hours
        slot(off, BEN, 7, 20),  # an inactive schedule still shows who holds it
    ]
    kept = build_board([a, b, gap, later, off], slots, NOW, viewer_id=None)
    assert kept.changes_at == NOW + 2 * H  # A's hand-off, before the gap's start (3 h) and B's far hand-off (5 h)
    for minutes in (0, 1, 59, 119):  # (and up to 2 h: every moment before the first change)
        at = NOW + datetime.timedelta(minutes=minutes, seconds=30)
        for viewer in (ANN, BEN, CAT, None):
            assert seen_by(kept, viewer, at) == build_board([a, b, gap, later, off], slots, at, viewer)
    moments = []
    board = kept
    while board.changes_at is not None and board.changes_at < NOW + 40 * H:
        moments.append(board.changes_at - NOW)
        board = build_board([a, b, gap, later, off], slots, board.changes_at, viewer_id=None)
    # A's hand-off, the gap's slot starting, B's hand-off coming into view, Later starting, Off's slot
    # starting (inactive: nobody is paged, but the list shows its holder), the gap's slot ending.
    assert moments[:6] == [2 * H, 3 * H, 5 * H, 6 * H, 7 * H, 9 * H]
