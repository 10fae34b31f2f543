"""Driving the app like a browser does: CSRF token from the cookie, forms posted."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: AsyncTestClient[Any], path: str = "/login") -> str:
    page = await client.get(path)
    match = CSRF_INPUT.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


async def post_form(client: AsyncTestClient[Any], path: str, data: dict[str, str], from_page: str = "/login") -> Any:
    token = await csrf_token(client, from_page)
    return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)


async def login(client: AsyncTestClient[Any], email: str, password: str) -> Any:
    response = await post_form(client, "/login", {"email": email, "password": password})
    assert response.status_code == 303, response.text
    return response


def schedule_form(members: list[str], backup: str, /, **extra: str) -> dict[str, str]:
    """The schedule form as a browser posts it: a weekly Monday 09:00 Berlin rotation of `members`."""
    data = {
        "name": "Platform",
        "rotation": "weekly",
        "timezone": "Europe/Berlin",
        "handoff_time": "09:00",
        "handoff_weekday": "0",
        "shift_length": "",
        "shift_unit": "hours",
        "starts_at": "",
        "escalation_to": backup,
        "escalation_delay_minutes": "15",
        "action": "",
    }
    for index, email in enumerate(members):
        data[f"member_{index}"], data[f"order_{index}"] = email, str(index + 1)
    return {**data, **extra}
