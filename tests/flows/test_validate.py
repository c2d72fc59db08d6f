"""The flow validator: the real flow is clean, and every rule rejects with the state and the reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows._validate import (
    FlowValidationError,
    Problem,
    check_flow,
    embedded_gaps,
    load_flow,
    validate_flow,
)
from steps import registry

REAL_FLOW = Path(__file__).resolve().parents[2] / "flows" / "video_insight.yaml"

BASE = yaml.safe_load(
    """
Type: StateMachine
Name: demo
SpecVersion: v1
StartAt: Prepare
States:
  - Type: Task
    Name: Prepare
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/video-insight-prepare
      invocationType: Sync
      body.$: $Input
    OutputConstructor:
      video_ids.$: $Output.Body.video_ids
    Timeout: "60"
    Retry:
      - Errors: [FC.Unknown]
        IntervalSeconds: 1
        MaxAttempts: 2
        BackoffRate: 2
    Catch:
      - Errors: [FnF.ALL]
        OutputConstructor:
          error.$: $Context.Current.Error
        Next: Failed
    Next: Videos
  - Type: Map
    Name: Videos
    ItemsPath: $Input.video_ids
    MaxConcurrency: 4
    Processor:
      StartAt: Fetch
      States:
        - Type: Task
          Name: Fetch
          Action: FC:InvokeFunction
          Parameters:
            resourceArn: acs:fc:::functions/video-insight-fetch
            body:
              video_id.$: $Input
              task_id.$: $Context.Execution.Input.task_id
          Catch:
            - Errors: [FnF.ALL]
              Next: VideoFailed
          Next: Understand
        - Type: Parallel
          Name: Understand
          Branches:
            - StartAt: Transcribe
              States:
                - Type: Pass
                  Name: Transcribe
                  End: true
            - StartAt: Pause
              States:
                - Type: Wait
                  Name: Pause
                  Seconds: 1
                  End: true
          Next: Route
        - Type: Choice
          Name: Route
          Branches:
            - Condition: $Input.Branch0.ok == true && $Context.Current.RetryCount < 2
              Next: Done
          Default: VideoFailed
        - Type: Succeed
          Name: Done
        - Type: Pass
          Name: VideoFailed
          End: true
    Next: Finish
  - Type: Pass
    Name: Finish
    End: true
  - Type: Fail
    Name: Failed
    Code: TaskFailed
    Detail: the request was invalid
