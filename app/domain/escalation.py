"""Escalation chains and what happens next on one: pure, `now` passed in.

A chain is the list of steps an incident pages through, copied onto the incident when it opens (the
snapshot), so later edits to a policy never change a running incident. Each step has targets (a
schedule, resolved to whoever is on call in it when the step fires, or a person) and a delay before
the next step; after the last step the whole chain runs `repeat` more times. A schedule without a
policy has the implicit chain [its primary] → delay → [its backup].

`decide_next` is the one decision every path asks (open, deadline, decline, escalate now); the
service carries out its answer, "page step k of round r", in one unit of work.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_STEPS = 20
MAX_TARGETS = 10
MAX_REPEAT = 5
MIN_DELAY, MAX_DELAY = 1, 1440


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class PageStatus(StrEnum):
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"
    ESCALATED = "escalated"  # its step ran out (or was passed on) without an answer
    CANCELLED = "cancelled"  # someone else acknowledged, or the incident was resolved


class TargetKind(StrEnum):
    SCHEDULE = "schedule"
    USER = "user"
    PAGERDUTY = "pagerduty"  # a PagerDuty service: its own escalation pages the people


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    id: uuid.UUID
    name: str  # as it was when the chain was copied (a schedule's, a person's or a service's name)


@dataclass(frozen=True)
class Step:
    delay_minutes: int
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Chain:
    steps: tuple[Step, ...]
    repeat: int = 0
    policy: str | None = None  # the policy's name; None for a schedule's own backup

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "repeat": self.repeat,
            "steps": [
                {
                    "delay_minutes": step.delay_minutes,
                    "targets": [{"kind": t.kind.value, "id": str(t.id), "name": t.name} for t in step.targets],
                }
                for step in self.steps
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Chain:
        return cls(
            steps=tuple(
                Step(
                    int(step["delay_minutes"]),
                    tuple(Target(TargetKind(t["kind"]), uuid.UUID(t["id"]), str(t["name"])) for t in step["targets"]),
                )
                for step in data["steps"]
            ),
            repeat=int(data.get("repeat", 0)),
            policy=data.get("policy"),
        )


def implicit_chain(
    schedule_id: uuid.UUID,
    schedule_name: str,
    delay_minutes: int,
    backup: tuple[uuid.UUID, str] | None,
) -> Chain:
    """A schedule without a policy: its primary, then after the delay its backup (who in turn has
    the same delay before "Nobody acknowledged")."""
    steps = [Step(delay_minutes, (Target(TargetKind.SCHEDULE, schedule_id, schedule_name),))]
    if backup is not None:
        steps.append(Step(delay_minutes, (Target(TargetKind.USER, backup[0], backup[1]),)))
    return Chain(tuple(steps))


@dataclass(frozen=True, order=True)
class Position:
    """Step `step` of round `round`, both counted from 0."""

    round: int
    step: int


class Event(StrEnum):
    OPENED = "opened"
    DEADLINE = "deadline"  # a wake-up at (or after) the current step's deadline
    DECLINED = "declined"  # someone of the current step declined
    ESCALATE_NOW = "escalate_now"  # a person asked for the next step at once
    SKIPPED = "skipped"  # the step just fired paged nobody


class Move(StrEnum):
    WAIT = "wait"  # woke early: sleep until the deadline
    STOP = "stop"  # nothing to do (answered, resolved, already moved on)
    PAGE = "page"  # page `position`
    EXHAUSTED = "exhausted"  # the last step of the last round ran out


@dataclass(frozen=True)
class ChainState:
    incident: IncidentStatus
    position: Position | None  # None before the first step fired
    due_at: datetime.datetime | None  # when the current step runs out; None once the chain is over
    step_pages: tuple[PageStatus, ...]  # the current step's pages (this round)
    event: Event


@dataclass(frozen=True)
class Decision:
    move: Move
    position: Position | None = None
    why: str = ""


def following(chain: Chain, position: Position) -> Position | None:
    """The step after `position`: the next one, the first of the next round, or None at the end."""
    if position.step + 1 < len(chain.steps):
        return Position(position.round, position.step + 1)
    if position.round < chain.repeat:
        return Position(position.round + 1, 0)
    return None


def decide_next(chain: Chain, state: ChainState, now: datetime.datetime) -> Decision:
    """What the chain does now. The caller holds the incident's lock and carries out the answer."""
    if state.incident is not IncidentStatus.TRIGGERED:
        return Decision(Move.STOP, why=f"the incident is {state.incident.value}")
    if state.position is None:
        if not chain.steps:
            return Decision(Move.EXHAUSTED, why="the chain has no steps")
        return Decision(Move.PAGE, Position(0, 0), why="opened")
    if state.due_at is None:
        return Decision(Move.STOP, why="the chain has already run out")
    if PageStatus.ACKNOWLEDGED in state.step_pages:
        return Decision(Move.STOP, why="the step was acknowledged")
    if state.event is Event.DEADLINE and now < state.due_at:
        return Decision(Move.WAIT, state.position)
    if state.event is Event.DECLINED and (
        not state.step_pages or any(s is not PageStatus.DECLINED for s in state.step_pages)
    ):
        return Decision(Move.STOP, why="others of the step have not answered")
    nxt = following(chain, state.position)
    why = {
        Event.DEADLINE: "timeout",
        Event.DECLINED: "declined",
        Event.ESCALATE_NOW: "escalate now",
        Event.SKIPPED: "nobody to page",
        Event.OPENED: "opened",
    }[state.event]
    if nxt is None:
        return Decision(Move.EXHAUSTED, why=why)
    return Decision(Move.PAGE, nxt, why=why)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def exhausted_message(incident_number: int, chain: Chain) -> str:
    """ "Nobody acknowledged INC-42 after 3 steps and 1 repeat"."""
    text = f"Nobody acknowledged INC-{incident_number} after {plural(len(chain.steps), 'step')}"
    if chain.repeat:
        text += f" and {plural(chain.repeat, 'repeat')}"
    return text


