"""Compile a CloudFlow spec (a parsed YAML mapping) into state objects the engine runs.

Compilation resolves every ``resourceArn`` and parses every expression once, so a definition that
cannot run fails here — at construction — with the state's name, not halfway through an execution.
The full structural check (unknown fields, AWS names, reachability) is ``flows._validate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._condition import Condition, parse_condition
from ._errors import ExpressionError, SpecError
from ._expr import Expression, Template, compile_template, parse_expression
from ._rules import TERMINAL
from ._transitions import transitions

__all__ = ["ALL_ERRORS", "Catcher", "Machine", "RetryRule", "State", "compile_machine"]

ALL_ERRORS = "FnF.ALL"
TYPES = ("Task", "Pass", "Choice", "Parallel", "Map", "Wait", "Succeed", "Fail")
Handler = Callable[..., Any]


@dataclass(frozen=True)
class RetryRule:
    """One ``Retry`` entry; ``MaxAttempts`` counts retries, not the first try."""

    errors: frozenset[str]
    max_attempts: int = 3
    interval: float = 1.0
    backoff: float = 1.0
    max_backoff: float | None = None

    def matches(self, code: str) -> bool:
        return code in self.errors or ALL_ERRORS in self.errors

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        seconds = self.interval * self.backoff ** (attempt - 1)
        return min(seconds, self.max_backoff) if self.max_backoff is not None else seconds


@dataclass(frozen=True)
class Catcher:
    """One ``Catch`` entry."""

    errors: frozenset[str]
    next: str
    output: Template | None = None

    def matches(self, code: str) -> bool:
        return code in self.errors or ALL_ERRORS in self.errors


@dataclass
class State:
    """One compiled state; type-specific fields are set only for that type."""

    name: str
    type: str
    next: str | None = None
    input: Template | None = None
    output: Template | None = None
    retry: tuple[RetryRule, ...] = ()
    catch: tuple[Catcher, ...] = ()
    # Task
    resource: str = ""
    handler: Handler | None = None
    body: Template | None = None
    timeout: float | None = None
    # Choice
    choices: tuple[tuple[Condition, str], ...] = ()
    default: str | None = None
    # Parallel / Map
    branches: tuple[Machine, ...] = ()
    items: Expression | None = None
    concurrency: int | Expression | None = None
    # Wait / Fail
    seconds: float = 0.0
    wait_until: Any = None  # Seconds.$ / Timestamp / Timestamp.$: resolved when the state runs
    code: str = ""
    detail: str = ""


@dataclass
class Machine:
    """A ``StartAt`` + ``States`` scope: the flow itself, a Parallel branch or a Map Processor."""

    start_at: str
    states: dict[str, State] = field(default_factory=dict)


def _number(value: Any, what: str, state: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SpecError(f"state {state!r}: {what} must be a number, got {value!r}") from None


def _retry(raw: Mapping[str, Any], state: str) -> RetryRule:
    errors = raw.get("Errors")
    if not errors:
        raise SpecError(f"state {state!r}: every Retry rule needs a non-empty Errors list")
    cap = raw.get("MaxBackoffSeconds")
    return RetryRule(
        errors=frozenset(errors),
        max_attempts=int(_number(raw.get("MaxAttempts", 3), "MaxAttempts", state)),
        interval=_number(raw.get("IntervalSeconds", 1), "IntervalSeconds", state),
        backoff=_number(raw.get("BackoffRate", 1), "BackoffRate", state),
        max_backoff=None if cap is None else _number(cap, "MaxBackoffSeconds", state),
    )


def _catch(raw: Mapping[str, Any], state: str) -> Catcher:
    if not raw.get("Errors") or not raw.get("Next"):
        raise SpecError(f"state {state!r}: every Catch rule needs Errors and Next")
    out = raw.get("OutputConstructor")
    return Catcher(frozenset(raw["Errors"]), str(raw["Next"]), None if out is None else compile_template(out))


def _task(state: State, raw: Mapping[str, Any], registry: Mapping[str, Handler]) -> None:
    params = raw.get("Parameters") or {}
    arn = params.get("resourceArn")
    if not arn:
        raise SpecError(f"state {state.name!r}: Task needs Parameters.resourceArn")
    if arn not in registry:
        raise SpecError(f"state {state.name!r}: no function is registered for resourceArn {arn!r}")
    state.resource, state.handler = arn, registry[arn]
    if raw.get("Action") == "FNF:StartExecution":  # the handler gets executionName and input
        state.body = compile_template({k: v for k, v in params.items() if k != "resourceArn"})
    elif "body.$" in params:
        state.body = parse_expression(params["body.$"])
    else:
        state.body = compile_template(params.get("body", {}))
    if raw.get("Timeout") is not None:
        state.timeout = _number(raw["Timeout"], "Timeout", state.name)


def _map(state: State, raw: Mapping[str, Any], registry: Mapping[str, Handler]) -> None:
    if "ItemsPath" not in raw or "Processor" not in raw:
        raise SpecError(f"state {state.name!r}: Map needs ItemsPath and Processor")
    state.items = parse_expression(raw["ItemsPath"])
    state.branches = (compile_machine(raw["Processor"], registry),)
    if "MaxConcurrency.$" in raw:
        state.concurrency = parse_expression(raw["MaxConcurrency.$"])
    elif raw.get("MaxConcurrency") is not None:
        state.concurrency = int(_number(raw["MaxConcurrency"], "MaxConcurrency", state.name))


def _specific(state: State, raw: Mapping[str, Any], registry: Mapping[str, Handler]) -> None:
    kind = state.type
    if kind == "Task":
        _task(state, raw, registry)
    elif kind == "Map":
        _map(state, raw, registry)
    elif kind == "Parallel":
        state.branches = tuple(compile_machine(b, registry) for b in raw.get("Branches") or ())
        if not state.branches:
            raise SpecError(f"state {state.name!r}: Parallel needs at least one branch")
    elif kind == "Choice":
        branches = raw.get("Branches") or ()
        if any(not isinstance(b, Mapping) or "Condition" not in b or "Next" not in b for b in branches):
            raise SpecError(f"state {state.name!r}: every Choice branch needs Condition and Next")
        state.choices = tuple((parse_condition(b["Condition"]), str(b["Next"])) for b in branches)
        state.default = raw.get("Default")
    elif kind == "Wait":
        if "Seconds.$" in raw:
            state.wait_until = ("seconds", parse_expression(raw["Seconds.$"]))
        elif "Timestamp.$" in raw:
            state.wait_until = ("timestamp", parse_expression(raw["Timestamp.$"]))
        elif "Timestamp" in raw:
            state.wait_until = ("timestamp", str(raw["Timestamp"]))
        else:
            state.seconds = _number(raw.get("Seconds", 0), "Seconds", state.name)
    elif kind == "Fail":
        state.code, state.detail = str(raw.get("Code", "FnF.Failed")), str(raw.get("Detail", ""))


def _state(raw: Mapping[str, Any], registry: Mapping[str, Handler]) -> State:
    name, kind = raw.get("Name"), raw.get("Type")
    if not name or kind not in TYPES:
        raise SpecError(f"state {name!r}: Type must be one of {', '.join(TYPES)}, got {kind!r}")
    try:
        state = State(name=str(name), type=str(kind), next=raw.get("Next"))
        if raw.get("InputConstructor") is not None:
            state.input = compile_template(raw["InputConstructor"])
        if raw.get("OutputConstructor") is not None:
            state.output = compile_template(raw["OutputConstructor"])
        state.retry = tuple(_retry(r, state.name) for r in raw.get("Retry") or ())
        state.catch = tuple(_catch(c, state.name) for c in raw.get("Catch") or ())
        _specific(state, raw, registry)
    except (ExpressionError, KeyError, TypeError) as exc:
        raise SpecError(f"state {name!r}: {exc}") from exc
    if kind not in TERMINAL and not state.next and not raw.get("End"):
        raise SpecError(f"state {name!r}: needs Next or End: true")
    return state


def compile_machine(spec: Mapping[str, Any], registry: Mapping[str, Handler]) -> Machine:
    """Compile a ``{StartAt, States}`` mapping (recursively); raises SpecError if it cannot run."""
    raw_states = spec.get("States")
    if not isinstance(raw_states, list) or not raw_states:
        raise SpecError("States must be a non-empty list of states")
    machine = Machine(start_at=str(spec.get("StartAt", "")))
    for raw in raw_states:
        state = _state(raw, registry)
        if state.name in machine.states:
            raise SpecError(f"state {state.name!r} is defined twice")
        machine.states[state.name] = state
    targets = [(str(raw["Name"]), t.target) for raw in raw_states for t in transitions(raw)]
    for source, target in [("StartAt", machine.start_at), *targets]:
        if target not in machine.states:
            raise SpecError(f"state {source!r}: transition to unknown state {target!r}")
    return machine
