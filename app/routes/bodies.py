"""Hostile request bodies: JSON nested deeper than anyone needs is refused before a parser recurses
into it (a 2 KB body of 1,000 brackets made the JSON decoders overflow their stacks)."""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 64
TOO_DEEP = f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels."
NOT_JSON = "The body is not JSON."


class BodyError(ValueError):
    """A body that cannot be read as JSON; the message says why (answered 400, field `body`)."""


def json_body(raw: bytes) -> Any:
    """The JSON a sender posted, its depth checked before the parser recurses into it."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BodyError(TOO_DEEP)
    try:
        return json.loads(raw)
    except ValueError:
        raise BodyError(NOT_JSON) from None


def json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count);
    stops counting once past `limit`. Linear in the body, no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest
