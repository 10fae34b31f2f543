"""The error responses each API operation documents: all RFC 9457 problem details (app/routes/errors.py).

Litestar documents a 400 as plain JSON on its own; ours are application/problem+json, so every
status an operation can answer with is declared here, with the body the error handlers really send.
"""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

from app.routes.errors import PROBLEM_JSON, Problem

_WHEN = {
    400: "The body could not be read (malformed JSON); `errors` names `body`.",
    401: "No API token, or one that is unknown or revoked.",
    403: "The token's role is too low for this operation.",
    404: "No such object (a malformed id is an unknown one), or a workspace the token does not belong to.",
    409: "The change collides with the current state.",
    422: "Some fields are invalid; `errors` names each one.",
}
# Every operation reads a token, a workspace and (maybe) a body or query.
_ALWAYS = (400, 401, 404, 422)


def problems(*extra: int) -> dict[int, ResponseSpec]:
    """The problem responses of an operation: those every operation can give, plus `extra`."""
    return {
        status: ResponseSpec(
            data_container=Problem, description=_WHEN[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in sorted({*_ALWAYS, *extra})
    }


READ_PROBLEMS = problems()
WRITE_PROBLEMS = problems(403)
CONFLICT_PROBLEMS = problems(403, 409)
