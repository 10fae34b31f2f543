"""PagerDuty connections: add (keys sealed, the inbound URL's token hashed and shown once), enter the
keys again, delete (not while a policy pages through it), list with what can be said about each, and
the test event."""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    EscalationPolicy,
    EscalationStep,
    EscalationTarget,
    PagerDutyService,
    Workspace,
)
from app.db.transactions import lock_row, retrying, writing
from app.domain.delivery_states import DeliveryState, delivery_state
from app.services import jobs
from app.services.errors import Conflict, FieldError, NotFound, parse_id
from app.services.pagerduty_events import last_test, queue_test
from app.services.sealed import hint, seal, unseal

WEBHOOK_PATH = "/integrations/pagerduty/"  # + the connection's token
MAX_LABEL = 120
# PagerDuty's keys are letters and digits (an integration key is 32); a little room either way.
_KEY = re.compile(r"^[A-Za-z0-9_+/=-]{16,128}$")
CANNOT_DECRYPT = "cannot decrypt — enter the keys again"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def webhook_url(public_url: str, token: str) -> str:
    return f"{public_url}{WEBHOOK_PATH}{token}"


@dataclass(frozen=True)
class Keys:
    routing_key: str
    signing_secret: str
    api_key: str | None


def parse_keys(raw: Mapping[str, Any]) -> Keys:
    errors: dict[str, str] = {}
    field = "signing_secret"
    routing_key = str(raw.get("routing_key") or "").strip()
    secret = str(raw.get("signing_secret") or "").strip()
    api_key = str(raw.get("api_key") or "").strip() or None
    if not routing_key:
        errors["routing_key"] = "Paste the service's Events API v2 integration key (its routing key)."
    elif not _KEY.match(routing_key):
        errors["routing_key"] = "A routing key is 16 to 128 letters and digits, like the 32 PagerDuty shows."
    if not secret:
        errors[field] = "Paste the signing secret PagerDuty showed for the webhook subscription."
    elif len(secret) > 256 or any(ch.isspace() for ch in secret):
        errors[field] = "A signing secret is up to 256 characters without spaces."
    if api_key is not None and not _KEY.match(api_key):
        errors["api_key"] = "A REST API key is 16 to 128 letters and digits; leave it blank to go without."
    if errors:
        raise FieldError(errors)
    return Keys(routing_key, secret, api_key)


def _label(raw: Mapping[str, Any]) -> str:
    label = " ".join(str(raw.get("label") or "").split())
    if not label:
        raise FieldError.one("label", "Name the service as your team knows it, e.g. Payments (PagerDuty).")
    if len(label) > MAX_LABEL:
        raise FieldError.one("label", f"Keep the label under {MAX_LABEL} characters.")
    return label


def _seal_keys(service: PagerDutyService, keys: Keys, secret_key: str) -> None:
    service.routing_key_sealed = seal(secret_key, keys.routing_key)
    service.routing_key_hint = hint(keys.routing_key)
    service.signing_secret_sealed = seal(secret_key, keys.signing_secret)
    service.api_key_sealed = seal(secret_key, keys.api_key) if keys.api_key else None


async def create_service(
    db: AsyncSession, workspace_id: uuid.UUID, secret_key: str, raw: Mapping[str, Any]
) -> tuple[PagerDutyService, str]:
    """Add a connection; returns it and its inbound URL's token (shown once: only its hash is kept)."""
    errors: dict[str, str] = {}
    label = ""
    try:
        label = _label(raw)
    except FieldError as exc:
        errors.update(exc.errors)
    try:
        keys = parse_keys(raw)
    except FieldError as exc:
        errors.update(exc.errors)
    if errors:
        raise FieldError(errors)
    token = secrets.token_urlsafe(24)
    try:
        async with writing(db):
            taken = await db.scalar(
                select(PagerDutyService.id).where(
                    PagerDutyService.workspace_id == workspace_id, PagerDutyService.label == label
                )
            )
            if taken is not None:
                raise FieldError.one("label", f"There is already a PagerDuty service called {label}.")
            service = PagerDutyService(id=uuid.uuid4(), workspace_id=workspace_id, label=label)
            service.webhook_token_hash = token_digest(token)
            _seal_keys(service, keys, secret_key)
            db.add(service)
            await db.flush()
    except IntegrityError:  # the same label added at the same moment
        raise FieldError.one("label", f"There is already a PagerDuty service called {label}.") from None
    return service, token


async def get_service(db: AsyncSession, workspace_id: uuid.UUID, service_id: uuid.UUID | str) -> PagerDutyService:
    service = await db.get(PagerDutyService, parse_id(service_id, "PagerDuty service"))
    if service is None or service.workspace_id != workspace_id:
        raise NotFound("No such PagerDuty service.")
    return service


