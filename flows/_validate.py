"""A strict validator for CloudFlow flow definitions (``Type: StateMachine``, ``SpecVersion: v1``).

:func:`validate_flow` returns every :class:`Problem` it finds, each naming the state path
(``Videos/Processor/Fetch``), the field and what is wrong; :func:`check_flow` raises
:class:`FlowValidationError` instead. AWS States Language names and the legacy FDL are rejected with
the CloudFlow spelling to use, and misspelled fields get the closest valid name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ._rules import (
    ACTION_RE,
    COMMON_FIELDS,
    DISTRIBUTED_ONLY,
    DYNAMIC_FIELDS,
    LOCAL_ACTIONS,
    MAX_CONCURRENCY,
    NAME_RE,
    SCOPE_FIELDS,
    STATE_FIELDS,
    STATE_NAME_RE,
    TASK_MODES,
    TERMINAL,
    TOP_FIELDS,
    FieldChecks,
    Problem,
    is_int,
    suggest,
)
from ._transitions import transitions

__all__ = [
    "FlowValidationError",
    "Problem",
    "check_flow",
    "embedded_gaps",
    "load_flow",
    "transitions_of",
    "validate_flow",
]


class FlowValidationError(ValueError):
    """The flow definition is invalid; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{head}invalid flow ({len(problems)} problem(s)):\n{lines}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", mark
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        if exc.problem == "mapping values are not allowed here":
            what += " (quote a value that contains ': ')"
        raise FlowValidationError([Problem("", "", f"YAML syntax error at {where}{what}")], source) from exc
    except yaml.YAMLError as exc:
        raise FlowValidationError([Problem("", "", f"YAML syntax error: {exc}")], source) from exc


