"""People → On-call: the schedules, each schedule's calendar, and the admin forms."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, MediaType, Response, get, post
from litestar.di import Provide
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OnCallSchedule, OnCallSlot, UserProfile
from app.domain.contact import zone_choices
from app.domain.roles import Role
from app.routes.access import provide_access
from app.routes.events import ONCALL_CHANGED
from app.routes.formatting import relative_until
from app.routes.forms import MultiForm, field, when_field
from app.routes.notices import back_to
from app.routes.schedule_form import WEEKDAYS, ScheduleForm
from app.services.board import KEEP, load_board
from app.services.board_cache import ProcessCache
from app.services.errors import FieldError
from app.services.identity import WorkspaceAccess
from app.services.memberships import slot_holders
from app.services.overrides import holds_time, swap_choices, swaps_for
from app.services.pagerduty import connected_services
from app.services.policies import list_policies
from app.services.schedules import (
    create_schedule,
    current_slot_start,
    definition_fields,
    delete_schedule,
    describe,
    extend_schedule,
    get_schedule,
    regenerate_schedule,
    set_active,
    slots_between,
    update_schedule,
)
from app.services.shifts import build_timeline, clamp_weeks, schedule_shifts, timeline_window

VIEWER = {"role": Role.VIEWER}
ADMIN = {"role": Role.ADMIN}
MAX_WEEKS = 8
HANDOFF_PAGE = 50
ROWS_PAGE = 50  # schedules listed at first: the page costs what it shows, not what is stored
# One URL for the page; an HTMX request for one of its live parts gets just that partial.
LIVE_PARTS = frozenset({"board"})  # the on-call page's live parts
BOARD_FRAGMENTS = {
    "oncall-highlight": "oncall/_highlight.html",
    "oncall-rows": "oncall/_rows.html",
    "oncall-handoffs": "oncall/_handoffs.html",
    "oncall-swaps": "oncall/_swaps.html",
}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class CalendarRow:
    slot: OnCallSlot
    user: UserProfile
    start: datetime.datetime
    end: datetime.datetime
    is_now: bool
    is_past: bool


@dataclass(frozen=True)
class CalendarWeek:
    start: datetime.date
    rows: list[CalendarRow]


def _viewer_zone(access: WorkspaceAccess) -> ZoneInfo:
    return ZoneInfo(access.user.time_zone)


def _week_start(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def _local_midnight(day: datetime.date, zone: ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(0), tzinfo=zone).astimezone(datetime.UTC)


# "Currently on call" as HTML (what `HX-Target: oncall-highlight` asks for), per (workspace, viewer,
# zone) and board version. An entry lasts until the board changes by itself or an "(in 3 h)" on it
# would read differently; any write moves the version.
_HIGHLIGHTS: ProcessCache[str] = ProcessCache(1024)


async def _highlight(
    request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, now: datetime.datetime
) -> Response[str]:
    zone = _viewer_zone(access)
    key, version = (access.workspace.id, access.user.id, zone.key), access.workspace.board_version
    html = _HIGHLIGHTS.get(key, version, now)
    if html is None:
        page = await load_board(db_session, access.workspace, access.user.id, now)
        board = page.board
        engine = request.app.template_engine
        assert engine is not None, "the app has a template engine"
        template = engine.get_template(BOARD_FRAGMENTS["oncall-highlight"])
        html = template.render(board=board, people=page.people, zone=zone, now=now)
        ends = [relative_until(s.current.end, now) for s in board.highlight if s.current is not None]
        _HIGHLIGHTS.put(key, version, html, min([now + KEEP, *([board.changes_at] if board.changes_at else []), *ends]))
    return Response(html, media_type=MediaType.HTML)


class OnCallPages(Controller):
    path = "/ws/{slug:str}/oncall"
    dependencies = {"access": Provide(provide_access)}

    # ------------------------------------------------------------ overview

    @get("/", name="oncall", opt=VIEWER)
    async def overview(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        handoffs: int = HANDOFF_PAGE,
        rows: int = ROWS_PAGE,
        live: str | None = None,
        handoff_schedule: str = "",
        mine: str = "",
        offer: str = "",
    ) -> Template | Response[str]:
        now = _now()
        fragment = BOARD_FRAGMENTS.get(request.htmx.target or "") if request.htmx else None
        if request.htmx and live in LIVE_PARTS:
            fragment = "oncall/_board_live.html"  # every live part at once, from one board
        if fragment == BOARD_FRAGMENTS["oncall-highlight"]:
            return await _highlight(request, db_session, access, now)
        page = await load_board(db_session, access.workspace, access.user.id, now)
        wants_swaps = fragment in {None, BOARD_FRAGMENTS["oncall-swaps"], "oncall/_board_live.html"}
        my_slots, swap_people = (
            await swap_choices(db_session, access, now) if wants_swaps and access.allows(Role.MEMBER) else ([], [])
        )
        context = {
            "access": access,
            "nav": "oncall",
            "board": page.board,
            "people": page.people,
            "zone": _viewer_zone(access),
            "now": now,
            "is_admin": access.allows(Role.ADMIN),
            "handoff_limit": min(max(handoffs, HANDOFF_PAGE), 1000),
            "handoff_page": HANDOFF_PAGE,
            "rows_limit": min(max(rows, ROWS_PAGE), 5000),
            "rows_page": ROWS_PAGE,
            "refresh_seconds": max(1, math.ceil(page.board.refresh_in.total_seconds())),
            "swaps": await swaps_for(db_session, access, now) if wants_swaps else [],
            "my_slots": my_slots,
            "swap_people": swap_people,
            "can_swap": access.allows(Role.MEMBER),
            "live_parts": live if live in LIVE_PARTS else "board",
            "handoff_schedule": handoff_schedule[:40],
            "only_mine": mine == "1",
            "offer": offer[:40],  # My shifts' "Offer swap": that slot comes chosen in the swap form
            "handoffs_shown": [
                h
                for h in page.board.handoffs
                if (not handoff_schedule or str(h.schedule_id) == handoff_schedule)
                and (mine != "1" or access.user.id in {h.to_user, h.from_user})
            ],
        }
        return Template(fragment or "oncall/index.html", context=context)

    # ------------------------------------------------------------ create and edit

    async def _form_page(
        self,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        form: ScheduleForm,
        errors: dict[str, str] | None = None,
        schedule: OnCallSchedule | None = None,
        status_code: int = 200,
    ) -> Template:
        if errors and schedule is not None:
            await db_session.refresh(schedule)  # the failed unit of work rolled back, expiring what it had loaded
        people = await slot_holders(db_session, access.workspace.id)
        return Template(
            "oncall/form.html",
            context={
                "access": access,
                "nav": "oncall",
                "form": form,
                "errors": errors or {},
                "schedule": schedule,
                "people": people,
                "policies": await list_policies(db_session, access.workspace.id),
                "services": await connected_services(db_session, access.workspace.id),
                "zones": zone_choices(),
                "weekdays": WEEKDAYS,
            },
            status_code=status_code,
        )

    @get("/schedules/new", name="schedule_new", opt=ADMIN)
    async def new(self, db_session: AsyncSession, access: WorkspaceAccess) -> Template:
        return await self._form_page(db_session, access, ScheduleForm(timezone=access.user.time_zone))

    @post("/schedules/new", name="schedule_create", opt=ADMIN, status_code=303)
    async def create(self, db_session: AsyncSession, access: WorkspaceAccess, data: MultiForm) -> Template | Redirect:
        form, action = ScheduleForm.from_data(data)
        if form.apply_row_action(action):
            return await self._form_page(db_session, access, form)
        try:
            schedule = await create_schedule(db_session, access.workspace.id, form.definition(), _now())
        except FieldError as exc:
            return await self._form_page(db_session, access, form, exc.errors, status_code=422)
        return Redirect(f"/ws/{access.workspace.slug}/oncall/schedules/{schedule.id}", status_code=303)

    @get("/schedules/{schedule_id:str}/edit", name="schedule_edit", opt=ADMIN)
    async def edit(self, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str) -> Template:
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        form = ScheduleForm.of_schedule(definition_fields(await describe(db_session, schedule)))
        return await self._form_page(db_session, access, form, schedule=schedule)

    @post("/schedules/{schedule_id:str}/edit", name="schedule_update", opt=ADMIN, status_code=303)
    async def update(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        schedule_id: str,
        data: MultiForm,
    ) -> Template | Redirect:
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        form, action = ScheduleForm.from_data(data)
        if form.apply_row_action(action):
            return await self._form_page(db_session, access, form, schedule=schedule)
        changes = form.definition()
        changes.pop("starts_at", None)  # the anchor never moves
        try:
            await update_schedule(db_session, access.workspace.id, schedule.id, changes, _now(), access.user.id)
        except FieldError as exc:
            return await self._form_page(db_session, access, form, exc.errors, schedule=schedule, status_code=422)
        return back_to(request, f"/ws/{access.workspace.slug}/oncall/schedules/{schedule.id}", notice="Saved")

    # ------------------------------------------------------------ calendar

    @get("/schedules/{schedule_id:str}", name="schedule_calendar", opt=VIEWER)
    async def calendar(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        access: WorkspaceAccess,
        schedule_id: str,
        week: str | None = None,
        weeks: int = 2,
        tz: str = "mine",
        span: int | None = None,
    ) -> Template:
        schedule = await get_schedule(db_session, access.workspace.id, schedule_id)
        now = _now()
        # The viewer's zone, or (tz=schedule) the schedule's own: the page switches between them.
        zone = ZoneInfo(schedule.time_zone) if tz == "schedule" else _viewer_zone(access)
        count = min(max(weeks, 1), MAX_WEEKS)
        try:
            first = _week_start(datetime.date.fromisoformat(week)) if week else _week_start(now.astimezone(zone).date())
            _local_midnight(first - datetime.timedelta(weeks=count), zone)  # the previous page must exist too
            _local_midnight(first + datetime.timedelta(weeks=2 * count), zone)  # and the next one
        except (ValueError, OverflowError):  # not a date, or one at the edge of the calendar
            first = _week_start(now.astimezone(zone).date())
        window_start = _local_midnight(first, zone)
        window_end = _local_midnight(first + datetime.timedelta(weeks=count), zone)
        slots = await slots_between(db_session, schedule.id, window_start, window_end)
        calendar = []
        for offset in range(count):
            day = first + datetime.timedelta(weeks=offset)
            lo, hi = _local_midnight(day, zone), _local_midnight(day + datetime.timedelta(weeks=1), zone)
            calendar.append(
                CalendarWeek(
                    day,
                    [
                        CalendarRow(
                            slot,
                            user,
                            slot.start_time.astimezone(zone),
                            slot.end_time.astimezone(zone),
                            slot.start_time <= now < slot.end_time,
                            slot.end_time <= now,
                        )
                        for slot, user in slots
                        # Each slot once: in the week it starts (the first week takes those already running).
                        if slot.start_time < hi and (slot.start_time >= lo or offset == 0)
                    ],
                )
            )
        view = await describe(db_session, schedule)
        tl_weeks = clamp_weeks(span)
        tl_start, tl_end = timeline_window(now, zone, tl_weeks)
        timeline = await build_timeline(
            db_session,
            [(schedule.name, await schedule_shifts(db_session, schedule.id, tl_start, tl_end))],
            tl_start,
            tl_end,
            now,
            zone,
            tl_weeks,
        )
        board = await load_board(db_session, access.workspace, access.user.id, now)
        context = {
            "board": board.board,
            "people": board.people,
            "refresh_seconds": max(1, math.ceil(board.board.refresh_in.total_seconds())),
            "access": access,
            "nav": "oncall",
            "view": view,
            "schedule": schedule,
            "calendar": calendar,
            "zone": zone,
            "tz": "schedule" if tz == "schedule" else "mine",
            "first": first,
            "weeks": count,
            "prev_week": (first - datetime.timedelta(weeks=count)).isoformat(),
            "next_week": (first + datetime.timedelta(weeks=count)).isoformat(),
            "this_week": _week_start(now.astimezone(zone).date()).isoformat(),
            "now": now,
            "is_admin": access.allows(Role.ADMIN),
            "can_edit": access.allows(Role.MEMBER),
            # Hand off only for those with time to give (admins: anyone's).
            "can_hand_off": access.allows(Role.ADMIN)
            or (access.allows(Role.MEMBER) and await holds_time(db_session, schedule.id, access.user.id, now)),
            "current_start": (await current_slot_start(db_session, schedule.id, now)).astimezone(zone),
            "weekdays": WEEKDAYS,
            "tl": timeline,
            "tl_url": f"/ws/{access.workspace.slug}/oncall/schedules/{schedule.id}",
            "tl_query": "&tz=schedule" if tz == "schedule" else "",
            "mine": access.user.id,
        }
        if request.htmx and request.htmx.target == "calendar":
            return Template("oncall/_calendar.html", context=context)
        if request.htmx and request.htmx.target == "schedule-status":
            return Template("oncall/_schedule_status.html", context=context)
        return Template("oncall/schedule.html", context=context)

    # ------------------------------------------------------------ admin actions

    def _back(
        self,
        request: HTMXRequest,
        access: WorkspaceAccess,
        schedule_id: object,
        message: str,
        error: bool = False,
    ) -> Response[Any]:
        if request.htmx and not error:
            # Stay on the page; the live parts listening for this event refresh themselves.
            return Response(None, status_code=204, headers={"HX-Trigger": ONCALL_CHANGED})
        back = f"/ws/{access.workspace.slug}/oncall/schedules/{schedule_id}"
        return back_to(request, back, error=message) if error else back_to(request, back, notice=message)

    @post("/schedules/{schedule_id:str}/extend", name="schedule_extend", opt=ADMIN, status_code=303)
    async def extend(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str
    ) -> Response[Any]:
        written = await extend_schedule(db_session, access.workspace.id, schedule_id, _now())
        return self._back(request, access, schedule_id, f"Extended: {written} slots written")

    @post("/schedules/{schedule_id:str}/regenerate", name="schedule_regenerate", opt=ADMIN, status_code=303)
    async def regenerate(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str, data: MultiForm
    ) -> Response[Any]:
        raw = when_field(data, "from")
        since: str | None = None
        if raw:
            try:
                since = datetime.datetime.fromisoformat(raw).replace(tzinfo=_viewer_zone(access)).isoformat()
            except ValueError:
                since = raw
        try:
            written = await regenerate_schedule(
                db_session, access.workspace.id, schedule_id, since, _now(), access.user.id
            )
        except FieldError as exc:
            return self._back(request, access, schedule_id, "; ".join(exc.errors.values()), error=True)
        return self._back(request, access, schedule_id, f"Regenerated: {written} slots written")

    @post("/schedules/{schedule_id:str}/active", name="schedule_active", opt=ADMIN, status_code=303)
    async def toggle_active(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str, data: MultiForm
    ) -> Response[Any]:
        active = field(data, "active") == "true"
        await set_active(db_session, access.workspace.id, schedule_id, active, _now())
        return self._back(request, access, schedule_id, "Activated" if active else "Deactivated")

    @post("/schedules/{schedule_id:str}/delete", name="schedule_delete", opt=ADMIN, status_code=303)
    async def remove(
        self, request: HTMXRequest, db_session: AsyncSession, access: WorkspaceAccess, schedule_id: str
    ) -> Redirect:
        await delete_schedule(db_session, access.workspace.id, schedule_id)
        return back_to(request, f"/ws/{access.workspace.slug}/oncall/", notice="Schedule deleted")
