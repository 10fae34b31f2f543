"""The calendar's dialogs: edit a slot (override), remove an override, hand off, propose and answer swaps.

Each dialog is a small form. Opened with HTMX it is a fragment shown over the page, and a save
answers with the `oncall-changed` event so the calendar and the on-call board refresh in place;
without JavaScript the same URL is a page and a save redirects back to the calendar.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OnCallSchedule, OnCallSlot, UserProfile
from app.domain.roles import Role
from app.routes.access import provide_access
from app.routes.errors import handle_service_error
from app.routes.events import ONCALL_CHANGED
from app.routes.forms import field, when_field
from app.routes.notices import back_to
from app.services.errors import Conflict, FieldError, Forbidden
from app.services.identity import WorkspaceAccess
from app.services.memberships import slot_holders
from app.services.overrides import (
    decide_swap,
    edit_slot,
    hand_off,
    propose_swap,
    remove_override,
    require_own,
    slot_in_workspace,
    slot_of_on,
)
from app.services.schedules import get_schedule, slot_at

MEMBER = {"role": Role.MEMBER}
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _zone(access: WorkspaceAccess) -> ZoneInfo:
    return ZoneInfo(access.user.time_zone)


def _to_instant(raw: str, zone: ZoneInfo) -> str | None:
    """A datetime-local value read in the viewer's zone, as ISO with offset (bad input passes through)."""
    if not raw:
        return None
    try:
        local = datetime.datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return (local if local.tzinfo else local.replace(tzinfo=zone)).isoformat()


def _calendar_url(access: WorkspaceAccess, schedule_id: object) -> str:
    return f"/ws/{access.workspace.slug}/oncall/schedules/{schedule_id}"


def _saved(request: HTMXRequest, back: str, message: str) -> Response[Any]:
    if request.htmx:
        # An empty dialog container; the calendar and board refresh on the event.
        return Response("", status_code=200, headers={"HX-Trigger": ONCALL_CHANGED}, media_type="text/html")
    return back_to(request, back, notice=message)


