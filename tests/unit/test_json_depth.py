"""json_depth counts how deep arrays and objects nest, without recursing and without being fooled by
brackets inside strings."""

from __future__ import annotations

import json

import pytest

from app.routes.bodies import MAX_JSON_DEPTH, json_depth


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"", 0),
        (b"42", 0),
        (b'"text"', 0),
        (b"[]", 1),
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b"[[], [], []]", 2),
        (b'[{"x": 1}, {"y": [2]}]', 3),
    ],
)
def test_depth_of_plain_json(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b'"[[[[{{{{"', 0),
        (b'{"name": "[[[[[[", "other": "]]]]"}', 1),
        (b'["a \\" [[[ still a string"]', 1),  # an escaped quote does not end the string
        (b'["ends with a backslash \\\\", [[]]]', 3),  # an escaped backslash does not escape the quote
        (b'{"k\\"[": {"v": "}}}}"}}', 2),
    ],
)
def test_brackets_inside_strings_do_not_count(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


def test_depth_agrees_with_the_json_module() -> None:
    value: object = {"a": "[{", "b": ['\\"[', {"c": [[["]"]]]}]}
    raw = json.dumps(value).encode()
    assert json.loads(raw) == value
    assert json_depth(raw) == 6


def test_counting_stops_just_past_the_limit() -> None:
    assert json_depth(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) == MAX_JSON_DEPTH
    assert json_depth(b"[" * (MAX_JSON_DEPTH + 1)) == MAX_JSON_DEPTH + 1
    assert json_depth(b"[" * 100_000) == MAX_JSON_DEPTH + 1
    assert json_depth(b"[" * 10, limit=3) == 4


def test_malformed_text_is_measured_not_parsed() -> None:
    assert json_depth(b"{bad") == 1
    assert json_depth(b"]]]]") == 0
    assert json_depth(b'["unterminated [[[[') == 1