def step_label(chain: Chain, position: Position) -> str:
    """ "step 2 of 3" (counted from 1), with the round when the chain repeats ("step 2 of 3, round 2 of 2")."""
    label = f"step {position.step + 1} of {len(chain.steps)}"
    if chain.repeat:
        label += f", round {position.round + 1} of {chain.repeat + 1}"
    return label


def target_label(target: Target) -> str:
    if target.kind is TargetKind.SCHEDULE:
        return f"whoever is on call for {target.name}"
    if target.kind is TargetKind.PAGERDUTY:
        return f"PagerDuty service {target.name}"
    return target.name


def next_label(chain: Chain, position: Position) -> str:
    """Who the step after `position` pages ("Dave Diaz", "whoever is on call for Payments"), or
    why nobody comes next."""
    nxt = following(chain, position)
    if nxt is None:
        return "nobody (the last step)"
    names = [target_label(t) for t in chain.steps[nxt.step].targets]
    who = " and ".join(names) if names else "nobody"
    return who if nxt.round == position.round else f"{who} (round {nxt.round + 1})"


def validate_steps(steps: Sequence[tuple[int, int]], repeat: int) -> dict[str, str]:
    """Field errors for a policy's shape: steps as (delay_minutes, number of targets)."""
    errors: dict[str, str] = {}
    if not 0 <= repeat <= MAX_REPEAT:
        errors["repeat"] = f"Repeat the chain 0 to {MAX_REPEAT} times."
    if not steps:
        errors["steps"] = "Add at least one step."
    elif len(steps) > MAX_STEPS:
        errors["steps"] = f"Keep it to {MAX_STEPS} steps."
    for i, (delay, count) in enumerate(steps[:MAX_STEPS]):
        if not MIN_DELAY <= delay <= MAX_DELAY:
            errors[f"steps[{i}].delay_minutes"] = f"Wait {MIN_DELAY} to {MAX_DELAY} minutes before the next step."
        if count == 0:
            errors[f"steps[{i}].targets"] = "Choose at least one schedule, person or PagerDuty service to page."
        elif count > MAX_TARGETS:
            errors[f"steps[{i}].targets"] = f"Keep it to {MAX_TARGETS} targets a step."
    return errors