class SlotDialogs(Controller):
    path = "/ws/{slug:str}/oncall"
    dependencies = {"access": Provide(provide_access)}

    async def _slot_dialog(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        slot: OnCallSlot,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        if errors:
            await db_session.refresh(slot)  # the failed unit of work rolled back, expiring what it had loaded
        zone = _zone(access)
        schedule = await db_session.get(OnCallSchedule, slot.schedule_id)
        holder = await db_session.get(UserProfile, slot.user_id)
        form = form or {
            "user": holder.email if holder else "",
            "start": slot.start_time.astimezone(zone).strftime(LOCAL_INPUT),
            "end": slot.end_time.astimezone(zone).strftime(LOCAL_INPUT),
        }
        return Template(
            "oncall/slot_dialog.html" if request.htmx else "oncall/slot_page.html",
            context={
                "access": access,
                "nav": "oncall",
                "slot": slot,
                "schedule": schedule,
                "holder": holder,
                "people": await slot_holders(db_session, access.workspace.id),
                "form": form,
                "errors": errors or {},
                "zone": zone,
                "can_remove": slot.is_override,
            },
            status_code=status_code,
        )

    async def _slot(self, db_session: AsyncSession, access: WorkspaceAccess, slot_id: str) -> OnCallSlot:
        return await slot_in_workspace(db_session, access.workspace.id, slot_id)

    @get("/slots/{slot_id:str}/edit", name="slot_edit", opt=MEMBER)
    async def edit_form(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, slot_id: str
    ) -> Template:
        slot = await self._slot(db_session, access, slot_id)
        require_own(access, slot)
        return await self._slot_dialog(request, db_session, access, slot)

    @post("/slots/{slot_id:str}", name="slot_save", opt=MEMBER, status_code=200)
    async def save(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, slot_id: str, data: FormData
    ) -> Response[Any]:
        slot = await self._slot(db_session, access, slot_id)
        zone = _zone(access)
        form = {"user": field(data, "user"), "start": when_field(data, "start"), "end": when_field(data, "end")}
        # A bound left as shown (to the minute) means "unchanged", not "at that exact minute".
        shown = {
            "start": slot.start_time.astimezone(zone).strftime(LOCAL_INPUT),
            "end": slot.end_time.astimezone(zone).strftime(LOCAL_INPUT),
        }
        changes: dict[str, Any] = {"user": form["user"]}
        for bound in ("start", "end"):
            if form[bound] != shown[bound]:
                changes[bound] = _to_instant(form[bound], zone)
        back = _calendar_url(access, slot.schedule_id)
        try:
            await edit_slot(db_session, access, slot.id, changes, _now())
        except FieldError as exc:
            return await self._slot_dialog(request, db_session, access, slot, form, exc.errors, status_code=422)
        except Conflict as exc:
            return await self._slot_dialog(request, db_session, access, slot, form, {"start": str(exc)}, 409)
        except Forbidden as exc:
            errors = {exc.field if exc.field in {"start", "end", "user"} else "start": str(exc)}
            return await self._slot_dialog(request, db_session, access, slot, form, errors, 403)
        return _saved(request, back, "Saved")

    @post("/slots/{slot_id:str}/remove", name="slot_remove", opt=MEMBER, status_code=200)
    async def remove(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, slot_id: str
    ) -> Response[Any]:
        slot = await self._slot(db_session, access, slot_id)
        back = _calendar_url(access, slot.schedule_id)
        try:
            await remove_override(db_session, access, slot.id, _now())
        except FieldError as exc:
            return await self._slot_dialog(request, db_session, access, slot, None, exc.errors, status_code=422)
        return _saved(request, back, "Override removed")

    # ------------------------------------------------------------ hand-off

    async def _handoff_dialog(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        schedule: OnCallSchedule,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        if errors:
            await db_session.refresh(schedule)  # the failed unit of work rolled back, expiring what it had loaded
        zone = _zone(access)
        now = _now()
        current = await slot_at(db_session, schedule.id, now)
        holder = await db_session.get(UserProfile, current.user_id) if current else None
        return Template(
            "oncall/handoff_dialog.html" if request.htmx else "oncall/handoff_page.html",
            context={
                "access": access,
                "nav": "oncall",
                "schedule": schedule,
                "current": current,
                "holder": holder,
                "people": await slot_holders(db_session, access.workspace.id),
                "form": form or {"to": "", "at": now.astimezone(zone).strftime(LOCAL_INPUT)},
                "errors": errors or {},
                "zone": zone,
            },
            status_code=status_code,
        )

    @get("/schedules/{schedule_id:str}/handoff", name="handoff_form", opt=MEMBER)
    async def handoff_form(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str
    ) -> Template:
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        return await self._handoff_dialog(request, db_session, access, schedule)

    @post("/schedules/{schedule_id:str}/handoff", name="handoff_save", opt=MEMBER, status_code=200)
    async def handoff(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str, data: FormData
    ) -> Response[Any]:
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        form = {"to": field(data, "to"), "at": when_field(data, "at")}
        at = _to_instant(form["at"], _zone(access))
        now = _now()
        if at is not None:
            try:
                # A time typed this very minute means "now", not "a few seconds ago".
                parsed = datetime.datetime.fromisoformat(at)
                if now - datetime.timedelta(minutes=1) < parsed <= now:
                    at = None
            except ValueError:
                pass
        try:
            await hand_off(db_session, access, schedule.id, form["to"], at, now)
        except FieldError as exc:
            return await self._handoff_dialog(request, db_session, access, schedule, form, exc.errors, 422)
        except Conflict as exc:
            return await self._handoff_dialog(request, db_session, access, schedule, form, {"at": str(exc)}, 409)
        return _saved(request, _calendar_url(access, schedule.id), "Handed off")

    # ------------------------------------------------------------ swaps

    @post("/swaps", name="swap_propose", opt=MEMBER, status_code=303)
    async def propose(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, data: FormData
    ) -> Redirect:
        back = f"/ws/{access.workspace.slug}/oncall/"
        try:
            theirs = field(data, "their_slot")
            if not theirs:  # the form names a person and a day, not one of hundreds of slots
                try:
                    day = datetime.date.fromisoformat(field(data, "their_date"))
                except ValueError:
                    raise FieldError.one("their_date", "Pick the day of their slot you would take.") from None
                mine = await slot_in_workspace(db_session, access.workspace.id, field(data, "slot"))
                slot_id = await slot_of_on(
                    db_session, access, field(data, "their_person"), day, _zone(access), _now(), mine.schedule_id
                )
                theirs = str(slot_id)
            await propose_swap(db_session, access, field(data, "slot"), theirs, _now())
        except FieldError as exc:
            return back_to(request, back, error="; ".join(exc.errors.values()))
        return back_to(request, back, notice="Swap proposed")

    @post("/swaps/{swap_id:str}/{decision:str}", name="swap_decide", opt=MEMBER, status_code=303)
    async def decide(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, swap_id: str, decision: str
    ) -> Response[Any]:
        back = f"/ws/{access.workspace.slug}/oncall/"
        if decision not in {"accept", "decline"}:
            return back_to(request, back, error="Unknown decision")
        try:
            await decide_swap(db_session, access, swap_id, decision == "accept", _now())
        except Conflict as exc:
            if request.htmx:
                # The dialog shows why; the swap list refreshes too, since the request is void now.
                answer = handle_service_error(request, exc)
                answer.headers["HX-Trigger"] = ONCALL_CHANGED
                return answer
            return back_to(request, back, error=str(exc))
        return _saved(request, back.rstrip("/"), "Swap accepted" if decision == "accept" else "Swap declined")