async def replace_keys(
    db: AsyncSession, workspace_id: uuid.UUID, service_id: uuid.UUID | str, secret_key: str, raw: Mapping[str, Any]
) -> PagerDutyService:
    """Enter the keys again (after a change of secret key, or a rotation on PagerDuty's side)."""
    keys = parse_keys(raw)
    async with writing(db):
        service = await get_service(db, workspace_id, service_id)
        await lock_row(db, PagerDutyService, service.id)
        _seal_keys(service, keys, secret_key)
    return service


async def policies_using(db: AsyncSession, service_id: uuid.UUID) -> list[str]:
    return list(
        await db.scalars(
            select(EscalationPolicy.name)
            .join(EscalationStep, EscalationStep.policy_id == EscalationPolicy.id)
            .join(EscalationTarget, EscalationTarget.step_id == EscalationStep.id)
            .where(EscalationTarget.pagerduty_service_id == service_id)
            .distinct()
            .order_by(EscalationPolicy.name)
        )
    )


async def delete_service(db: AsyncSession, workspace_id: uuid.UUID, service_id: uuid.UUID | str) -> None:
    """Delete a connection no policy pages through (running incidents fall back to Vigilo's paging)."""
    try:
        await retrying(lambda: _delete_service(db, workspace_id, service_id))
    except IntegrityError:  # a policy step was pointed at it between the check and the delete
        raise Conflict(
            "The service came into use by a policy while it was being deleted; nothing was deleted."
        ) from None


async def _delete_service(db: AsyncSession, workspace_id: uuid.UUID, service_id: uuid.UUID | str) -> None:
    async with writing(db):
        service = await get_service(db, workspace_id, service_id)
        await lock_row(db, PagerDutyService, service.id)
        used = await policies_using(db, service.id)
        if used:
            names = ", ".join(used)
            raise Conflict(
                f"{service.label} is paged by the polic{'ies' if len(used) > 1 else 'y'} {names}; "
                "change or delete them first."
            )
        await db.delete(service)
        await db.flush()


@dataclass(frozen=True)
class ServiceView:
    service: PagerDutyService
    readable: bool  # its keys open under the current secret key
    api_key_set: bool
    used_by: tuple[str, ...]
    last_test: tuple[tuple[str, DeliveryState], ...]  # ("trigger", state), ("resolve", state)

    @property
    def status(self) -> str:
        return "ready" if self.readable else CANNOT_DECRYPT


async def describe_service(db: AsyncSession, service: PagerDutyService, secret_key: str) -> ServiceView:
    readable = all(
        unseal(secret_key, sealed) is not None
        for sealed in (service.routing_key_sealed, service.signing_secret_sealed, service.api_key_sealed)
        if sealed is not None
    )
    tests = await last_test(db, service.id)
    states = tuple(
        (
            (row.external_id or "").rsplit(":", 1)[-1],
            delivery_state(row.channel, row.status, row.provider_status, row.error),
        )
        for row in tests
    )
    return ServiceView(
        service, readable, service.api_key_sealed is not None, tuple(await policies_using(db, service.id)), states
    )


async def connected_services(db: AsyncSession, workspace_id: uuid.UUID) -> list[PagerDutyService]:
    """The workspace's connections by label (for the choices of the policy and schedule forms)."""
    rows = list(
        await db.scalars(
            select(PagerDutyService)
            .where(PagerDutyService.workspace_id == workspace_id)
            .order_by(PagerDutyService.label)
        )
    )
    await db.commit()
    return rows


async def list_services(db: AsyncSession, workspace_id: uuid.UUID, secret_key: str) -> list[ServiceView]:
    rows = list(
        await db.scalars(
            select(PagerDutyService)
            .where(PagerDutyService.workspace_id == workspace_id)
            .order_by(PagerDutyService.label)
        )
    )
    views = [await describe_service(db, service, secret_key) for service in rows]
    await db.commit()
    return views


async def send_test_event(
    db: AsyncSession, workspace_id: uuid.UUID, service_id: uuid.UUID | str, secret_key: str, now: datetime.datetime
) -> None:
    """Queue "Send test event": a trigger, then (once PagerDuty accepts it) the resolve that closes it."""
    async with writing(db):
        service = await get_service(db, workspace_id, service_id)
        if unseal(secret_key, service.routing_key_sealed) is None:
            raise FieldError.one("test", f"{service.label}: {CANNOT_DECRYPT}.")
        workspace = await db.get_one(Workspace, workspace_id)
        row_id = queue_test(db, service, workspace.slug, now)
    await jobs.deliver([row_id])


async def service_by_token(db: AsyncSession, token: str) -> PagerDutyService | None:
    if not token or len(token) > 128:
        return None
    service = await db.scalar(
        select(PagerDutyService).where(PagerDutyService.webhook_token_hash == token_digest(token))
    )
    await db.commit()
    return service


async def sealed_routing_key(db: AsyncSession, service_id: uuid.UUID) -> tuple[str | None, str]:
    """(sealed routing key, label) of a connection for the sender; (None, why) when it is gone."""
    service = await db.get(PagerDutyService, service_id)
    await db.commit()
    if service is None:
        return None, "the PagerDuty connection was deleted"
    return service.routing_key_sealed, service.label
