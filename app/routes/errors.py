"""One place that turns exceptions into responses: problem details for /api, pages for people."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

from app.routes.access import LoginRequired
from app.secret_paths import redact
from app.services.errors import Conflict, FieldError, Forbidden, NotFound

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
_MISSING_FIELD = re.compile(r"(?:missing required field|contains unknown field) `([^`]+)`")

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Invalid fields",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class FieldProblem(msgspec.Struct):
    """One invalid field: its name as the request spelled it, and what is wrong with it."""

    field: str
    message: str


class Problem(msgspec.Struct):
    """The body of every API error (RFC 9457); the OpenAPI documents error responses with this type."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem]


def is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


def problem(
    status: int,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    """An RFC 9457 problem detail with our `errors: [{field, message}]` extension."""
    body = Problem(
        type="about:blank",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=[FieldProblem(e["field"], e["message"]) for e in errors or []],
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            message = str(item.get("message", "invalid"))
            # Litestar names the whole body ("data") when a field is missing; the message names the field.
            missing = _MISSING_FIELD.search(message)
            field = missing.group(1) if missing else str(item.get("key") or "body")
            errors.append({"field": field, "message": message})
    return errors or [{"field": "body", "message": exc.detail}]


def _page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    # An htmx request (a dialog, an inline button) gets the message alone, swapped where it aimed;
    # base.html's htmx-config swaps 4xx answers so the person sees why.
    fragment = request.headers.get("hx-request") == "true"
    context = {
        "status": status,
        "title": _TITLES.get(status, "Error"),
        "message": message,
        "fragment": fragment,
        "as_dialog": request.headers.get("hx-target") == "dialog",  # aimed at the dialog container
    }
    return Template(template_name="error.html", context=context, status_code=status)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if is_api(request):
        if isinstance(exc, ValidationException):
            return problem(HTTP_422_UNPROCESSABLE_ENTITY, "Some fields are invalid.", _validation_errors(exc))
        # The exception's own headers matter (Allow on a 405).
        headers = dict(exc.headers or {})
        if exc.status_code == HTTP_401_UNAUTHORIZED:
            headers["WWW-Authenticate"] = "Bearer"
        # A 400 that is not a field's validation is a body that could not be read at all (malformed JSON).
        errors = [{"field": "body", "message": exc.detail}] if exc.status_code == HTTP_400_BAD_REQUEST else None
        return problem(exc.status_code, exc.detail, errors, headers=headers or None)
    return _page(request, exc.status_code, exc.detail)


def handle_login_required(request: Request[Any, Any, Any], _exc: LoginRequired) -> Response[Any]:
    if is_api(request):
        return problem(HTTP_401_UNAUTHORIZED, "Send an API token.", headers={"WWW-Authenticate": "Bearer"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        return Response(None, status_code=204, headers={"HX-Redirect": f"/login?next={quote(target)}"})
    return Redirect(f"/login?next={quote(target)}", status_code=303)


def handle_service_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Service errors not caught by a form handler: the same statuses on pages and in the API."""
    if isinstance(exc, FieldError):
        status, detail = 422, "Some fields are invalid."
        errors = [{"field": k, "message": v} for k, v in exc.errors.items()]
    elif isinstance(exc, NotFound):
        status, detail, errors = 404, str(exc) or "Not found.", []
    elif isinstance(exc, Forbidden):
        status, detail = 403, str(exc)
        errors = [{"field": exc.field, "message": str(exc)}] if exc.field else []
    elif isinstance(exc, Conflict):
        status, detail, errors = 409, str(exc), []
    else:
        raise exc
    if is_api(request):
        return problem(status, detail, errors)
    message = detail if not errors else "; ".join(e["message"] for e in errors)
    return _page(request, status, message)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s %s", request.method, redact(request.url.path), exc_info=exc)
    if is_api(request):
        return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Something went wrong on our side; it has been logged.")
    return Response(
        "Something went wrong on our side; it has been logged.",
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.TEXT,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: handle_http_exception,
    LoginRequired: handle_login_required,
    FieldError: handle_service_error,
    NotFound: handle_service_error,
    Forbidden: handle_service_error,
    Conflict: handle_service_error,
    HTTP_500_INTERNAL_SERVER_ERROR: handle_unexpected,
}
