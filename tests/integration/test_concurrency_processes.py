"""Fifty edits at once through two web processes, with two worker processes ticking the extender, on one
PostgreSQL database and one Redis: overrides, hand-offs, accepted swaps, regenerations and explicit
extensions of one schedule. Afterwards the invariant check finds nothing wrong and every edit the
server confirmed is still there."""

from __future__ import annotations

import asyncio
import datetime
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OnCallSlot
from app.domain.roles import Role
from app.services.identity import UserRef, WorkspaceAccess, WorkspaceRef
from app.services.overrides import propose_swap
from app.services.schedules import create_schedule, slots_between
from app.services.tokens import issue_token
from tests.factories import PASSWORD, fresh, make_team
from tests.invariants import schedule_problems
from tests.processes import Stack

pytestmark = pytest.mark.slow
PEOPLE = ("a", "b", "c", "d")
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def logged_in(base_url: str, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base_url, timeout=60)
    page = await client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match
    response = await client.post("/login", data={"email": email, "password": PASSWORD, "_csrf_token": match.group(1)})
    assert response.status_code == 303, response.text
    return client


async def csrf_of(client: httpx.AsyncClient) -> str:
    match = CSRF_INPUT.search((await client.get("/ws/acme/oncall/")).text)
    assert match
    return match.group(1)


async def test_fifty_parallel_edits_through_two_web_and_two_worker_processes(stack: Stack, db: AsyncSession) -> None:
    team = await make_team(db, roles={"owner": Role.OWNER, **dict.fromkeys(PEOPLE, Role.MEMBER)})
    now = datetime.datetime.now(datetime.UTC)
    schedule = await create_schedule(
        db,
        team.workspace.id,
        {
            "name": "Busy",
            "rotation": "daily",
            "timezone": "Europe/Berlin",
            "handoff_time": "08:00",
            "starts_at": (now - datetime.timedelta(days=1)).isoformat(),
            "members": [team[k].email for k in PEOPLE],
        },
        now,
    )
    rows = await slots_between(db, schedule.id, now + datetime.timedelta(days=1), now + datetime.timedelta(days=54))
    future = [slot for slot, _ in rows if slot.start_time > now + datetime.timedelta(days=1)]
    key_of = {team[k].id: k for k in PEOPLE}
    members = {k: WorkspaceAccess(WorkspaceRef.of(team.workspace), UserRef.of(team[k]), Role.MEMBER) for k in PEOPLE}

    def next_person(slot: OnCallSlot, step: int) -> str:
        return team[PEOPLE[(PEOPLE.index(key_of[slot.user_id]) + step) % len(PEOPLE)]].email

    # Six swaps proposed ahead (pairs of neighbouring days, so the two holders differ); accepted in the storm.
    swaps: list[tuple[str, str, OnCallSlot, OnCallSlot]] = []
    for first in range(36, 48, 2):
        mine, theirs = future[first], future[first + 1]
        swap = await propose_swap(db, members[key_of[mine.user_id]], str(mine.id), str(theirs.id), now)
        swaps.append((str(swap.id), key_of[theirs.user_id], mine, theirs))

    token = await issue_token(db, team.workspace.id, team["owner"].id)
    stack.start_worker()  # two workers, both ticking the extender
    webs = [stack.start_web(), stack.start_web()]
    apis = [httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) for url in webs]
    browsers = {k: await logged_in(webs[i % 2], team[k].email) for i, k in enumerate(PEOPLE)}
    tokens = {k: await csrf_of(client) for k, client in browsers.items()}
    confirmed: list[tuple[str, datetime.datetime, datetime.datetime]] = []
    base = "/api/v1/ws/acme"

    async def override(index: int) -> httpx.Response:
        slot = future[index]
        taker = next_person(slot, 1)
        response = await apis[index % 2].patch(f"{base}/slots/{slot.id}", json={"user": taker})
        if response.status_code == 200:
            confirmed.append((taker, slot.start_time, slot.end_time))
        return response

    async def handoff(index: int) -> httpx.Response:
        slot = future[index]
        at = slot.start_time + datetime.timedelta(hours=3)
        taker = next_person(slot, 2)
        response = await apis[index % 2].post(
            f"{base}/schedules/{schedule.id}/handoff", json={"to": taker, "at": at.isoformat()}
        )
        if response.status_code == 200:
            confirmed.append((taker, at, slot.end_time))
        return response

    async def accept(swap_id: str, target: str, mine: OnCallSlot, theirs: OnCallSlot) -> httpx.Response:
        response = await browsers[target].post(
            f"/ws/acme/oncall/swaps/{swap_id}/accept", data={"_csrf_token": tokens[target]}
        )
        if response.status_code == 303 and "error" not in response.headers["location"]:
            confirmed.append((team[target].email, mine.start_time, mine.end_time))
            confirmed.append((team[key_of[mine.user_id]].email, theirs.start_time, theirs.end_time))
        return response

    async def regenerate(index: int) -> httpx.Response:
        return await apis[index % 2].post(f"{base}/schedules/{schedule.id}/regenerate", json={})

    async def extend(index: int) -> httpx.Response:
        return await apis[index % 2].post(f"{base}/schedules/{schedule.id}/extend", json={})

    jobs = [override(i) for i in range(18)] + [handoff(i) for i in range(18, 36)]
    jobs += [accept(*swap) for swap in swaps]
    jobs += [regenerate(i) for i in range(4)] + [extend(i) for i in range(4)]
    assert len(jobs) == 50
    try:
        responses: list[Any] = await asyncio.gather(*jobs)
    finally:
        for client in [*apis, *browsers.values()]:
            await client.aclose()

    failures = [
        (r.request.method, str(r.request.url), r.status_code, r.text[:200])
        for r in responses
        if r.status_code >= 400 or "error=" in r.headers.get("location", "")
    ]
    assert failures == []
    assert len(confirmed) == 18 + 18 + 2 * len(swaps)

    session = await fresh(db)
    emails = {team[k].id: team[k].email for k in PEOPLE}
    overrides = {
        (emails[s.user_id], s.start_time, s.end_time)
        for s in await session.scalars(
            select(OnCallSlot).where(OnCallSlot.schedule_id == schedule.id, OnCallSlot.is_override)
        )
    }
    assert set(confirmed) <= overrides
    assert await schedule_problems(session, schedule.id, now, check_pattern_from=now) == []
