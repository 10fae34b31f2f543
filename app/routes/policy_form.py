"""The escalation policy form: rows of steps (add, remove, reorder without JavaScript), each with a
delay and its targets, and the mapping to the body the policies service validates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.routes.forms import apply_row_action
from app.services.policies import PolicyView, TargetView

MAX_ROWS = 20


@dataclass
class StepRow:
    delay_minutes: str = "15"
    targets: list[str] = field(default_factory=list)  # "schedule:<id>", "user:<email>" or "pagerduty:<id>"


def _choice(target: TargetView) -> str:
    """A target as the form's select names it."""
    if target.schedule is not None:
        return f"schedule:{target.schedule.id}"
    if target.service is not None:
        return f"pagerduty:{target.service.id}"
    return f"user:{target.user.email if target.user is not None else ''}"


@dataclass
class PolicyForm:
    """What the admin typed, kept so an invalid form comes back as it was."""

    name: str = ""
    repeat: str = "0"
    steps: list[StepRow] = field(default_factory=lambda: [StepRow()])

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> tuple[PolicyForm, str]:
        """The form and the row action asked for ("" for Save)."""

        def values(name: str) -> list[str]:
            raw = data.get(name, [])
            items = raw if isinstance(raw, list) else [raw]
            return [str(v).replace("\x00", "").strip()[:300] for v in items if str(v).strip()]

        def value(name: str, default: str = "") -> str:
            found = values(name)
            return found[-1] if found else default

        steps = [
            StepRow(value(f"step_{i}_delay", "15"), values(f"step_{i}_targets"))
            for i in range(MAX_ROWS)
            if f"step_{i}_delay" in data
        ]
        return cls(value("name"), value("repeat", "0"), steps or [StepRow()]), value("action")

    @classmethod
    def of_policy(cls, view: PolicyView) -> PolicyForm:
        steps = [
            StepRow(
                str(step.delay_minutes),
                [_choice(t) for t in step.targets],
            )
            for step in view.steps
        ]
        return cls(view.policy.name, str(view.policy.repeat), steps or [StepRow()])

    def apply_row_action(self, action: str) -> bool:
        """Add, remove or move a step; True when the action was a row action (no save)."""
        return apply_row_action(self.steps, action, StepRow, MAX_ROWS)

    def body(self) -> dict[str, Any]:
        """The policy as the API takes it."""
        return {
            "name": self.name,
            "repeat": self.repeat,
            "steps": [
                {
                    "delay_minutes": step.delay_minutes,
                    "targets": [_target(v) for v in step.targets],
                }
                for step in self.steps
            ],
        }


def _target(choice: str) -> dict[str, str]:
    """A choice of the form's select as the API's target."""
    if choice.startswith("schedule:"):
        return {"schedule_id": choice.removeprefix("schedule:")}
    if choice.startswith("pagerduty:"):
        return {"pagerduty_service_id": choice.removeprefix("pagerduty:")}
    return {"user": choice.removeprefix("user:")}
