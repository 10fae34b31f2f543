"""The first run, the Workspaces page, invitations and one-time password links (app/services/onboarding.py).

Pages outside any workspace: /setup (only while nobody has an account), /workspaces (installation
administrators), /invitations (the logged-in person's own), /invite/<token> and /password/<token>
(the one-time links; an unknown, used or expired one is 404)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.routes.access import LoginRequired, log_in, session_user, settings_of
from app.routes.forms import Form, field
from app.routes.notices import back_to
from app.services.errors import Conflict, FieldError, Forbidden, NotFound
from app.services.onboarding import (
    SetupClosed,
    SetupInput,
    accept_as_new,
    answer_invitation,
    create_workspace,
    invitation_by_token,
    invitations_for,
    list_workspaces,
    needs_setup,
    password_link_user,
    set_up,
    use_password_link,
)

PUBLIC = {"public": True}
SETUP_FIELDS = ("display_name", "email", "workspace_name", "slug", "code")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _gone(exc: Exception) -> Template:
    return Template("error.html", context={"status": 404, "title": "Not found", "message": str(exc)}, status_code=404)


# ---------------------------------------------------------------- first run


def _setup_page(request: Request[Any, Any, Any], form: dict[str, str], errors: dict[str, str], status: int) -> Template:
    needs_code = settings_of(request).is_production
    context = {"form": form, "errors": errors, "needs_code": needs_code}
    return Template("onboarding/setup.html", context=context, status_code=status)


@get("/setup", name="setup", opt=PUBLIC)
async def setup_form(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template:
    if not await needs_setup(db_session):
        raise NotFoundException("This installation is set up already.")
    return _setup_page(request, {}, {}, 200)


@post("/setup", name="setup_submit", opt=PUBLIC, status_code=303)
async def setup_submit(request: Request[Any, Any, Any], db_session: AsyncSession, data: Form) -> Template | Redirect:
    form = {name: field(data, name) for name in SETUP_FIELDS}
    data_in = SetupInput(
        display_name=form["display_name"],
        email=form["email"],
        password=data.get("password", "")[:1024],
        workspace_name=form["workspace_name"],
        slug=form["slug"],
        code=form["code"],
    )
    try:
        user = await set_up(db_session, data_in, settings_of(request).is_production, _now())
    except SetupClosed:
        raise NotFoundException("This installation is set up already.") from None
    except FieldError as exc:
        return _setup_page(request, form, exc.errors, 422)
    log_in(request, user)
    return back_to(request, f"/ws/{form['slug']}/", notice="Welcome! Invite your team from the People page.")


# ---------------------------------------------------------------- workspaces


async def _installation_admin(request: Request[Any, Any, Any], db_session: AsyncSession) -> Any:
    user = await session_user(request, db_session)
    if not user.is_installation_admin:
        raise PermissionDeniedException("Only the installation's administrators manage workspaces.")
    return user


async def _workspaces_page(
    db_session: AsyncSession, form: dict[str, str], errors: dict[str, str], status: int, link: str | None = None
) -> Template:
    context = {
        "workspaces": await list_workspaces(db_session),
        "form": form,
        "errors": errors,
        "password_link": link,
    }
    return Template("onboarding/workspaces.html", context=context, status_code=status)


@get("/workspaces", name="workspaces", opt=PUBLIC)
async def workspaces_page(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template:
    await _installation_admin(request, db_session)
    return await _workspaces_page(db_session, {}, {}, 200)


@post("/workspaces", name="workspace_create", opt=PUBLIC, status_code=200)
async def workspace_create(request: Request[Any, Any, Any], db_session: AsyncSession, data: Form) -> Template:
    admin = await _installation_admin(request, db_session)
    form = {name: field(data, name) for name in ("name", "slug", "owner")}
    try:
        made = await create_workspace(db_session, form["name"], form["slug"], form["owner"], _now(), admin.id)
    except FieldError as exc:
        return await _workspaces_page(db_session, form, exc.errors, 422)
    link = f"{settings_of(request).public_url}/password/{made.password_link}" if made.password_link else None
    return await _workspaces_page(db_session, {}, {}, 201, link)


# ---------------------------------------------------------------- invitations


@get("/invitations", name="invitations", opt=PUBLIC)
async def invitations_page(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template:
    user = await session_user(request, db_session)
    views = await invitations_for(db_session, user.email, _now())
    return Template("onboarding/invitations.html", context={"invitations": views, "user": user})


@post("/invitations/{invitation_id:uuid}/{answer:str}", name="invitation_answer", opt=PUBLIC, status_code=303)
async def invitation_answer(
    request: Request[Any, Any, Any], db_session: AsyncSession, invitation_id: uuid.UUID, answer: str
) -> Redirect:
    user = await session_user(request, db_session)
    if answer not in {"accept", "decline"}:
        raise NotFoundException("Accept or decline.")
    try:
        workspace = await answer_invitation(db_session, invitation_id, user.id, answer == "accept", _now())
    except NotFound as exc:
        return back_to(request, "/invitations", error=str(exc))
    except Forbidden as exc:
        raise PermissionDeniedException(str(exc)) from None
    if answer == "accept":
        return back_to(request, f"/ws/{workspace.slug}/", notice=f"Welcome to {workspace.name}.")
    return back_to(request, "/", notice=f"Declined the invitation to {workspace.name}.")


async def _invite_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    token: str,
    errors: dict[str, str],
    status: int,
    name: str = "",
) -> Template:
    view = await invitation_by_token(db_session, token, _now())
    try:
        user = await session_user(request, db_session)
    except LoginRequired:
        user = None
    context = {"view": view, "token": token, "user": user, "errors": errors, "name": name}
    return Template("onboarding/invite.html", context=context, status_code=status)


@get("/invite/{token:str}", name="invite", opt=PUBLIC)
async def invite_page(request: Request[Any, Any, Any], db_session: AsyncSession, token: str) -> Template:
    try:
        return await _invite_page(request, db_session, token, {}, 200)
    except NotFound as exc:
        return _gone(exc)


@post("/invite/{token:str}", name="invite_accept", opt=PUBLIC, status_code=303)
async def invite_accept(
    request: Request[Any, Any, Any], db_session: AsyncSession, token: str, data: Form
) -> Template | Redirect:
    """A person without an account sets their own name and password and joins."""
    try:
        user, workspace = await accept_as_new(
            db_session, token, field(data, "display_name"), data.get("password", "")[:1024], _now()
        )
    except NotFound as exc:
        return _gone(exc)
    except FieldError as exc:
        return await _invite_page(request, db_session, token, exc.errors, 422, field(data, "display_name"))
    except Conflict as exc:
        return back_to(request, f"/login?next=/invite/{token}", error=str(exc))
    log_in(request, user)
    return back_to(request, f"/ws/{workspace.slug}/", notice=f"Welcome to {workspace.name}, {user.display_name}.")


# ---------------------------------------------------------------- password links


@get("/password/{token:str}", name="password_link", opt=PUBLIC)
async def password_page(db_session: AsyncSession, token: str) -> Template:
    try:
        user = await password_link_user(db_session, token, _now())
    except NotFound as exc:
        return _gone(exc)
    return Template("onboarding/password.html", context={"person": user, "token": token, "errors": {}})


@post("/password/{token:str}", name="password_set", opt=PUBLIC, status_code=303)
async def password_set(
    request: Request[Any, Any, Any], db_session: AsyncSession, token: str, data: Form
) -> Template | Redirect:
    try:
        user = await use_password_link(db_session, token, data.get("password", "")[:1024], _now())
    except NotFound as exc:
        return _gone(exc)
    except FieldError as exc:
        person = await password_link_user(db_session, token, _now())
        context = {"person": person, "token": token, "errors": exc.errors}
        return Template("onboarding/password.html", context=context, status_code=422)
    log_in(request, user)
    return back_to(request, "/", notice="Your password is set; any other sessions of yours were logged out.")
