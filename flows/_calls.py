"""Built-in function calls in expressions: ``format('{}-part-{}', $Input.task_id, 3)``.

A call's arguments are paths (:class:`~flows._expr.Path`), calls, JSON literals (strings in double
or single quotes, numbers, ``true``/``false``/``null``), and arrays and objects of those. Names and
argument counts are checked when the expression is parsed; values when it runs
(:mod:`flows._builtins`). Calls nest at most :data:`~flows._builtins.MAX_NESTED_CALLS` deep.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from ._builtins import MAX_NESTED_CALLS, call_builtin, check_call
from ._errors import ExpressionError
from ._expr import Expression, Path, Scope, _parse_path

__all__ = ["Call", "parse_call"]


def parse_call(text: str) -> Expression:
    """Parse a call expression; raises ExpressionError naming ``text`` if malformed."""
    return _CallParser(text).parse()


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<path>\$[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[-?\d+\]|\["[^"]*"\]|\['[^']*'\])*)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()\[\]{},:])
    )""",
    re.VERBOSE,
)
_WORDS = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class _Literal:
    value: Any

    def render(self, scope: Scope) -> Any:
        v = self.value
        return copy.deepcopy(v) if isinstance(v, (dict, list)) else v

    def paths(self) -> tuple[Path, ...]:
        return ()


@dataclass(frozen=True)
class _List:
    items: tuple[Expression, ...]

    def render(self, scope: Scope) -> Any:
        return [item.render(scope) for item in self.items]

    def paths(self) -> tuple[Path, ...]:
        return tuple(p for item in self.items for p in item.paths())


@dataclass(frozen=True)
class _Map:
    pairs: tuple[tuple[str, Expression], ...]

    def render(self, scope: Scope) -> Any:
        return {key: value.render(scope) for key, value in self.pairs}

    def paths(self) -> tuple[Path, ...]:
        return tuple(p for _, value in self.pairs for p in value.paths())


@dataclass(frozen=True)
class Call:
    """A built-in function call; ``text`` is the whole expression it belongs to."""

    text: str
    name: str
    args: tuple[Expression, ...]

    def render(self, scope: Scope) -> Any:
        try:
            return call_builtin(self.name, [arg.render(scope) for arg in self.args])
        except ExpressionError as exc:
            if exc.expression == self.text:
                raise
            inner = f"{exc.expression}: " if exc.expression else ""
            raise ExpressionError(inner + exc.message, expression=self.text) from None

    def paths(self) -> tuple[Path, ...]:
        return tuple(p for arg in self.args for p in arg.paths())


class _CallParser:
    """Recursive descent over the tokens of a call expression."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        src, pos = text.rstrip(), 0
        while pos < len(src):
            m = _TOKEN.match(src, pos)
            if m is None or m.end() == pos:
                self.fail(f"unexpected text {src[pos:].strip()!r:.40} at offset {pos}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.pos = 0
        self.depth = 0

    def fail(self, message: str) -> NoReturn:
        raise ExpressionError(message, expression=self.text)

    def parse(self) -> Expression:
        node = self.value()
        if self.pos != len(self.tokens):
            self.fail(f"unexpected {self.tokens[self.pos][1]!r} after the end of the expression")
        return node

    def take(self, want: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            self.fail(
                f"expected {want!r} but the expression ended" if want else "unexpected end of expression"
            )
        token = self.tokens[self.pos]
        if want is not None and token[1] != want:
            self.fail(f"expected {want!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def items(self, close: str, item: Callable[[], Any]) -> list[Any]:
        out: list[Any] = []
        if self.peek() == close:
            self.take()
            return out
        while True:
            out.append(item())
            if self.peek() is None:
                self.fail(f"expected ',' or {close!r} but the expression ended")
            token = self.take()[1]
            if token == close:
                return out
            if token != ",":
                self.fail(f"expected ',' or {close!r}, found {token!r}")

    def value(self) -> Expression:
        kind, tok = self.take()
        if kind == "path":
            return _parse_path(tok)
        if kind == "num":
            return _Literal(json.loads(tok))
        if kind == "str":
            return _Literal(_unquote(tok))
        if kind == "name" and self.peek() == "(":
            return self.call(tok)
        if kind == "name" and tok in _WORDS:
            return _Literal(_WORDS[tok])
        if tok == "[":
            return _List(tuple(self.items("]", self.value)))
        if tok == "{":
            return _Map(tuple(self.items("}", self.pair)))
        return self.fail(f"expected a value, found {tok!r}")

    def pair(self) -> tuple[str, Expression]:
        kind, tok = self.take()
        if kind != "str":
            self.fail(f"an object key must be a quoted string, found {tok!r}")
        self.take(":")
        return _unquote(tok), self.value()

    def call(self, name: str) -> Expression:
        self.take("(")
        self.depth += 1
        if self.depth > MAX_NESTED_CALLS:
            self.fail(f"more than {MAX_NESTED_CALLS} nested function calls")
        args = tuple(self.items(")", self.value))
        self.depth -= 1
        try:
            check_call(name, len(args))
        except ExpressionError as exc:
            self.fail(exc.message)
        return Call(self.text, name, args)


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return str(json.loads(token))
    return re.sub(r"\\(.)", r"\1", token[1:-1])
