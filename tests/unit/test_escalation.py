"""The chain's decision, table-driven in GoAlert's style: each row is a chain, where it stands, what
happened, and what must follow. Plus the words people read (step labels, who comes next, the end)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import pytest

from app.domain.escalation import (
    Chain,
    ChainState,
    Event,
    IncidentStatus,
    Move,
    PageStatus,
    Position,
    Step,
    Target,
    TargetKind,
    decide_next,
    exhausted_message,
    implicit_chain,
    next_label,
    step_label,
    validate_steps,
)

NOW = datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.UTC)
BEFORE, AFTER = NOW + datetime.timedelta(minutes=5), NOW - datetime.timedelta(seconds=1)
PAYMENTS = Target(TargetKind.SCHEDULE, uuid.uuid4(), "Payments")
DAVE = Target(TargetKind.USER, uuid.uuid4(), "Dave Diaz")
ERIN = Target(TargetKind.USER, uuid.uuid4(), "Erin Eze")
THREE = Chain((Step(5, (PAYMENTS,)), Step(10, (DAVE, ERIN)), Step(15, (DAVE,))), repeat=1, policy="Core")
ONCE = Chain(THREE.steps, repeat=0, policy="Core")

P, A, D, E, C = (
    PageStatus.PENDING,
    PageStatus.ACKNOWLEDGED,
    PageStatus.DECLINED,
    PageStatus.ESCALATED,
    PageStatus.CANCELLED,
)
T = IncidentStatus.TRIGGERED


@dataclass(frozen=True)
class Case:
    name: str
    chain: Chain
    state: ChainState
    move: Move
    position: Position | None = None


def at(step: int, round_: int = 0) -> Position:
    return Position(round_, step)


def state(
    position: Position | None,
    event: Event,
    pages: tuple[PageStatus, ...] = (P,),
    due: datetime.datetime | None = AFTER,
    incident: IncidentStatus = T,
) -> ChainState:
    return ChainState(incident, position, due, pages, event)


CASES = [
    Case("opening pages the first step", THREE, state(None, Event.OPENED, (), None), Move.PAGE, at(0)),
    Case("a wake-up before the deadline waits", THREE, state(at(0), Event.DEADLINE, due=BEFORE), Move.WAIT, at(0)),
    Case("timeout moves to the next step", THREE, state(at(0), Event.DEADLINE), Move.PAGE, at(1)),
    Case("timeout of the middle step", THREE, state(at(1), Event.DEADLINE, (P, P)), Move.PAGE, at(2)),
    Case("the last step's timeout repeats the chain", THREE, state(at(2), Event.DEADLINE), Move.PAGE, at(0, 1)),
    Case("second round goes on in order", THREE, state(at(0, 1), Event.DEADLINE), Move.PAGE, at(1, 1)),
    Case("last step of the last round: exhausted", THREE, state(at(2, 1), Event.DEADLINE), Move.EXHAUSTED),
    Case("repeat 0: the last step ends it", ONCE, state(at(2), Event.DEADLINE), Move.EXHAUSTED),
    Case(
        "an ack stops the chain",
        THREE,
        state(at(1), Event.DEADLINE, (A, C), incident=IncidentStatus.ACKNOWLEDGED),
        Move.STOP,
    ),
    Case("an ack in the step, incident state late", THREE, state(at(1), Event.DEADLINE, (A, P)), Move.STOP),
    Case(
        "resolved: nothing more", THREE, state(at(0), Event.DEADLINE, (C,), incident=IncidentStatus.RESOLVED), Move.STOP
    ),
    Case("decline by one of two targets waits for the other", THREE, state(at(1), Event.DECLINED, (D, P)), Move.STOP),
    Case(
        "decline by all targets moves on at once", THREE, state(at(1), Event.DECLINED, (D, D), BEFORE), Move.PAGE, at(2)
    ),
    Case(
        "decline by the only target moves on at once",
        THREE,
        state(at(0), Event.DECLINED, (D,), BEFORE),
        Move.PAGE,
        at(1),
    ),
    Case("decline on the very last step ends it", ONCE, state(at(2), Event.DECLINED, (D,), BEFORE), Move.EXHAUSTED),
    Case(
        "escalate now fires the next step early", THREE, state(at(0), Event.ESCALATE_NOW, due=BEFORE), Move.PAGE, at(1)
    ),
    Case(
        "escalate now on the last step of a round",
        THREE,
        state(at(2), Event.ESCALATE_NOW, due=BEFORE),
        Move.PAGE,
        at(0, 1),
    ),
    Case("a step that paged nobody moves on at once", THREE, state(at(0), Event.SKIPPED, (), BEFORE), Move.PAGE, at(1)),
    Case("an empty last step ends it at once", ONCE, state(at(2), Event.SKIPPED, (), BEFORE), Move.EXHAUSTED),
    Case("a chain already over does nothing", THREE, state(at(2, 1), Event.DEADLINE, (E,), None), Move.STOP),
    Case(
        "a stale wake-up after it ran out does nothing",
        THREE,
        state(at(2, 1), Event.ESCALATE_NOW, (E,), None),
        Move.STOP,
    ),
    Case("a chain of no steps is over at once", Chain(()), state(None, Event.OPENED, (), None), Move.EXHAUSTED),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide_next(case: Case) -> None:
    decision = decide_next(case.chain, case.state, NOW)
    assert decision.move is case.move
    if case.move in (Move.PAGE, Move.WAIT):
        assert decision.position == case.position


def test_deadline_exactly_now_is_due() -> None:
    assert decide_next(THREE, state(at(0), Event.DEADLINE, due=NOW), NOW).move is Move.PAGE


def test_states_are_enums_not_strings() -> None:
    assert PageStatus("declined") is PageStatus.DECLINED
    with pytest.raises(ValueError, match="snoozed"):
        PageStatus("snoozed")


def test_exhausted_message() -> None:
    assert exhausted_message(42, THREE) == "Nobody acknowledged INC-42 after 3 steps and 1 repeat"
    assert exhausted_message(42, ONCE) == "Nobody acknowledged INC-42 after 3 steps"
    assert (
        exhausted_message(7, Chain((Step(5, (DAVE,)),), repeat=2))
        == "Nobody acknowledged INC-7 after 1 step and 2 repeats"
    )


def test_labels_count_from_one() -> None:
    assert step_label(ONCE, at(1)) == "step 2 of 3"
    assert step_label(THREE, at(1, 1)) == "step 2 of 3, round 2 of 2"


def test_who_comes_next() -> None:
    assert next_label(THREE, at(0)) == "Dave Diaz and Erin Eze"
    assert next_label(THREE, at(1)) == "Dave Diaz"
    assert next_label(THREE, at(2)) == "whoever is on call for Payments (round 2)"
    assert next_label(THREE, at(2, 1)) == "nobody (the last step)"


def test_implicit_chain_is_primary_then_backup() -> None:
    schedule, backup = uuid.uuid4(), uuid.uuid4()
    chain = implicit_chain(schedule, "Ops", 15, (backup, "Ben"))
    assert [(s.delay_minutes, [(t.kind, t.id) for t in s.targets]) for s in chain.steps] == [
        (15, [(TargetKind.SCHEDULE, schedule)]),
        (15, [(TargetKind.USER, backup)]),
    ]
    assert chain.repeat == 0 and chain.policy is None
    assert len(implicit_chain(schedule, "Ops", 15, None).steps) == 1


def test_snapshot_round_trips_through_json() -> None:
    assert Chain.from_json(THREE.to_json()) == THREE


@pytest.mark.parametrize(
    ("steps", "repeat", "expected"),
    [
        ([(5, 1)], 0, {}),
        ([], 0, {"steps": "Add at least one step."}),
        ([(0, 1)], 0, {"steps[0].delay_minutes": "Wait 1 to 1440 minutes before the next step."}),
        ([(5, 1), (1441, 1)], 0, {"steps[1].delay_minutes": "Wait 1 to 1440 minutes before the next step."}),
        ([(5, 0)], 0, {"steps[0].targets": "Choose at least one schedule, person or PagerDuty service to page."}),
        ([(5, 1)], 6, {"repeat": "Repeat the chain 0 to 5 times."}),
    ],
)
def test_policy_shape(steps: list[tuple[int, int]], repeat: int, expected: dict[str, str]) -> None:
    assert validate_steps(steps, repeat) == expected
