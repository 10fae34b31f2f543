"""Schemathesis against the app's own OpenAPI (/schema/openapi.json): every /api/v1 operation, fed
generated valid and invalid input, never answers 5xx and answers only what the schema declares
(status code, content type, body shape).

Bounded for CI: VIGILO_FUZZ_EXAMPLES examples per operation and mode (default 20), derandomized (the
same cases on every run), no example database. The app runs in-process through Schemathesis' ASGI
transport; nothing leaves the machine.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import OnCallSlot
from app.domain.roles import Role
from app.main import create_app
from app.services.tokens import issue_token
from tests.factories import make_paging_schedule, make_team

MAX_EXAMPLES = int(os.environ.get("VIGILO_FUZZ_EXAMPLES", "20"))
ROLES = {"owner": Role.OWNER, "ann": Role.MEMBER, "ben": Role.MEMBER, "vic": Role.VIEWER}
# What the issue asks of every response: no 5xx, and only documented statuses, content types and bodies.
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


@dataclass(frozen=True)
class Arranged:
    token: str
    schedule_id: str
    slot_id: str
    emails: list[str]


@pytest.fixture
async def arranged(db: AsyncSession) -> Arranged:
    """A workspace with an owner's token, a live schedule (ann on call, ben the backup) and its next slot."""
    team = await make_team(db, roles=ROLES)
    schedule = await make_paging_schedule(db, team, 15)
    now = datetime.datetime.now(datetime.UTC)
    slot = await db.scalar(
        select(OnCallSlot)
        .where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.start_time > now)
        .order_by(OnCallSlot.start_time)
        .limit(1)
    )
    assert slot is not None
    token = await issue_token(db, team.workspace.id, team["owner"].id, "fuzz")
    return Arranged(token, str(schedule.id), str(slot.id), [u.email for u in team.people.values()])


def fuzz_config(arranged: Arranged, incident_id: str) -> SchemathesisConfig:
    """Half the time a real id, email, zone or instant, so generated requests also get past the 404s
    and 422s to the code behind them."""
    now = datetime.datetime.now(datetime.UTC)
    instants = [(now + datetime.timedelta(hours=h)).isoformat() for h in (-2, 0, 3, 30)]
    known = {
        "schedule_ids": [arranged.schedule_id],
        "slot_ids": [arranged.slot_id],
        "incident_ids": [incident_id],
        "emails": arranged.emails,
        "zones": ["UTC", "Europe/Berlin", "America/New_York"],
        "times": ["00:00", "09:00", "23:30"],
        "instants": instants,
        "severities": ["SEV1", "SEV2", "SEV3", "SEV4"],
        "weekdays": [0, 3, 6],
        "shift_hours": [8, 12],
        "shift_days": [1, 7],
        "delays": [1, 15, 1440],
    }
    bindings = {
        "path.schedule_id": "schedule_ids",
        "path.slot_id": "slot_ids",
        "path.incident_id": "incident_ids",
        "body.schedule_id": "schedule_ids",
        "body.members[*]": "emails",
        "body.escalation_to": "emails",
        "body.to": "emails",
        "body.user": "emails",
        "body.timezone": "zones",
        "body.handoff_time": "times",
        "body.severity": "severities",
        "body.handoff_weekday": "weekdays",
        "body.shift_hours": "shift_hours",
        "body.shift_days": "shift_days",
        "body.escalation_delay_minutes": "delays",
        "body.starts_at": "instants",
        "body.at": "instants",
        "body.start": "instants",
        "body.end": "instants",
        "body.from": "instants",
        "query.at": "instants",
        "query.start": "instants",
        "query.end": "instants",
    }
    return SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Bearer {arranged.token}"},
            "dictionaries": {name: {"values": values} for name, values in known.items()},
            "parameters": {key: {"dictionary": name, "probability": 0.5} for key, name in bindings.items()},
        }
    )


@pytest.fixture
def api_schema(settings: Settings, arranged: Arranged) -> Iterator[Any]:
    """The app's OpenAPI, loaded from the app itself, with an incident declared through the API."""
    app = create_app(settings)
    try:
        with asgi.get_client(app) as client:
            declared = client.post(
                "/api/v1/ws/acme/incidents",
                json={"title": "Fuzzing", "severity": "SEV3", "schedule_id": arranged.schedule_id},
                headers={"Authorization": f"Bearer {arranged.token}"},
            )
            assert declared.status_code == 201, declared.text
        config = fuzz_config(arranged, declared.json()["id"])
        yield schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=config)
    finally:
        # Schemathesis keeps an app's lifespan (our embedded worker and engine) running until told.
        asgi.shutdown_lifespans()


def api_operations(schema: Any) -> list[Any]:
    """The JSON API's operations (the pages sit behind a session and CSRF). Slot edits go first, while
    the arranged slot still exists (schedule edits and regeneration replace slots), deletions last."""
    operations = [op for result in schema.get_all_operations() if (op := result.ok()).path.startswith("/api/v1/")]
    return sorted(operations, key=lambda op: (op.method.upper() == "DELETE", "/slots/" not in op.path))


@pytest.mark.slow
def test_api_answers_only_what_its_schema_declares(api_schema: Any, subtests: pytest.Subtests) -> None:
    checks = [CHECKS.get_one(name) for name in CHECK_NAMES]
    operations = api_operations(api_schema)
    assert len(operations) >= 17, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            with subtests.test(msg=f"{operation.label} ({mode.value})"):
                strategy = operation.as_strategy(generation_mode=mode, path_parameters={"slug": "acme"})

                @hypothesis.given(case=strategy)
                @hypothesis.settings(
                    max_examples=MAX_EXAMPLES,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(hypothesis.HealthCheck),
                )
                def call(case: Any) -> None:
                    case.call_and_validate(checks=checks)

                try:
                    call()
                except hypothesis.errors.Unsatisfiable:
                    # Nothing of this operation can be made invalid (its only parameter is the fixed slug).
                    assert mode is GenerationMode.NEGATIVE