def load_flow(path: str | Path) -> dict[str, Any]:
    """Read a flow YAML file into a dict; raises FlowValidationError for unreadable or bad YAML."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowValidationError(
            [Problem("", "", f"cannot read flow file: {exc.strerror}")], str(p)
        ) from exc
    spec = _parse_yaml(text, str(p))
    if not isinstance(spec, dict):
        msg = f"a flow definition must be a YAML mapping, got {type(spec).__name__}"
        raise FlowValidationError([Problem("", "", msg)], str(p))
    return spec


def validate_flow(
    spec: Mapping[str, Any] | str | Path, *, known_arns: Collection[str] | None = None
) -> list[Problem]:
    """Every problem in ``spec`` (a dict, YAML text, or a file path); an empty list means valid.

    Without ``known_arns`` this judges the CloudFlow spec alone. With them it also lists what the
    embedded engine cannot run (:func:`embedded_gaps`): a Task whose function is not among
    ``known_arns``, an integration other than Function Compute and child flows.
    """
    try:
        v = _validated(spec, known_arns)
    except FlowValidationError as exc:
        return exc.problems
    return v.problems + (v.gaps if known_arns is not None else [])


def embedded_gaps(spec: Mapping[str, Any] | str | Path, *, known_arns: Collection[str]) -> list[Problem]:
    """What in a valid CloudFlow ``spec`` the embedded engine cannot run (it may still run in the cloud).

    A function no step serves (``known_arns``), an integration other than ``FC:InvokeFunction`` and
    ``FNF:StartExecution``, a child flow other than the flow itself, a callback task mode.
    """
    try:
        return _validated(spec, known_arns).gaps
    except FlowValidationError:
        return []


def _validated(spec: Mapping[str, Any] | str | Path, known_arns: Collection[str] | None) -> _Validator:
    if isinstance(spec, Path):
        spec = load_flow(spec)
    elif isinstance(spec, str):
        spec = _parse_yaml(spec, "")
    v = _Validator(known_arns)
    v.flow(spec)
    return v


def check_flow(
    spec: Mapping[str, Any] | str | Path, *, known_arns: Collection[str] | None = None
) -> dict[str, Any]:
    """Validate ``spec`` and return it as a dict; raises FlowValidationError listing every problem."""
    source = str(spec) if isinstance(spec, Path) else ""
    data = (
        load_flow(spec)
        if isinstance(spec, Path)
        else _parse_yaml(spec, "")
        if isinstance(spec, str)
        else spec
    )
    problems = validate_flow(data, known_arns=known_arns)
    if problems:
        raise FlowValidationError(problems, source)
    return dict(data)


class _Validator(FieldChecks):
    """Walks a flow spec, appending a Problem for each rule broken."""

    def __init__(self, known_arns: Collection[str] | None) -> None:
        self.known_arns = known_arns
        self.problems: list[Problem] = []
        self.gaps: list[Problem] = []
        self.flow_name = ""

    def gap(self, path: str, field: str, message: str) -> None:
        """Valid CloudFlow that the embedded engine cannot run."""
        self.gaps.append(Problem(path, field, message))

    def flow(self, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            self.add("", "", f"a flow definition must be a mapping, got {type(spec).__name__}")
            return
        if "steps" in spec or spec.get("type") == "flow" or "version" in spec:
            self.add(
                "",
                "",
                "this is the legacy FDL (version/type: flow/steps); rewrite it in the current spec: "
                "Type: StateMachine, SpecVersion: v1, StartAt and a list of States",
            )
            return
        self.fields("", spec, TOP_FIELDS, "the flow")
        if spec.get("Type") != "StateMachine":
            self.add("", "Type", f"must be StateMachine, got {spec.get('Type')!r}")
        if spec.get("SpecVersion") != "v1":
            self.add("", "SpecVersion", f"must be v1, got {spec.get('SpecVersion')!r}")
        name = spec.get("Name")
        if name is None:
            self.add("", "Name", "the flow needs a Name")
        elif not isinstance(name, str) or not NAME_RE.fullmatch(name):
            self.add("", "Name", f"{name!r} is not a valid name ({NAME_RE.pattern})")
        else:
            self.flow_name = name
        self.scope("", spec, "the flow")

    def scope(self, prefix: str, scope: Mapping[str, Any], what: str) -> None:
        """Validate one list of states with its StartAt: names, each state, transitions, reachability."""
        states = scope.get("States")
        if isinstance(states, Mapping):
            self.add(
                prefix,
                "States",
                "must be a list of states, each with Name and Type (a mapping keyed by "
                "state name is AWS States Language)",
            )
            return
        if not isinstance(states, list) or not states:
            self.add(prefix, "States", f"{what} needs a non-empty list of States")
            return
        by_name: dict[str, Mapping[str, Any]] = {}
        for i, state in enumerate(states):
            if not isinstance(state, Mapping):
                self.add(prefix, f"States[{i}]", f"a state must be a mapping, got {type(state).__name__}")
                continue
            name = state.get("Name")
            if not isinstance(name, str) or not name:
                self.add(_join(prefix, f"States[{i}]"), "Name", "every state needs a Name")
            elif not STATE_NAME_RE.fullmatch(name):
                self.add(
                    _join(prefix, name),
                    "Name",
                    f"{name!r} is not a valid state name (1-128 letters of any script, digits, _ or -, "
                    "not starting with a digit)",
                )
            elif name in by_name:
                self.add(_join(prefix, name), "Name", f"duplicate state name {name!r} in {what}")
            else:
                by_name[name] = state
        start = scope.get("StartAt")
        if not isinstance(start, str):
            self.add(prefix, "StartAt", f"{what} needs StartAt naming its first state")
        elif start not in by_name:
            self.add(prefix, "StartAt", f"{start!r} is not a state in {what}{suggest(start, by_name)}")
        for name, state in by_name.items():
            self.state(_join(prefix, name), state, by_name, what)
        if isinstance(start, str) and start in by_name:
            reached = _reachable(start, by_name)
            for name in by_name:
                if name not in reached:
                    self.add(
                        _join(prefix, name),
                        "",
                        f"state {name!r} is unreachable: no StartAt, Next, "
                        "Default, Choice branch or Catch in its scope leads to it",
                    )

    def branch(self, path: str, field: str, body: Any, what: str) -> None:
        if not isinstance(body, Mapping):
            self.add(path, field, f"must be a mapping with StartAt and States, got {type(body).__name__}")
            return
        self.fields(_join(path, field), body, SCOPE_FIELDS, what)
        self.scope(_join(path, field), body, what)

    # -- states -------------------------------------------------------------------------------------

    def state(self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str) -> None:
        kind = str(state.get("Type"))
        if "Type" not in state:
            self.add(path, "Type", f"every state needs a Type (one of {', '.join(STATE_FIELDS)})")
            return
        if kind not in STATE_FIELDS:
            self.add(
                path,
                "Type",
                f"unknown state type {state.get('Type')!r}{suggest(kind, STATE_FIELDS)} "
                f"(one of {', '.join(STATE_FIELDS)})",
            )
            return
        self.fields(
            path, state, COMMON_FIELDS + STATE_FIELDS[kind], f"a {kind} state", DYNAMIC_FIELDS.get(kind, ())
        )
        self.transitions(path, state, kind, names, scope)
        for field in ("InputConstructor", "OutputConstructor"):
            if field in state:
                self.constructor(path, field, state[field], output=field == "OutputConstructor")
        check: Callable[[str, Mapping[str, Any], Mapping[str, Any], str], None]
        check = getattr(self, f"check_{kind.lower()}")
        check(path, state, names, scope)
        if kind in ("Task", "Parallel", "Map"):
            self.retry(path, state.get("Retry"))
            self.catch(path, state.get("Catch"), names, scope)

    def transitions(
        self, path: str, state: Mapping[str, Any], kind: str, names: Mapping[str, Any], scope: str
    ) -> None:
        has_next, end = "Next" in state, state.get("End")
        if kind in TERMINAL:
            fix = (
                "use Default and the branches' Next" if kind == "Choice" else f"a {kind} state ends its scope"
            )
            for field in ("Next", "End"):
                if field == "End" and kind == "Succeed" and end is True:
                    continue  # the vendor's examples write it; it changes nothing
                if field in state:
                    self.add(path, field, f"a {kind} state takes no {field}; {fix}")
            return
        if "End" in state and end is not True:
            self.add(path, "End", f"End must be true when given, got {end!r}; use Next to continue")
        if has_next and end is True:
            self.add(path, "Next", "has both Next and End: true; keep one")
        elif not has_next and end is not True:
            self.add(path, "Next", "needs Next (the state that follows) or End: true")
        if has_next:
            self.target(path, "Next", state["Next"], names, scope)

    def check_task(self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str) -> None:
        action = state.get("Action")
        params = state.get("Parameters")
        if params is not None and not isinstance(params, Mapping):
            self.add(path, "Parameters", f"must be a mapping, got {type(params).__name__}")
            params = None
        params = params or {}
        mode = state.get("TaskMode")
        if mode is not None and mode not in TASK_MODES:
            self.add(
                path,
                "TaskMode",
                f"must be one of {', '.join(TASK_MODES)}, got {mode!r}{suggest(str(mode), TASK_MODES)}",
            )
        if not isinstance(action, str) or not action:
            self.add(path, "Action", "a Task needs an Action (FC:InvokeFunction to call a function)")
        elif not ACTION_RE.fullmatch(action):
            self.add(path, "Action", f"must be Service:Operation (e.g. FC:InvokeFunction), got {action!r}")
        elif action in LOCAL_ACTIONS:
            self.local_task(path, state, action, params)
        else:
            self.gap(
                path, "Action", f"the embedded engine runs {' and '.join(LOCAL_ACTIONS)} Tasks, not {action}"
            )
        if params:
            self.constructor(path, "Parameters", params, output=False)
        timeout = state.get("Timeout")
        if timeout is not None and not _positive_seconds(timeout):
            self.add(path, "Timeout", f'must be a whole number of seconds > 0 (e.g. "900"), got {timeout!r}')

    def local_task(self, path: str, state: Mapping[str, Any], action: str, params: Mapping[str, Any]) -> None:
        """The parameters of a Task the embedded engine runs, and whether it can run this one."""
        arn = params.get("resourceArn")
        example = "acs:fc:::functions/<name>" if action.startswith("FC:") else "acs:fnf:::flow/<name>"
        if "resourceArn" not in params and "resourceArn.$" not in params:
            self.add(
                path, "Parameters.resourceArn", f"an {action} Task needs Parameters.resourceArn ({example})"
            )
            return
        mode = state.get("TaskMode", "RequestComplete")
        if action == "FNF:StartExecution":
            flow = arn.rsplit("/", 1)[-1] if isinstance(arn, str) else None
            if isinstance(arn, str) and not arn.startswith("acs:fnf:"):
                self.add(path, "Parameters.resourceArn", f"must be a flow ARN ({example}), got {arn!r}")
            elif flow != self.flow_name:
                self.gap(
                    path,
                    "Parameters.resourceArn",
                    f"the embedded engine starts only its own flow "
                    f"({self.flow_name!r}) as a child, not {arn!r}",
                )
            if mode != "WaitForSystemCallback":
                self.gap(
                    path,
                    "TaskMode",
                    "the embedded engine waits for child executions "
                    f"(TaskMode: WaitForSystemCallback), not {mode}",
                )
        elif mode == "WaitForCustomCallback":
            self.gap(
                path,
                "TaskMode",
                "the embedded engine has no task-callback API: a function's answer ends its Task",
            )
        elif self.known_arns is not None and isinstance(arn, str) and arn not in self.known_arns:
            self.gap(
                path,
                "Parameters.resourceArn",
                f"unknown function {arn!r}; no step is registered for it{suggest(arn, self.known_arns)}",
            )

    def check_pass(self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str) -> None:
        """Pass states have only the common fields."""

    def check_succeed(
        self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str
    ) -> None:
        """Succeed states have only the common fields."""

    def check_fail(self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str) -> None:
        for field in ("Code", "Detail"):
            if field in state and not isinstance(state[field], str):
                self.add(path, field, f"must be a string, got {type(state[field]).__name__}")

    def check_choice(self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str) -> None:
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            self.add(path, "Branches", "a Choice needs a non-empty list of Branches ({Condition, Next})")
            branches = []
        for i, br in enumerate(branches):
            field = f"Branches[{i}]"
            if not isinstance(br, Mapping):
                self.add(path, field, "a Choice branch must be a mapping with Condition and Next")
                continue
            self.fields(path, br, ("Condition", "Next", "Description"), "a Choice branch")
            if "Condition" not in br:
                self.add(path, f"{field}.Condition", "a Choice branch needs a Condition")
            else:
                self.condition(path, f"{field}.Condition", br["Condition"])
            if "Next" not in br:
                self.add(path, f"{field}.Next", "a Choice branch needs Next")
            else:
                self.target(path, f"{field}.Next", br["Next"], names, scope)
        if "Default" not in state:
            self.add(path, "Default", "a Choice needs Default: the state to go to when no Condition holds")
        else:
            self.target(path, "Default", state["Default"], names, scope)

    def check_parallel(
        self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str
    ) -> None:
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            self.add(
                path, "Branches", "a Parallel needs a non-empty list of Branches, each {StartAt, States}"
            )
            return
        for i, body in enumerate(branches):
            self.branch(path, f"Branches[{i}]", body, f"branch {i} of Parallel {path.rsplit('/', 1)[-1]!r}")

    def check_map(self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str) -> None:
        name = path.rsplit("/", 1)[-1]
        if "ItemsPath" not in state:
            self.add(
                path, "ItemsPath", "a Map needs ItemsPath, an expression for the array (e.g. $Input.items)"
            )
        else:
            self.expression(path, "ItemsPath", state["ItemsPath"], output=False)
        if "Processor" not in state:
            self.add(path, "Processor", "a Map needs a Processor with StartAt and States")
        else:
            self.branch(path, "Processor", state["Processor"], f"the Processor of Map {name!r}")
        config = state.get("ProcessorConfig")
        mode = config.get("ExecutionMode") if isinstance(config, Mapping) else None
        if config is not None and mode not in ("Express", "Standard"):
            self.add(path, "ProcessorConfig.ExecutionMode", f"must be Express or Standard, got {mode!r}")
        distributed = config is not None
        if not distributed:
            for field in DISTRIBUTED_ONLY:
                if field in state:
                    self.add(
                        path,
                        field,
                        f"{field} is only for distributed mode (ProcessorConfig: "
                        "{ExecutionMode: Express}); an inline Map catches failures inside its Processor",
                    )
        limit = None if distributed else MAX_CONCURRENCY
        if "MaxConcurrency" in state:
            mc = state["MaxConcurrency"]
            if not is_int(mc) or mc < 0 or (limit is not None and mc > limit):
                rng = f"0..{limit} for an inline Map" if limit else ">= 0"
                self.add(path, "MaxConcurrency", f"must be a whole number in {rng}, got {mc!r}")

    def check_wait(self, path: str, state: Mapping[str, Any], names: Mapping[str, Any], scope: str) -> None:
        given = [f for f in ("Seconds", "Seconds.$", "Timestamp", "Timestamp.$") if f in state]
        if len(given) != 1:
            what = "none" if not given else ", ".join(given)
            self.add(
                path,
                "Seconds",
                f"a Wait needs exactly one of Seconds, Seconds.$, Timestamp, Timestamp.$ (got {what})",
            )
        if "Seconds" in state and (not is_int(state["Seconds"]) or not 1 <= state["Seconds"] <= 300):
            self.add(path, "Seconds", f"must be a whole number in 1..300, got {state['Seconds']!r}")
        if "Timestamp" in state and not _rfc3339(state["Timestamp"]):
            self.add(
                path,
                "Timestamp",
                f"must be an RFC 3339 time (2025-01-02T15:04:05Z), got {state['Timestamp']!r}",
            )
        for field in ("Seconds.$", "Timestamp.$"):
            if field in state:
                self.expression(path, field, state[field], output=False)

    # -- Retry / Catch ------------------------------------------------------------------------------


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _positive_seconds(value: Any) -> bool:
    if is_int(value):
        return value > 0
    return isinstance(value, str) and value.isdigit() and int(value) > 0


def _rfc3339(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _reachable(start: str, states: Mapping[str, Mapping[str, Any]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in transitions_of(states[todo.pop()]):
            if nxt in states and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def transitions_of(state: Mapping[str, Any]) -> list[str]:
    """Every state name ``state`` can move to: Next, Choice branches and Default, Catch targets."""
    return [t.target for t in transitions(state)]
