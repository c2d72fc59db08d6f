"""Choice conditions: ``$Input.count > 3 && ($Input.kind == "video" || !$Input.skip)``.

Grammar (highest precedence last)::

    expr    := and ('||' and)*
    and     := unary ('&&' unary)*
    unary   := '!' unary | compare
    compare := operand (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in') operand)?
    operand := '-' operand | path | call | number | string | true | false | null | '(' expr ')'

As the vendor's Choice page lists them (https://www.alibabacloud.com/help/en/serverless-workflow/latest/select-choice):
comparisons for strings and numbers, ``||`` ``&&``, strings in double quotes or backticks (single
quotes too), numbers, ``true``/``false``, the prefixes ``!`` and ``-``, and ``in`` (an array holds a
value, or an object has a key). A ``call`` is a built-in function (:mod:`flows._builtins`), e.g.
``length($Input.items) > 100``.

Paths are the same as in constructors (:func:`~flows._expr.parse_expression`); a missing key is an
ExpressionError, as in constructors. ``==``/``!=`` compare any JSON values (``true`` never equals
``1``); ordering compares two numbers or two strings only. A bare operand used as a condition is
true when it is truthy (non-empty, non-zero, not ``false``/``null``).
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Callable
from typing import Any

from ._errors import ExpressionError
from ._expr import Scope, parse_expression

__all__ = ["Condition", "parse_condition"]

Condition = Callable[[Scope], Any]
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<path>\$[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[-?\d+\]|\["[^"]*"\]|\['[^']*'\])*)
  | (?P<call>[A-Za-z_][A-Za-z0-9_]*\s*\()
  | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'[^']*'|`[^`]*`)
  | (?P<word>true|false|null|in)\b
  | (?P<op>==|!=|<=|>=|&&|\|\||<|>|!|-|\(|\))
    )""",
    re.VERBOSE,
)
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_WORDS = {"true": True, "false": False, "null": None}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(
                f"unexpected text {text[pos:].strip()!r:.40} at offset {pos}", expression=text
            )
        kind = m.lastgroup or ""
        if kind == "call":  # the whole call, to its closing parenthesis, is one operand
            end = _call_end(text, m.end(), m.start(kind))
            tokens.append((kind, text[m.start(kind) : end]))
            pos = end
            continue
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _call_end(text: str, pos: int, start: int) -> int:
    """The offset just after the ``)`` closing the call opened before ``pos`` (quotes skipped)."""
    depth = 1
    while pos < len(text):
        char = text[pos]
        if char in "\"'`":
            close = text.find(char, pos + 1)
            while char == '"' and close > 0 and text[close - 1] == "\\":
                close = text.find(char, close + 1)
            if close < 0:
                break
            pos = close
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    raise ExpressionError(f"the call at offset {start} has no closing ')'", expression=text)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError("unexpected end of condition", expression=self.text)
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse(self) -> Condition:
        if not self.tokens:
            raise ExpressionError("empty condition", expression=self.text)
        node = self._or()
        if self.pos != len(self.tokens):
            raise ExpressionError(
                f"unexpected {self._peek()!r} at token {self.pos + 1}", expression=self.text
            )
        return node

    def _or(self) -> Condition:
        parts = [self._and()]
        while self._peek() == "||":
            self._take()
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda s: any(p(s) for p in parts)

    def _and(self) -> Condition:
        parts = [self._unary()]
        while self._peek() == "&&":
            self._take()
            parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        return lambda s: all(p(s) for p in parts)

    def _unary(self) -> Condition:
        if self._peek() == "!":
            self._take()
            inner = self._unary()
            return lambda s: not inner(s)
        return self._compare()

    def _compare(self) -> Condition:
        left = self._operand()
        op = self._peek()
        if op not in ("==", "!=", "<", "<=", ">", ">=", "in"):
            return left
        self._take()
        right = self._operand()
        if op == "in":
            return self._contains(left, right)
        if op == "==":
            return lambda s: _equal(left(s), right(s))
        if op == "!=":
            return lambda s: not _equal(left(s), right(s))
        return self._ordered(op, left, right)

    def _ordered(self, op: str, left: Condition, right: Condition) -> Condition:
        fn, text = _ORDER[op], self.text

        def compare(s: Scope) -> bool:
            a, b = left(s), right(s)
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
            if not numbers and not (isinstance(a, str) and isinstance(b, str)):
                raise ExpressionError(f"cannot order {a!r:.30} {op} {b!r:.30}", expression=text)
            return bool(fn(a, b))

        return compare

    def _contains(self, left: Condition, right: Condition) -> Condition:
        text = self.text

        def contains(s: Scope) -> bool:
            item, container = left(s), right(s)
            if isinstance(container, list):
                return any(_equal(item, x) for x in container)
            if isinstance(container, dict):
                return isinstance(item, str) and item in container
            raise ExpressionError(f"'in' needs an array or an object, got {container!r:.30}", expression=text)

        return contains

    def _negative(self) -> Condition:
        inner, text = self._operand(), self.text

        def negate(s: Scope) -> Any:
            value = inner(s)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ExpressionError(f"'-' needs a number, got {value!r:.30}", expression=text)
            return -value

        return negate

    def _operand(self) -> Condition:
        kind, value = self._take()
        if kind in ("path", "call"):
            return parse_expression(value).render
        if value == "-":
            return self._negative()
        if value == "(":
            inner = self._or()
            if self._take()[1] != ")":
                raise ExpressionError("missing ')'", expression=self.text)
            return inner
        if kind == "num":
            const: Any = json.loads(value)
        elif kind == "str":
            const = json.loads(value) if value.startswith('"') else value[1:-1]
        elif kind == "word" and value in _WORDS:
            const = _WORDS[value]
        else:
            raise ExpressionError(f"expected a value, found {value!r}", expression=self.text)
        return lambda s: const


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> Condition:
    return _Parser(text).parse()


def parse_condition(text: str) -> Condition:
    """Compile a Choice condition into ``fn(scope) -> truthy``; raises ExpressionError if malformed."""
    if not isinstance(text, str):
        raise ExpressionError(f"a condition must be a string, got {type(text).__name__}")
    return _parse(text)
