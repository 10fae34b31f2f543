"""Log in and out."""

from __future__ import annotations

import datetime
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.routes.access import LoginRequired, log_in, session_user
from app.routes.forms import Form
from app.services.accounts import BadCredentials, LoginThrottled, authenticate
from app.services.memberships import workspaces_of
from app.services.onboarding import invitations_for, needs_setup


def _safe_next(raw: str | None) -> str:
    # Only same-site paths: "//evil.example" and "https://..." would send the user elsewhere.
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/"


@get("/", name="root")
async def root(request: Request[Any, Any, Any], db_session: AsyncSession) -> Redirect:
    if await needs_setup(db_session):
        return Redirect("/setup", status_code=303)  # the first run: nobody has an account yet
    try:
        user = await session_user(request, db_session)
    except LoginRequired:
        return Redirect("/login", status_code=303)
    if await invitations_for(db_session, user.email, datetime.datetime.now(datetime.UTC)):
        return Redirect("/invitations", status_code=303)
    workspaces = await workspaces_of(db_session, user.id)
    return Redirect(f"/ws/{workspaces[0].slug}/" if workspaces else "/login?error=no-workspace")


@get("/login", name="login")
async def login_form(next: str | None = None, error: str | None = None) -> Template:
    message = "Your account is not in any workspace yet; ask an admin to add you." if error == "no-workspace" else None
    return Template("auth/login.html", context={"next": _safe_next(next), "error": message, "email": ""})


@post("/login", name="login_submit", status_code=303)
async def login_submit(request: Request[Any, Any, Any], db_session: AsyncSession, data: Form) -> Template | Redirect:
    email = data.get("email", "")[:254]
    password = data.get("password", "")[:1024]
    target = _safe_next(data.get("next"))
    address = request.client.host if request.client else "unknown"
    now = datetime.datetime.now(datetime.UTC)
    context = {"next": target, "email": email}
    try:
        user = await authenticate(db_session, email, password, address, now)
    except LoginThrottled as exc:
        minutes = max(1, int(exc.retry_after.total_seconds() // 60) + 1)
        return Template(
            "auth/login.html",
            context={**context, "error": f"Too many failed attempts. Try again in {minutes} minutes."},
            status_code=429,
            headers={"Retry-After": str(int(exc.retry_after.total_seconds()) + 1)},
        )
    except BadCredentials:
        # authenticate() committed the failure row that throttles further attempts.
        request.clear_session()
        return Template(
            "auth/login.html",
            context={**context, "error": "That email and password do not match an account."},
            status_code=401,
        )
    log_in(request, user)
    return Redirect(target, status_code=303)


@post("/logout", name="logout", status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect("/login", status_code=303)