"""
)


def state(flow: dict[str, Any], path: str) -> dict[str, Any]:
    """The state at ``Videos/Processor/Fetch``-style ``path`` (``Branches[i]`` for Parallel)."""
    node: dict[str, Any] = flow
    for part in path.split("/"):
        if part == "Processor":
            node = node["Processor"]
        elif part.startswith("Branches["):
            node = node["Branches"][int(part[9:-1])]
        else:
            node = next(s for s in node["States"] if s["Name"] == part)
    return node


def problems_after(change: Callable[[dict[str, Any]], object], **kw: Any) -> list[Problem]:
    flow = copy.deepcopy(BASE)
    change(flow)
    return validate_flow(flow, **kw)


def assert_problem(found: list[Problem], path: str, field: str, *fragments: str) -> None:
    """One of ``found`` is at ``path``/``field`` and its message contains every fragment."""
    for p in found:
        if p.path == path and p.field == field and all(f in p.message for f in fragments):
            return
    listing = "\n".join(map(str, found)) or "(no problems)"
    raise AssertionError(f"no problem at {path}: {field} with {fragments}; got:\n{listing}")


def test_base_flow_is_valid() -> None:
    assert validate_flow(BASE) == []
    assert validate_flow(BASE, known_arns=registry()) == []


def test_real_flow_is_valid_with_the_step_registry() -> None:
    assert [str(p) for p in validate_flow(REAL_FLOW, known_arns=registry())] == []
    spec = check_flow(load_flow(REAL_FLOW), known_arns=registry())
    assert spec["StartAt"] == "Prepare"


def test_misspelled_field_suggests_the_closest() -> None:
    found = problems_after(
        lambda f: state(f, "Prepare").__setitem__("Retyr", state(f, "Prepare").pop("Retry"))
    )
    assert_problem(found, "Prepare", "Retyr", '"Retyr" is not a field of a Task state; did you mean "Retry"?')


def test_lowercase_field_suggests_the_capitalised_one() -> None:
    found = problems_after(lambda f: state(f, "Finish").__setitem__("end", state(f, "Finish").pop("End")))
    assert_problem(found, "Finish", "end", 'did you mean "End"?')
    assert_problem(found, "Finish", "Next", "needs Next")


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("ResultPath", "$.result", "no ResultPath"),
        ("Resource", "acs:fc:::functions/x", "Parameters.resourceArn"),
        ("Assign", {"x": 1}, "no variables"),
        ("ResultSelector", {"a": 1}, "OutputConstructor"),
        ("InputPath", "$.a", "use InputConstructor"),
        ("Comment", "hello", 'use "Description"'),
        ("TimeoutSeconds", 10, 'use "Timeout"'),
    ],
)
def test_aws_states_language_fields_get_a_cloudflow_hint(field: str, value: Any, hint: str) -> None:
    found = problems_after(lambda f: state(f, "Prepare").__setitem__(field, value))
    assert_problem(found, "Prepare", field, "AWS States Language", hint)


def test_error_equals_and_states_all() -> None:
    def change(f: dict[str, Any]) -> None:
        rule = state(f, "Prepare")["Retry"][0]
        rule["ErrorEquals"] = rule.pop("Errors")
        state(f, "Videos/Processor/Fetch")["Catch"][0]["Errors"] = ["States.ALL"]

    found = problems_after(change)
    assert_problem(found, "Prepare", "ErrorEquals", 'use "Errors"')
    assert_problem(found, "Prepare", "Retry[0].Errors", "needs Errors")
    assert_problem(found, "Videos/Processor/Fetch", "Catch[0].Errors", "'States.ALL'", "use FnF.ALL")


def test_parameters_on_a_non_task_state() -> None:
    found = problems_after(lambda f: state(f, "Finish").__setitem__("Parameters", {"a": 1}))
    assert_problem(found, "Finish", "Parameters", "only Task states take Parameters")


def test_jsonpath_items_path() -> None:
    found = problems_after(lambda f: state(f, "Videos").__setitem__("ItemsPath", "$.video_ids"))
    assert_problem(found, "Videos", "ItemsPath", "JSONPath", "'$Input.video_ids'")


def test_missing_next() -> None:
    found = problems_after(lambda f: state(f, "Finish").pop("End"))
    assert_problem(found, "Finish", "Next", "needs Next (the state that follows) or End: true")


def test_dangling_next_suggests_a_state() -> None:
    found = problems_after(lambda f: state(f, "Videos").__setitem__("Next", "Fnish"))
    assert_problem(found, "Videos", "Next", "'Fnish' is not a state in the flow", 'did you mean "Finish"?')


def test_next_into_another_scope_is_dangling() -> None:
    found = problems_after(lambda f: state(f, "Videos/Processor/Fetch").__setitem__("Next", "Finish"))
    assert_problem(
        found, "Videos/Processor/Fetch", "Next", "'Finish' is not a state in the Processor of Map 'Videos'"
    )


def test_next_and_end() -> None:
    found = problems_after(lambda f: state(f, "Finish").__setitem__("Next", "Failed"))
    assert_problem(found, "Finish", "Next", "both Next and End")


def test_terminal_states_take_no_next() -> None:
    def change(f: dict[str, Any]) -> None:
        state(f, "Failed")["Next"] = "Finish"
        state(f, "Videos/Processor/Route")["End"] = True

    found = problems_after(change)
    assert_problem(found, "Failed", "Next", "a Fail state takes no Next")
    assert_problem(found, "Videos/Processor/Route", "End", "a Choice state takes no End", "Default")


def test_unreachable_state() -> None:
    found = problems_after(lambda f: f["States"].append({"Type": "Pass", "Name": "Orphan", "End": True}))
    assert_problem(found, "Orphan", "", "'Orphan' is unreachable")


def test_unreachable_state_in_a_parallel_branch() -> None:
    found = problems_after(
        lambda f: state(f, "Videos/Processor/Understand/Branches[1]")["States"].append(
            {"Type": "Pass", "Name": "Lost", "End": True}
        )
    )
    assert_problem(found, "Videos/Processor/Understand/Branches[1]/Lost", "", "unreachable")


def test_duplicate_names_within_a_scope() -> None:
    dup = {"Type": "Pass", "Name": "Done", "End": True}
    found = problems_after(lambda f: state(f, "Videos/Processor")["States"].append(dup))
    assert_problem(found, "Videos/Processor/Done", "Name", "duplicate state name 'Done'")


def test_same_name_in_different_scopes_is_allowed() -> None:
    found = problems_after(
        lambda f: state(f, "Videos/Processor/Understand/Branches[0]").update(StartAt="Done")
    )
    assert_problem(found, "Videos/Processor/Understand/Branches[0]", "StartAt", "'Done' is not a state")
    renamed = problems_after(lambda f: state(f, "Videos/Processor/Done").__setitem__("Name", "Finish"))
    assert [p for p in renamed if p.field == "Name"] == []


@pytest.mark.parametrize("name", ["9lives", "has space", "x" * 129, "dot.name", "a/b", "a#2", "视频 理解"])
def test_invalid_state_names(name: str) -> None:
    found = problems_after(lambda f: state(f, "Failed").__setitem__("Name", name))
    assert_problem(found, name, "Name", "is not a valid state name", "letters of any script")


@pytest.mark.parametrize("name", ["视频理解", "一键成片", "Prompt拼接", "_x", "a-b_9", "x" * 128])
def test_state_names_as_the_vendor_docs_write_them(name: str) -> None:
    def rename(f: dict[str, Any]) -> None:
        state(f, "Failed")["Name"] = name
        state(f, "Prepare")["Catch"][0]["Next"] = name

    assert problems_after(rename) == []


def test_flow_names_keep_the_strict_rule() -> None:
    assert_problem(problems_after(lambda f: f.update(Name="视频理解")), "", "Name", "is not a valid name")


def test_succeed_may_say_end_true_but_nothing_else() -> None:
    assert problems_after(lambda f: state(f, "Videos/Processor/Done").update(End=True)) == []
    found = problems_after(lambda f: state(f, "Videos/Processor/Done").update(End=False))
    assert_problem(found, "Videos/Processor/Done", "End", "a Succeed state takes no End")
    found = problems_after(lambda f: state(f, "Videos/Processor/Done").update(Next="VideoFailed"))
    assert_problem(found, "Videos/Processor/Done", "Next", "a Succeed state takes no Next")
    found = problems_after(lambda f: state(f, "Failed").update(End=True))
    assert_problem(found, "Failed", "End", "a Fail state takes no End")


def test_map_without_items_path_or_processor() -> None:
    def change(f: dict[str, Any]) -> None:
        state(f, "Videos").pop("ItemsPath")
        state(f, "Videos").pop("Processor")

    found = problems_after(change)
    assert_problem(found, "Videos", "ItemsPath", "a Map needs ItemsPath")
    assert_problem(found, "Videos", "Processor", "a Map needs a Processor")


@pytest.mark.parametrize("value", [41, -1, 2.5, "8"])
def test_inline_map_concurrency_range(value: Any) -> None:
    found = problems_after(lambda f: state(f, "Videos").__setitem__("MaxConcurrency", value))
    assert_problem(found, "Videos", "MaxConcurrency", "0..40 for an inline Map", repr(value))


def test_max_concurrency_expression() -> None:
    def use(expr: str) -> Callable[[dict[str, Any]], None]:
        def change(f: dict[str, Any]) -> None:
            del state(f, "Videos")["MaxConcurrency"]
            state(f, "Videos")["MaxConcurrency.$"] = expr

        return change

    found = problems_after(use("$Input.max_concurrency"))
    assert_problem(found, "Videos", "MaxConcurrency.$", "documents MaxConcurrency as an integer only")
    assert_problem(found, "Videos", "MaxConcurrency.$", "refused at deploy time")


def test_distributed_map_allows_more_concurrency_and_tolerance_inline_does_not() -> None:
    def distributed(f: dict[str, Any]) -> None:
        state(f, "Videos").update(
            MaxConcurrency=100, ProcessorConfig={"ExecutionMode": "Express"}, ToleratedFailurePercentage=10
        )

    assert problems_after(distributed) == []
    found = problems_after(lambda f: state(f, "Videos").__setitem__("ToleratedFailureCount", 3))
    assert_problem(found, "Videos", "ToleratedFailureCount", "only for distributed mode")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("IntervalSeconds", 0, "1..86400"),
        ("IntervalSeconds", 86401, "1..86400"),
        ("MaxAttempts", -1, ">= 0"),
        ("BackoffRate", 0.5, ">= 1"),
    ],
)
def test_retry_numbers_out_of_range(key: str, value: Any, message: str) -> None:
    found = problems_after(lambda f: state(f, "Prepare")["Retry"][0].__setitem__(key, value))
    assert_problem(found, "Prepare", f"Retry[0].{key}", message, repr(value))


def test_catch_needs_errors_and_next() -> None:
    def change(f: dict[str, Any]) -> None:
        state(f, "Videos/Processor/Fetch")["Catch"] = [{"Description": "oops"}]

    found = problems_after(change)
    assert_problem(found, "Videos/Processor/Fetch", "Catch[0].Errors", "needs Errors")
    assert_problem(found, "Videos/Processor/Fetch", "Catch[0].Next", "needs Next")


def test_rule_after_fnf_all_is_never_used() -> None:
    extra = {"Errors": ["FC.Unknown"], "Next": "Failed"}
    found = problems_after(lambda f: state(f, "Prepare")["Catch"].append(extra))
    assert_problem(found, "Prepare", "Catch[1]", "never used", "FnF.ALL")


def test_task_without_action_or_resource_arn() -> None:
    def change(f: dict[str, Any]) -> None:
        del state(f, "Prepare")["Action"]
        del state(f, "Videos/Processor/Fetch")["Parameters"]["resourceArn"]

    found = problems_after(change)
    assert_problem(found, "Prepare", "Action", "a Task needs an Action")
    assert_problem(found, "Videos/Processor/Fetch", "Parameters.resourceArn", "needs Parameters.resourceArn")


def test_unknown_arn_only_with_known_arns() -> None:
    def change(f: dict[str, Any]) -> None:
        state(f, "Videos/Processor/Fetch")["Parameters"]["resourceArn"] = (
            "acs:fc:::functions/video-insight-fetc"
        )

    assert problems_after(change) == []
    found = problems_after(change, known_arns=registry())
    assert_problem(
        found,
        "Videos/Processor/Fetch",
        "Parameters.resourceArn",
        "unknown function 'acs:fc:::functions/video-insight-fetc'",
        'did you mean "acs:fc:::functions/video-insight-fetch"?',
    )


def test_top_level_type_version_and_start() -> None:
    found = problems_after(lambda f: f.update(Type="Flow", SpecVersion="v2", StartAt="Prep"))
    assert_problem(found, "", "Type", "must be StateMachine")
    assert_problem(found, "", "SpecVersion", "must be v1")
    assert_problem(found, "", "StartAt", "'Prep' is not a state in the flow", 'did you mean "Prepare"?')


def test_states_keyed_by_name_is_aws_style() -> None:
    found = problems_after(lambda f: f.update(States={"Prepare": {"Type": "Pass"}}))
    assert_problem(found, "", "States", "must be a list", "AWS States Language")


def test_legacy_fdl_is_rejected_with_a_hint() -> None:
    legacy = "version: v1\ntype: flow\nsteps:\n  - type: pass\n    name: hello\n"
    (problem,) = validate_flow(legacy)
    assert "legacy FDL" in problem.message and "Type: StateMachine" in problem.message


def test_unknown_state_type_suggests() -> None:
    found = problems_after(lambda f: state(f, "Finish").__setitem__("Type", "Pas"))
    assert_problem(found, "Finish", "Type", "unknown state type 'Pas'", 'did you mean "Pass"?')
    found = problems_after(lambda f: state(f, "Finish").pop("Type"))
    assert_problem(found, "Finish", "Type", "every state needs a Type")


@pytest.mark.parametrize(
    ("where", "field", "expr", "message"),
    [
        ("Prepare", "InputConstructor", "$Input..a", "invalid expression"),
        (
            "Prepare",
            "InputConstructor",
            "$Output.Body",
            "$Output is only available inside an OutputConstructor",
        ),
        ("Prepare", "OutputConstructor", "$Context.Current.Foo", "$Context.Current has fields"),
        ("Prepare", "OutputConstructor", "$Context.Flow.Name", "unknown $Context field 'Flow'"),
        ("Prepare", "OutputConstructor", "$Inptu.a", "unknown root $Inptu"),
    ],
)
def test_bad_expressions(where: str, field: str, expr: str, message: str) -> None:
    found = problems_after(lambda f: state(f, where).__setitem__(field, {"x.$": expr}))
    assert_problem(found, where, f"{field}.x.$", message)


def test_expression_in_a_nested_parameter() -> None:
    def change(f: dict[str, Any]) -> None:
        state(f, "Videos/Processor/Fetch")["Parameters"]["body"]["task_id.$"] = "$Output.task"

    found = problems_after(change)
    assert_problem(found, "Videos/Processor/Fetch", "Parameters.body.task_id.$", "$Output is only available")


def test_expression_written_as_a_literal() -> None:
    found = problems_after(
        lambda f: state(f, "Prepare").__setitem__("OutputConstructor", {"ids": "$Output.Body"})
    )
    assert_problem(found, "Prepare", "OutputConstructor.ids", "looks like an expression", '"ids.$"')


def test_choice_rules() -> None:
    def change(f: dict[str, Any]) -> None:
        route = state(f, "Videos/Processor/Route")
        route["Branches"][0]["Condition"] = "$Input.ok = true"
        del route["Default"]

    found = problems_after(change)
    assert_problem(found, "Videos/Processor/Route", "Branches[0].Condition", "invalid condition", "'= true'")
    assert_problem(found, "Videos/Processor/Route", "Default", "needs Default")


def test_wait_needs_exactly_one_duration() -> None:
    def change(f: dict[str, Any]) -> None:
        wait = state(f, "Videos/Processor/Understand/Branches[1]/Pause")
        wait["Timestamp"] = "2025-01-02T15:04:05Z"

    found = problems_after(change)
    assert_problem(found, "Videos/Processor/Understand/Branches[1]/Pause", "Seconds", "exactly one of")
    found = problems_after(
        lambda f: state(f, "Videos/Processor/Understand/Branches[1]/Pause").update(Seconds=0)
    )
    assert_problem(found, "Videos/Processor/Understand/Branches[1]/Pause", "Seconds", "1..300")


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("Type: StateMachine\nStates:\n  - Name: A\n    Description: a: b\n", encoding="utf-8")
    with pytest.raises(FlowValidationError) as err:
        load_flow(bad)
    assert "line 4, column 19" in str(err.value) and "quote a value" in str(err.value)
    assert [p.message for p in validate_flow(bad)] == [p.message for p in err.value.problems]


def test_duplicate_yaml_key_is_an_error() -> None:
    text = "Type: StateMachine\nName: a\nName: b\n"
    (problem,) = validate_flow(text)
    assert "duplicate key 'Name'" in problem.message and "line 3" in problem.message


def test_check_flow_raises_with_every_problem() -> None:
    flow = copy.deepcopy(BASE)
    state(flow, "Finish").pop("End")
    state(flow, "Prepare")["ResultPath"] = "$.x"
    with pytest.raises(FlowValidationError) as err:
        check_flow(flow)
    assert len(err.value.problems) == 2
    assert "Finish: Next: needs Next" in str(err.value) and "Prepare: ResultPath:" in str(err.value)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            '$Output.Body.ok == true && $Input.s != "$Output"',
            "$Output is only available inside an OutputConstructor",
        ),
        ("$Context.Current.Retries > 2", "$Context.Current has fields"),
        ("$.status == 'ready'", "JSONPath"),
        ("($Input.n > 2", "invalid condition"),
        ("len($Input.items) > 2", "invalid condition"),
        ("lenght($Input.items) > 2", 'unknown built-in function lenght(); did you mean "length"?'),
        ("length($Output.Body) > 2", "$Output is only available inside an OutputConstructor"),
    ],
)
def test_bad_conditions(condition: str, message: str) -> None:
    found = problems_after(
        lambda f: state(f, "Videos/Processor/Route")["Branches"][0].update(Condition=condition)
    )
    assert_problem(found, "Videos/Processor/Route", "Branches[0].Condition", message)
    assert len(found) == 1


def test_paths_inside_condition_strings_are_not_checked() -> None:
    for cond in ('$Input.label == "$Output.x" || !$Input.skip', "$Input.label == `$Output.x`"):
        found = problems_after(
            lambda f, c=cond: state(f, "Videos/Processor/Route")["Branches"][0].update(Condition=c)
        )
        assert found == [], cond


def test_other_integrations_are_valid_cloudflow_but_gaps_for_the_embedded_engine() -> None:
    def dashscope(f: dict[str, Any]) -> None:
        state(f, "Videos/Processor/Fetch").update(
            Action="DashScope:QwenTextGeneration",
            Parameters={"model": "qwen-plus", "prompt.$": "format('总结: {}', $Input)"},
        )

    assert problems_after(dashscope) == []
    flow = copy.deepcopy(BASE)
    dashscope(flow)
    gaps = embedded_gaps(flow, known_arns=registry())
    assert_problem(gaps, "Videos/Processor/Fetch", "Action", "not DashScope:QwenTextGeneration")
    assert [str(p) for p in validate_flow(flow, known_arns=registry())] == [str(p) for p in gaps]


def test_a_child_flow_other_than_this_one_is_a_gap() -> None:
    def child(arn: str, mode: str = "WaitForSystemCallback") -> Callable[[dict[str, Any]], None]:
        def change(f: dict[str, Any]) -> None:
            state(f, "Videos/Processor/Fetch").update(
                Action="FNF:StartExecution", TaskMode=mode, Parameters={"resourceArn": arn, "input": {}}
            )

        return change

    for change in (
        child("acs:fnf:::flow/demo"),
        child("acs:fnf:::flow/other"),
        child("acs:fnf:::flow/demo", "RequestComplete"),
    ):
        assert problems_after(change) == []
    assert problems_after(child("acs:fnf:::flow/demo"), known_arns=registry()) == []
    other = problems_after(child("acs:fnf:::flow/other"), known_arns=registry())
    assert_problem(other, "Videos/Processor/Fetch", "Parameters.resourceArn", "only its own flow ('demo')")
    callback = problems_after(child("acs:fnf:::flow/demo", "WaitForCustomCallback"), known_arns=registry())
    assert_problem(callback, "Videos/Processor/Fetch", "TaskMode", "not WaitForCustomCallback")
    bad = problems_after(child("acs:fc:::functions/x"))
    assert_problem(bad, "Videos/Processor/Fetch", "Parameters.resourceArn", "must be a flow ARN")


@pytest.mark.parametrize("action", ["InvokeFunction", "FC:", "fc invoke", "FC:Invoke:Function"])
def test_action_must_be_service_colon_operation(action: str) -> None:
    found = problems_after(lambda f: state(f, "Prepare").__setitem__("Action", action))
    assert_problem(found, "Prepare", "Action", "must be Service:Operation")


@pytest.mark.parametrize(
    "expr",
    [
        "format('{}-part-{}', $Context.Execution.Input.task_id, $Input.n)",
        "length($Input.video_ids)",
        "jsonMerge($Input, {\"k\": toArray(1, 'a', null)})",
        "intAdd(get($Input.items, 0), randomInt(1, 10))",
        'hash(jsonToString(mapValues($Input)), "SHA-256")',
        "regexMatchString('^v[0-9]+$', split(uuid(), '-')[0])".replace("[0]", ""),
    ],
)
def test_built_in_functions_in_expressions(expr: str) -> None:
    assert (
        problems_after(lambda f: state(f, "Videos/Processor/Fetch")["Parameters"].update({"x.$": expr})) == []
    )


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("fromat('{}', $Input)", 'unknown built-in function fromat(); did you mean "format"?'),
        ("length($Input, 2)", "length() takes 1 argument(s), got 2"),
        ("format()", "format() takes at least 1 argument(s), got 0"),
        ("length($Output.Body)", "$Output is only available inside an OutputConstructor"),
        ("length($Context.Current.Nope)", "$Context.Current has fields"),
        ("length($Input", "expected ',' or ')' but the expression ended"),
        ("length($Input) x", "unexpected 'x' after the end"),
        ("jsonMerge({a: 1}, {})", "an object key must be a quoted string"),
        ("length(" * 11 + "'x'" + ")" * 11, "more than 10 nested function calls"),
    ],
)
def test_bad_built_in_calls(expr: str, message: str) -> None:
    found = problems_after(lambda f: state(f, "Videos/Processor/Fetch")["Parameters"].update({"x.$": expr}))
    assert_problem(found, "Videos/Processor/Fetch", "Parameters.x.$", message)


def test_ten_nested_calls_are_allowed() -> None:
    expr = "length(" + "toArray(" * 9 + "1" + ")" * 10
    assert (
        problems_after(lambda f: state(f, "Videos/Processor/Fetch")["Parameters"].update({"x.$": expr})) == []
    )


def test_task_modes_are_the_three_documented() -> None:
    found = problems_after(lambda f: state(f, "Prepare").__setitem__("TaskMode", "Requestcomplete"))
    assert_problem(
        found, "Prepare", "TaskMode", "must be one of RequestComplete", 'did you mean "RequestComplete"?'
    )

    def callback(f: dict[str, Any]) -> None:
        state(f, "Prepare")["TaskMode"] = "WaitForCustomCallback"

    assert problems_after(callback) == []
    gaps = problems_after(callback, known_arns=registry())
    assert_problem(gaps, "Prepare", "TaskMode", "no task-callback API")
