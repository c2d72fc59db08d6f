"""The validator's tables and its field-level checks (Retry/Catch rules, expressions, conditions).

:mod:`flows._validate` walks scopes and states; the checks here look inside one state's fields.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._condition import parse_condition
from ._errors import ExpressionError
from ._expr import parse_expression

__all__ = [
    "ACTION_RE",
    "COMMON_FIELDS",
    "DISTRIBUTED_ONLY",
    "DYNAMIC_FIELDS",
    "LOCAL_ACTIONS",
    "MAX_CONCURRENCY",
    "NAME_RE",
    "SCOPE_FIELDS",
    "STATE_FIELDS",
    "STATE_NAME_RE",
    "TASK_MODES",
    "TERMINAL",
    "TOP_FIELDS",
    "FieldChecks",
    "Problem",
    "is_int",
    "suggest",
]


NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")  # flows and executions
# State names: the vendor publishes no rule, and its own examples name states 视频理解, 一键成片 and
# Prompt拼接. Letters of any script, digits, "_" and "-", not starting with a digit, up to 128 — which
# also keeps "/" and "#" (the engine's state-path separators) out.
STATE_NAME_RE = re.compile(r"[^\W\d][\w-]{0,127}")
# Actions the embedded engine runs; any other ``Service:Operation`` is valid CloudFlow it cannot run.
LOCAL_ACTIONS = ("FC:InvokeFunction", "FNF:StartExecution")
TASK_MODES = ("RequestComplete", "WaitForSystemCallback", "WaitForCustomCallback")  # the Task page's three
ACTION_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*:[A-Za-z][A-Za-z0-9]*")
MAX_CONCURRENCY = 40  # an inline Map's ceiling

TOP_FIELDS = ("Type", "Name", "SpecVersion", "Description", "StartAt", "States")
SCOPE_FIELDS = ("StartAt", "States", "Description")
COMMON_FIELDS = ("Name", "Type", "Description", "Next", "End", "InputConstructor", "OutputConstructor")
_ERRORS = ("Retry", "Catch")
STATE_FIELDS: dict[str, tuple[str, ...]] = {
    "Task": ("Action", "TaskMode", "Parameters", "Timeout", *_ERRORS),
    "Pass": (),
    "Choice": ("Branches", "Default"),
    "Parallel": ("Branches", *_ERRORS),
    "Map": (
        "ItemsPath",
        "Processor",
        "MaxConcurrency",
        "ProcessorConfig",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        *_ERRORS,
    ),
    "Wait": ("Seconds", "Timestamp"),
    "Succeed": (),
    "Fail": ("Code", "Detail"),
}
DYNAMIC_FIELDS = {"Wait": ("Seconds", "Timestamp")}  # fields documented to take ``X.$``
TERMINAL = ("Choice", "Succeed", "Fail")  # no Next (a Succeed may say End: true, as the docs do)
_RETRY_FIELDS = (
    "Errors",
    "Description",
    "MaxAttempts",
    "IntervalSeconds",
    "BackoffRate",
    "MaxBackoffSeconds",
)
_CATCH_FIELDS = ("Errors", "Description", "Next", "OutputConstructor")
DISTRIBUTED_ONLY: tuple[str, ...] = ("ItemReader", "ItemBatcher", "ResultWriter")
DISTRIBUTED_ONLY += ("ToleratedFailurePercentage", "ToleratedFailureCount")
_CONTEXT_FIELDS = {
    "Execution": ("Name", "Input"),
    "Current": ("Name", "Input", "Output", "Error", "RetryCount"),
}

# AWS States Language (and common look-alikes) → what to write in CloudFlow.
_ASL_HINTS = {
    "ErrorEquals": 'AWS States Language; use "Errors"',
    "Resource": 'AWS States Language; use "Action: FC:InvokeFunction" and "Parameters.resourceArn"',
    "ResultPath": "AWS States Language; CloudFlow has no ResultPath: shape the output with OutputConstructor",
    "ResultSelector": "AWS States Language; use OutputConstructor with $Output",
    "InputPath": "AWS States Language; use InputConstructor",
    "OutputPath": "AWS States Language; use OutputConstructor",
    "Assign": "AWS States Language; CloudFlow has no variables: pass data with Input/OutputConstructor",
    "Arguments": "AWS States Language (JSONata); use InputConstructor or Task Parameters",
    "Output": "AWS States Language (JSONata); use OutputConstructor",
    "QueryLanguage": "AWS States Language; CloudFlow expressions are $Input/$Output/$Context paths",
    "Comment": 'AWS States Language; use "Description"',
    "Choices": 'AWS States Language; use "Branches" with Condition and Next',
    "Iterator": 'AWS States Language; use "Processor" with StartAt and States',
    "ItemProcessor": 'AWS States Language; use "Processor" with StartAt and States',
    "ItemSelector": "AWS States Language; use InputConstructor",
    "MaxConcurrencyPath": "AWS States Language; CloudFlow documents MaxConcurrency as an integer only",
    "SecondsPath": 'AWS States Language; use "Seconds.$" with an expression',
    "TimestampPath": 'AWS States Language; use "Timestamp.$" with an expression',
    "TimeoutSeconds": 'AWS States Language; use "Timeout" (seconds, as in Timeout: "900")',
    "HeartbeatSeconds": "AWS States Language; CloudFlow has no heartbeat: use Timeout",
    "Cause": 'AWS States Language; use "Detail"',
    "Error": 'AWS States Language; use "Code"',
    "MaxDelaySeconds": 'AWS States Language; use "MaxBackoffSeconds"',
    "JitterStrategy": "AWS States Language; CloudFlow retries have no jitter setting",
    "Version": 'AWS States Language; use "SpecVersion: v1"',
}
_NOT_TASK_PARAMETERS = "only Task states take Parameters; use InputConstructor"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow: where (state path and field) and what."""

    path: str
    field: str
    message: str

    def __str__(self) -> str:
        where = self.path or "flow"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


