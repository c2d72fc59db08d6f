"""Strict JSON for input from outside (batch files, stored requests, step events).

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``1e400`` (→ ``inf``), builds strings with lone
UTF-16 surrogates from ``"\\ud800"`` escapes (which cannot be written back as UTF-8), and raises
``RecursionError`` or the int digit limit's ``ValueError`` on hostile input. :func:`loads_strict`
turns all of that into one :class:`JsonInputError` that names the JSON path and quotes at most a
short excerpt.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Iterable
from typing import Any

from ._text import printable

__all__ = ["MAX_DEPTH", "JsonInputError", "check_strict", "excerpt", "json_path", "loads_strict"]

MAX_DEPTH = 64  # nesting of arrays/objects; requests and events are a few levels deep
MAX_NUMBER_CHARS = 330  # longer number literals cannot be a finite double (1.8e308) anyway
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXCERPT = 40
_LONE_SURROGATE = "text holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)"


class JsonInputError(ValueError):
    """The text is not acceptable JSON; ``path`` says where (``(root)`` for the whole document)."""

    def __init__(self, reason: str, path: str = "(root)") -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason
        self.path = path


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxtuple = 2, 3, 3, 3
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = _EXCERPT


def excerpt(value: Any, limit: int = _EXCERPT) -> str:
    """``repr``-like text of ``value``, at most ``limit`` characters (``…`` marks a cut)."""
    text = _REPR.repr(value)  # repr escapes control characters and lone surrogates
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_path(parts: Iterable[str | int]) -> str:
    """``videos[3].performance.spend`` from path parts; ``(root)`` for none; long paths are cut."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{printable(part)}" if out else printable(part))
    return (out if len(out) <= 120 else out[:119] + "…") or "(root)"


class _Bad:
    """A value the parser met that strict JSON refuses; found (with its path) after parsing."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant(name: str) -> _Bad:
    return _Bad(f"{name} is not a JSON number")


def _cut(number: str) -> str:
    return number if len(number) <= 20 else number[:17] + "..."


def _float(text: str) -> float | _Bad:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    return value if math.isfinite(value) else _Bad(f"number {_cut(text)} is out of range")


def _int(text: str) -> int | _Bad:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_CHARS:  # also keeps Python's 4,300-digit limit from raising
        return _Bad(f"integer of {digits} digits is out of range")
    value = int(text)
    try:
        float(value)  # numbers are used as doubles: 10**400 would be out of range
    except OverflowError:
        return _Bad(f"integer of {digits} digits is out of range")
    return value


def _number_problem(item: Any) -> str | None:
    """Why a number built in Python (not parsed) is not strict JSON, or None."""
    if isinstance(item, float) and not math.isfinite(item):
        return "NaN is not a JSON number" if math.isnan(item) else f"number {item} is out of range"
    if isinstance(item, int) and not isinstance(item, bool):
        try:
            float(item)
        except OverflowError:
            return f"integer of {len(str(abs(item)))} digits is out of range"
    return None


def check_strict(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Check a value built in Python (a request a front door assembled) as :func:`loads_strict` would.

    Raises:
        JsonInputError: at the first NaN/Infinity or out-of-range number, lone surrogate or nesting
            deeper than ``max_depth``, with its JSON path.
    """
    _check(value, max_depth)


def _check(value: Any, max_depth: int) -> None:
    """Raise JsonInputError at the first refused value, lone surrogate or too-deep nesting."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, parts = stack.pop()
        if isinstance(item, _Bad):
            raise JsonInputError(item.reason, json_path(parts))
        if isinstance(item, (int, float)) and (problem := _number_problem(item)) is not None:
            raise JsonInputError(problem, json_path(parts))
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise JsonInputError(_LONE_SURROGATE, json_path(parts))
            continue
        if isinstance(item, dict):
            children: Iterable[tuple[str | int, Any]] = item.items()
        elif isinstance(item, (list, tuple)):
            children = enumerate(item)
        else:
            continue
        if len(parts) >= max_depth:
            raise JsonInputError(f"nests arrays/objects deeper than {max_depth} levels", json_path(parts))
        for key, child in reversed(list(children)):  # reversed: the first problem is reported first
            if isinstance(key, str) and _SURROGATE.search(key):
                raise JsonInputError(f"key {excerpt(key)}: {_LONE_SURROGATE}", json_path(parts))
            stack.append((child, (*parts, key)))


def loads_strict(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text`` as strict JSON: finite numbers, valid Unicode, at most ``max_depth`` deep.

    Raises:
        JsonInputError: what is wrong and where; for a syntax error the reason names line and column.
    """
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise JsonInputError(f"nests arrays/objects deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except ValueError as exc:  # bytes that are not UTF-8/16/32
        raise JsonInputError(f"not valid JSON: {excerpt(str(exc), 120)}") from None
    _check(value, max_depth)
    return value
