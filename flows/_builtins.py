"""CloudFlow's built-in functions, as ``.$`` expressions call them: ``format('{}-{}', $Input.a, 3)``.

The list and the behaviour follow the vendor's "Built-in functions" page
(https://help.aliyun.com/document_detail/2579872.html; English:
https://www.alibabacloud.com/help/en/serverless-workflow/latest/built-in-functions). CloudFlow is
written in Go, so values behave as Go's ``[]any`` / ``map[string]any`` would: ``format`` prints a
value as ``%v`` does for JSON data, and ``mapKeys`` / ``mapValues`` return keys in sorted order (Go
leaves the order undefined; a sorted one keeps executions reproducible).

Where the page leaves a detail open it is marked (?) below and chosen the Go way:
``regexMatchString(pattern, text)`` takes the pattern first, like Go's ``regexp.MatchString``;
``randomInt(low, high)`` returns ``low <= n < high``, like Go's ``rand.Intn``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from ._errors import ExpressionError

__all__ = ["BUILTINS", "MAX_NESTED_CALLS", "call_builtin", "check_call"]

MAX_NESTED_CALLS = 10  # "a maximum of 10 nested function calls per expression"
_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    names: dict[type, str] = {str: "string", list: "array", dict: "map"}
    return names.get(type(value), type(value).__name__)


def _need(name: str, i: int, value: Any, *kinds: str) -> Any:
    if _kind(value) not in kinds:
        raise ExpressionError(
            f"{name}(): argument {i + 1} must be {' or '.join(kinds)}, got {_kind(value)} ({value!r:.40})"
        )
    return value


def _int(name: str, i: int, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExpressionError(f"{name}(): argument {i + 1} must be an integer, got {value!r:.40}")
    return value


def _text(value: Any) -> str:
    """A value printed into a string, as Go's ``%v`` prints decoded JSON (maps and arrays as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _format(template: Any, *args: Any) -> str:
    parts = _need("format", 0, template, "string").split("{}")
    if len(parts) - 1 != len(args):
        raise ExpressionError(
            f"format(): the template has {len(parts) - 1} placeholder(s) {{}} but {len(args)} value(s) follow"
        )
    out = [parts[0]]
    for value, tail in zip(args, parts[1:], strict=True):
        out += [_text(value), tail]
    return "".join(out)


def _length(value: Any) -> int:
    return len(_need("length", 0, value, "array", "map", "string"))


def _split(text: Any, sep: Any) -> list[str]:
    return _need("split", 0, text, "string").split(_need("split", 1, sep, "string")) if sep else list(text)


def _regex(pattern: Any, text: Any) -> bool:
    try:
        compiled = re.compile(_need("regexMatchString", 0, pattern, "string"))
    except re.error as exc:
        raise ExpressionError(f"regexMatchString(): invalid pattern {pattern!r}: {exc}") from None
    return compiled.search(_need("regexMatchString", 1, text, "string")) is not None


def _contains(array: Any, item: Any) -> bool:
    return any(_same(x, item) for x in _need("arrayContains", 0, array, "array"))


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _unique(array: Any) -> list[Any]:
    out: list[Any] = []
    for x in _need("arrayUnique", 0, array, "array"):
        if not any(_same(x, y) for y in out):
            out.append(x)
    return out


def _get(container: Any, key: Any) -> Any:
    if isinstance(container, list):
        i = _int("get", 1, key)
        if not -len(container) <= i < len(container):
            raise ExpressionError(f"get(): index {i} is out of range for an array of length {len(container)}")
        return container[i]
    _need("get", 0, container, "array", "map")
    if _need("get", 1, key, "string") not in container:
        raise ExpressionError(f"get(): key {key!r} not found; the map has [{', '.join(sorted(container))}]")
    return container[key]


def _random(low: Any, high: Any) -> int:
    lo, hi = _int("randomInt", 0, low), _int("randomInt", 1, high)
    if hi <= lo:
        raise ExpressionError(f"randomInt(): the upper bound {hi} must be greater than the lower bound {lo}")
    return random.randrange(lo, hi)


def _merge(a: Any, b: Any) -> dict[str, Any]:
    return {**_need("jsonMerge", 0, a, "map"), **_need("jsonMerge", 1, b, "map")}


def _from_json(text: Any) -> Any:
    try:
        return json.loads(_need("stringToJson", 0, text, "string"))
    except ValueError as exc:
        raise ExpressionError(f"stringToJson(): not valid JSON ({exc}): {text!r:.60}") from None


def _hash(text: Any, algorithm: Any) -> str:
    name = _HASHES.get(_need("hash", 1, algorithm, "string"))
    if name is None:
        raise ExpressionError(f"hash(): algorithm must be one of {', '.join(_HASHES)}, got {algorithm!r}")
    return hashlib.new(name, _need("hash", 0, text, "string").encode("utf-8")).hexdigest()


def _from_base64(text: Any) -> str:
    try:
        raw = base64.b64decode(_need("fromBase64", 0, text, "string"), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ExpressionError(f"fromBase64(): {text!r:.40} is not Base64 of UTF-8 text ({exc})") from None


# name → (implementation, fewest arguments, most arguments or None for any number)
BUILTINS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "format": (_format, 1, None),
    "length": (_length, 1, 1),
    "uuid": (lambda: str(uuid.uuid4()), 0, 0),
    "split": (_split, 2, 2),
    "regexMatchString": (_regex, 2, 2),
    "arrayContains": (_contains, 2, 2),
    "arrayUnique": (_unique, 1, 1),
    "toArray": (lambda *items: list(items), 0, None),
    "get": (_get, 2, 2),
    "intAdd": (lambda a, b: _int("intAdd", 0, a) + _int("intAdd", 1, b), 2, 2),
    "randomInt": (_random, 2, 2),
    "mapKeys": (lambda m: sorted(_need("mapKeys", 0, m, "map")), 1, 1),
    "mapValues": (lambda m: [m[k] for k in sorted(_need("mapValues", 0, m, "map"))], 1, 1),
    "jsonMerge": (_merge, 2, 2),
    "stringToJson": (_from_json, 1, 1),
    "fromJSON": (_from_json, 1, 1),  # documented alias of stringToJson
    "jsonToString": (lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")), 1, 1),
    "hash": (_hash, 2, 2),
    "toBase64": (lambda s: base64.b64encode(_need("toBase64", 0, s, "string").encode()).decode(), 1, 1),
    "fromBase64": (_from_base64, 1, 1),
}


def check_call(name: str, count: int) -> None:
    """Raise ExpressionError for an unknown function or a wrong number of arguments."""
    if name not in BUILTINS:
        close = difflib.get_close_matches(name, BUILTINS, n=1, cutoff=0.6)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        raise ExpressionError(f"unknown built-in function {name}(){hint}")
    _, low, high = BUILTINS[name]
    if count < low or (high is not None and count > high):
        want = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
        raise ExpressionError(f"{name}() takes {want} argument(s), got {count}")


def call_builtin(name: str, args: list[Any]) -> Any:
    """Call built-in ``name`` on evaluated ``args``; raises ExpressionError on a bad argument."""
    check_call(name, len(args))
    return BUILTINS[name][0](*args)
