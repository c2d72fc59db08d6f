"""CloudFlow expressions (``$Input.a.b[0]``) and constructors (mappings with ``key.$`` entries).

An expression is a path — a root (``$Input``, ``$Output``, ``$Context``) followed by ``.key``,
``[index]`` or ``["key"]`` steps — or a call of a built-in function (:mod:`flows._calls`) whose
arguments are paths, calls, JSON literals, or arrays and objects of those:
``format('{}-part-{}', $Context.Execution.Input.task_id, $Input)``.

Expressions are parsed once (:func:`parse_expression` is cached) and constructors are compiled
once per state (:func:`compile_template`), so evaluating a state's constructors costs a few
dictionary lookups.

A step that reads a missing key, an index out of range, or a field of a non-object raises
:class:`~flows._errors.ExpressionError` naming the expression and what was there — CloudFlow fails
the state in that case too, so a flow never silently passes ``null`` along.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._errors import ExpressionError

__all__ = [
    "MISSING",
    "Expression",
    "Path",
    "Scope",
    "Template",
    "compile_template",
    "parse_expression",
]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
_ROOTS = ("Input", "Output", "Context")
_ROOT_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_STEP_RE = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d+)\]|\["([^"]*)"\]|\['([^']*)'\]""")


@dataclass
class Scope:
    """What expressions of one state can see.

    ``output`` is :data:`MISSING` outside an ``OutputConstructor``; ``error`` is set only while a
    Catch's ``OutputConstructor`` is evaluated.
    """

    input: Any
    execution_name: str
    execution_input: Any
    state: str = ""
    output: Any = MISSING
    error: dict[str, str] | None = None
    retry_count: int = 0

    def context(self) -> dict[str, Any]:
        """The ``$Context`` object."""
        current: dict[str, Any] = {"Name": self.state, "Input": self.input, "RetryCount": self.retry_count}
        if self.output is not MISSING:
            current["Output"] = self.output
        if self.error is not None:
            current["Error"] = self.error
        return {
            "Execution": {"Name": self.execution_name, "Input": self.execution_input},
            "Current": current,
        }


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(sorted(map(str, value))[:12])
        return f"an object with keys [{keys}]" if value else "an empty object"
    if isinstance(value, list):
        return f"a list of length {len(value)}"
    return f"a {type(value).__name__} ({value!r:.40})" if value is not None else "null"


@dataclass(frozen=True)
class Path:
    """A parsed expression: a root and a tuple of ``str`` (key) / ``int`` (index) steps."""

    text: str
    root: str
    steps: tuple[str | int, ...]

    def render(self, scope: Scope) -> Any:
        """Evaluate against ``scope``; raises ExpressionError on a missing key or bad index."""
        root = self.root
        if root == "Input":
            cur = scope.input
        elif root == "Output":
            cur = scope.output
            if cur is MISSING:
                raise ExpressionError(
                    "$Output is only available inside an OutputConstructor", expression=self.text
                )
        else:
            cur = scope.context()
        for i, step in enumerate(self.steps):
            if type(step) is int:
                if isinstance(cur, list) and -len(cur) <= step < len(cur):
                    cur = cur[step]
                    continue
            elif isinstance(cur, dict) and step in cur:
                cur = cur[step]
                continue
            raise ExpressionError(self._miss(i, step, cur), expression=self.text)
        return cur

    def _miss(self, i: int, step: str | int, cur: Any) -> str:
        at = "$" + self.root + "".join(f"[{s}]" if type(s) is int else f".{s}" for s in self.steps[:i])
        what = f"index {step}" if type(step) is int else f"key {step!r}"
        return f"{what} not found: {at} is {_describe(cur)}"

    def paths(self) -> tuple[Path, ...]:
        """The paths this expression reads (itself)."""
        return (self,)


class Expression(Protocol):
    """A parsed ``.$`` value: a :class:`Path`, a built-in function :class:`Call`, or a literal."""

    def render(self, scope: Scope) -> Any: ...

    def paths(self) -> tuple[Path, ...]: ...


def parse_expression(text: str) -> Expression:
    """Parse ``$Root.path[0]`` or ``fn(args…)`` (cached); raises ExpressionError if malformed."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, got {type(text).__name__}: {text!r:.60}")
    return _parse(text)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Expression:
    if _CALL_START.match(text.strip()):
        from ._calls import parse_call  # a late import: calls are built of this module's paths

        return parse_call(text)
    return _parse_path(text)


_CALL_START = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*\(")


def _parse_path(text: str) -> Path:
    src = text.strip()
    m = _ROOT_RE.match(src)
    if m is None:
        raise ExpressionError(
            "must start with $Input, $Output or $Context, or call a built-in function", expression=text
        )
    root = m.group(1)
    if root not in _ROOTS:
        raise ExpressionError(f"unknown root ${root} (use $Input, $Output or $Context)", expression=text)
    steps: list[str | int] = []
    pos = m.end()
    while pos < len(src):
        s = _STEP_RE.match(src, pos)
        if s is None:
            raise ExpressionError(f"cannot parse {src[pos:]!r} at offset {pos}", expression=text)
        key, index, dq, sq = s.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(v for v in (key, dq, sq) if v is not None))
        pos = s.end()
    if root == "Context" and steps and steps[0] not in ("Execution", "Current"):
        raise ExpressionError(
            f"unknown $Context field {steps[0]!r} (use $Context.Execution or $Context.Current)",
            expression=text,
        )
    return Path(text, root, tuple(steps))


class Template(Protocol):
    """A compiled constructor (or any value): ``render(scope)`` builds a fresh result."""

    def render(self, scope: Scope) -> Any: ...


@dataclass(frozen=True)
class _Const:
    value: Any

    def render(self, scope: Scope) -> Any:
        v = self.value
        return copy.deepcopy(v) if isinstance(v, (dict, list)) else v


@dataclass(frozen=True)
class _Object:
    parts: tuple[tuple[str, Template], ...]

    def render(self, scope: Scope) -> Any:
        return {key: part.render(scope) for key, part in self.parts}


@dataclass(frozen=True)
class _Array:
    items: tuple[Template, ...]

    def render(self, scope: Scope) -> Any:
        return [item.render(scope) for item in self.items]


def _has_expr(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(str(k).endswith(".$") or _has_expr(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_expr(v) for v in value)
    return False


def compile_template(value: Any) -> Template:
    """Compile a constructor: keys ending in ``.$`` hold expressions (the key loses the suffix).

    Nested mappings and lists are compiled recursively; everything else is a literal. Raises
    ExpressionError for an expression that does not parse or a key given both ways.
    """
    if not _has_expr(value):
        return _Const(value)
    if isinstance(value, list):
        return _Array(tuple(compile_template(v) for v in value))
    parts: dict[str, Template] = {}
    for key, sub in value.items():
        key = str(key)
        part: Template
        if key.endswith(".$"):
            name, part = key[:-2], parse_expression(sub)
        else:
            name, part = key, compile_template(sub)
        if name in parts:
            raise ExpressionError(f"key {name!r} is given both literally and as {name}.$")
        parts[name] = part
    return _Object(tuple(parts.items()))