def suggest(word: str, choices: Iterable[str]) -> str:
    options = list(choices)
    folded = {c.lower(): c for c in options}
    best = folded.get(word.lower()) or next(
        iter(difflib.get_close_matches(word, options, n=1, cutoff=0.6)), None
    )
    return f'; did you mean "{best}"?' if best else ""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class FieldChecks:
    """Field-level checks; subclasses walk the spec and call them."""

    known_arns: Collection[str] | None
    problems: list[Problem]

    def add(self, path: str, field: str, message: str) -> None:
        self.problems.append(Problem(path, field, message))

    # -- top level and scopes -------------------------------------------------------------------

    def fields(
        self,
        path: str,
        obj: Mapping[str, Any],
        allowed: tuple[str, ...],
        what: str,
        dynamic: tuple[str, ...] = (),
    ) -> None:
        """Report unknown, AWS-only or misspelled keys of ``obj`` (``X.$`` allowed for ``dynamic``)."""
        for key in obj:
            key_s = str(key)
            base = key_s[:-2] if key_s.endswith(".$") else key_s
            if key_s in allowed or (key_s.endswith(".$") and base in dynamic):
                continue
            if key_s == "MaxConcurrency.$" and base in allowed:
                self.add(
                    path,
                    key_s,
                    "CloudFlow documents MaxConcurrency as an integer only; an expression may be "
                    "refused at deploy time, so write a whole number (e.g. MaxConcurrency: 10)",
                )
            elif key_s.endswith(".$") and base in allowed:
                self.add(path, key_s, f"{base} does not take an expression in {what}")
            elif key_s == "Parameters":
                self.add(path, key_s, _NOT_TASK_PARAMETERS)
            elif key_s in _ASL_HINTS:
                self.add(path, key_s, f'"{key_s}" is {_ASL_HINTS[key_s]}')
            else:
                self.add(path, key_s, f'"{key_s}" is not a field of {what}{suggest(key_s, allowed)}')
        if any(str(k).endswith(".$") and str(k)[:-2] in obj for k in obj):
            dup = next(str(k) for k in obj if str(k).endswith(".$") and str(k)[:-2] in obj)
            self.add(path, dup, f"{dup[:-2]} is given both as a value and as an expression; keep one")

    def target(self, path: str, field: str, value: Any, names: Mapping[str, Any], scope: str) -> None:
        if not isinstance(value, str) or not value:
            self.add(path, field, f"must name a state, got {value!r}")
        elif value not in names:
            self.add(path, field, f"{value!r} is not a state in {scope}{suggest(value, names)}")

    # -- per type ---------------------------------------------------------------------------------

    def retry(self, path: str, rules: Any) -> None:
        for i, rule in self.rules(path, "Retry", rules):
            field = f"Retry[{i}]"
            self.fields(path, rule, _RETRY_FIELDS, "a Retry rule")
            for key, lo, hi, whole in (
                ("IntervalSeconds", 1, 86400, True),
                ("MaxAttempts", 0, None, True),
                ("BackoffRate", 1, None, False),
                ("MaxBackoffSeconds", 1, 86400, True),
            ):
                if key not in rule:
                    continue
                val = rule[key]
                ok = (is_int(val) if whole else _is_number(val)) and lo <= val and (hi is None or val <= hi)
                if not ok:
                    kind = "a whole number" if whole else "a number"
                    rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
                    self.add(path, f"{field}.{key}", f"must be {kind} in {rng}, got {val!r}")

    def catch(self, path: str, rules: Any, names: Mapping[str, Any], scope: str) -> None:
        for i, rule in self.rules(path, "Catch", rules):
            field = f"Catch[{i}]"
            self.fields(path, rule, _CATCH_FIELDS, "a Catch rule")
            if "Next" not in rule:
                self.add(path, f"{field}.Next", "a Catch rule needs Next: the state that handles the error")
            else:
                self.target(path, f"{field}.Next", rule["Next"], names, scope)
            if "OutputConstructor" in rule:
                self.constructor(path, f"{field}.OutputConstructor", rule["OutputConstructor"], output=True)

    def rules(self, path: str, field: str, rules: Any) -> list[tuple[int, Mapping[str, Any]]]:
        """The well-formed rules of a Retry/Catch list, after checking their ``Errors``."""
        if rules is None:
            return []
        if not isinstance(rules, list):
            self.add(path, field, f"must be a list of rules, got {type(rules).__name__}")
            return []
        good: list[tuple[int, Mapping[str, Any]]] = []
        wildcard_at: int | None = None
        for i, rule in enumerate(rules):
            where = f"{field}[{i}]"
            if not isinstance(rule, Mapping):
                self.add(path, where, f"a {field} rule must be a mapping, got {type(rule).__name__}")
                continue
            if wildcard_at is not None:
                self.add(
                    path, where, f"never used: {field}[{wildcard_at}] matches FnF.ALL first; put FnF.ALL last"
                )
            errors = rule.get("Errors")
            if "Errors" not in rule:
                self.add(
                    path, f"{where}.Errors", f"a {field} rule needs Errors (a list of error names or FnF.ALL)"
                )
            elif (
                not isinstance(errors, list)
                or not errors
                or not all(isinstance(e, str) and e for e in errors)
            ):
                self.add(path, f"{where}.Errors", f"must be a non-empty list of error names, got {errors!r}")
            else:
                for err in errors:
                    if err.startswith("States."):
                        hint = (
                            "use FnF.ALL" if err == "States.ALL" else "CloudFlow names errors FnF.* and FC.*"
                        )
                        self.add(
                            path, f"{where}.Errors", f"{err!r} is an AWS States Language error name; {hint}"
                        )
                if "FnF.ALL" in errors and wildcard_at is None:
                    wildcard_at = i
            good.append((i, rule))
        return good

    # -- expressions --------------------------------------------------------------------------------

    def constructor(self, path: str, field: str, value: Any, *, output: bool) -> None:
        """Check every ``key.$`` expression in a constructor (recursively)."""
        if not isinstance(value, Mapping):
            if field.endswith("Constructor"):
                self.add(path, field, f"must be a mapping, got {type(value).__name__}")
            return
        for key, sub in value.items():
            key_s, where = str(key), f"{field}.{key}"
            if key_s.endswith(".$"):
                if key_s[:-2] in value:
                    self.add(path, where, f"{key_s[:-2]!r} is given both as a value and as an expression")
                self.expression(path, where, sub, output=output)
            elif isinstance(sub, Mapping):
                self.constructor(path, where, sub, output=output)
            elif isinstance(sub, list):
                for j, item in enumerate(sub):
                    self.constructor(path, f"{where}[{j}]", item, output=output)
            elif isinstance(sub, str) and re.match(r"\$(Input|Output|Context)\b", sub):
                self.add(
                    path,
                    where,
                    f"{sub!r} looks like an expression but is a literal string; "
                    f'name the key "{key_s}.$" to evaluate it',
                )

    def expression(self, path: str, field: str, text: Any, *, output: bool) -> None:
        if isinstance(text, str) and re.match(r"\s*\$\.", text):
            self.add(
                path,
                field,
                f"{text!r} is JSONPath; CloudFlow expressions start from $Input "
                f"(e.g. {'$Input.' + text.strip()[2:]!r})",
            )
            return
        try:
            parsed = parse_expression(text)
        except ExpressionError as exc:
            self.add(path, field, f"invalid {exc.message}")
            return
        for ref in parsed.paths():
            self.references(path, field, ref.root, [s for s in ref.steps if isinstance(s, str)], output)

    def references(self, path: str, field: str, root: str, steps: list[str], output: bool) -> None:
        if root == "Output" and not output:
            self.add(path, field, "$Output is only available inside an OutputConstructor; use $Input here")
        if root == "Context":
            if not steps or steps[0] not in _CONTEXT_FIELDS:
                self.add(path, field, "$Context must be followed by .Execution or .Current")
            elif len(steps) < 2 or steps[1] not in _CONTEXT_FIELDS[steps[0]]:
                allowed = ", ".join(_CONTEXT_FIELDS[steps[0]])
                got = f" (got {steps[1]!r})" if len(steps) > 1 else ""
                self.add(path, field, f"$Context.{steps[0]} has fields {allowed}{got}")

    def condition(self, path: str, field: str, text: Any) -> None:
        if not isinstance(text, str) or not text.strip():
            self.add(path, field, f"a Condition must be a non-empty expression string, got {text!r}")
            return
        if _JSONPATH.search(text):
            self.add(path, field, f"{text!r} uses JSONPath ($.x); CloudFlow paths start from $Input")
            return
        try:
            parse_condition(text)
        except ExpressionError as exc:
            self.add(path, field, f"invalid condition: {exc.message}")
            return
        for ref in _COND_PATH.findall(_QUOTED.sub('""', text)):
            self.expression(path, field, ref, output=False)


_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'|`[^`]*`""")
_JSONPATH = re.compile(r"\$\.")
_COND_PATH = re.compile(
    r"""\$[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[-?\d+\]|\["[^"]*"\]|\['[^']*'\])*"""
)
