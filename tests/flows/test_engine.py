"""The embedded engine: every state type, Retry/Catch, timeouts, limits, concurrency, names."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows import Execution, ExecutionStatus, TaskContext
from flows._engine import Engine
from flows._errors import ExecutionAlreadyExists, SpecError, StateSizeExceeded
from flows._history import ExecutionStore
from steps import flow_steps

ROOT = Path(__file__).resolve().parents[2]
Handler = Callable[[Any, TaskContext], Any]


def arn(name: str) -> str:
    return f"acs:fc:::functions/{name}"


def task(name: str, fn: str, **fields: Any) -> dict[str, Any]:
    state = {"Type": "Task", "Name": name, "Action": "FC:InvokeFunction"}
    state["Parameters"] = {"resourceArn": arn(fn), "body.$": "$Input"}
    state.update(fields)
    if "Next" not in fields:
        state["End"] = True
    return state


def flow(*states: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "StateMachine",
        "Name": "t",
        "SpecVersion": "v1",
        "StartAt": states[0]["Name"],
        "States": list(states),
    }


class Fixture:
    def __init__(self, tmp: Path) -> None:
        self.store = ExecutionStore(tmp / "executions")
        self.delays: list[float] = []
        self.runs = 0

    def engine(self, spec: dict[str, Any], fns: dict[str, Handler], **kw: Any) -> Engine:
        registry = {arn(k): v for k, v in fns.items()}
        return Engine(spec, registry, store=self.store, sleep=self.delays.append, **kw)

    def run(self, spec: dict[str, Any], fns: dict[str, Handler], inp: Any = None, **kw: Any) -> Execution:
        self.runs += 1
        return self.engine(spec, fns, **kw).start(f"e{self.runs}", inp, wait=True)


class Coded(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def flaky(codes: list[str], result: Any = "ok") -> tuple[Handler, list[TaskContext]]:
    """A handler that raises each code in turn, then returns ``result``; records its contexts."""
    calls: list[TaskContext] = []

    def fn(event: Any, ctx: TaskContext) -> Any:
        calls.append(ctx)
        if len(calls) <= len(codes):
            raise Coded(codes[len(calls) - 1], f"failure {len(calls)}")
        return result

    return fn, calls


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path)


def test_pass_constructors_wait_succeed(fx: Fixture) -> None:
    spec = flow(
        {
            "Type": "Pass",
            "Name": "A",
            "InputConstructor": {"x.$": "$Input.a"},
            "OutputConstructor": {"y.$": "$Input.x"},
            "Next": "W",
        },
        {"Type": "Wait", "Name": "W", "Seconds": 3, "Next": "Done"},
        {"Type": "Succeed", "Name": "Done"},
    )
    ex = fx.run(spec, {}, {"a": [1, 2]})
    assert (ex.status, ex.output, ex.error) == ("Succeeded", {"y": [1, 2]}, None)
    assert fx.delays == [3.0]


def test_wait_seconds_from_input_and_until_a_timestamp(fx: Fixture) -> None:
    soon = (datetime.now(timezone.utc) + timedelta(seconds=30)).isoformat()
    spec = flow(
        {"Type": "Wait", "Name": "W1", "Seconds.$": "$Input.delay", "Next": "W2"},
        {"Type": "Wait", "Name": "W2", "Timestamp.$": "$Input.at", "Next": "W3"},
        {"Type": "Wait", "Name": "W3", "Timestamp": "2020-01-01T00:00:00Z", "Next": "Done"},
        {"Type": "Succeed", "Name": "Done"},
    )
    ex = fx.run(spec, {}, {"delay": 7, "at": soon})
    assert ex.status == "Succeeded"
    assert fx.delays[0] == 7.0
    assert 25 < fx.delays[1] <= 30  # until the timestamp
    assert fx.delays[2] == 0.0  # a time in the past does not wait
    bad = fx.run(spec, {}, {"delay": "soon", "at": soon})
    assert bad.status == "Failed" and bad.error["Code"] == "FnF.ExpressionError"


@pytest.mark.parametrize(("delay", "ok"), [(0, True), (0.5, True), (-1, False), (True, False)])
def test_wait_seconds_must_be_a_number_of_at_least_zero(fx: Fixture, delay: Any, ok: bool) -> None:
    spec = flow({"Type": "Wait", "Name": "W", "Seconds.$": "$Input.delay", "End": True})
    ex = fx.run(spec, {}, {"delay": delay})
    if ok:
        assert ex.status == "Succeeded" and fx.delays == [float(delay)]
    else:
        assert ex.error == {
            "Code": "FnF.ExpressionError",
            "Detail": f"state 'W': Seconds must be a number ≥ 0, got {delay!r}",
        }


def test_a_timestamp_without_a_zone_is_utc(fx: Fixture) -> None:
    spec = flow({"Type": "Wait", "Name": "W", "Timestamp.$": "$Input.at", "End": True})
    soon = (datetime.now(timezone.utc) + timedelta(seconds=30)).replace(tzinfo=None).isoformat()
    assert fx.run(spec, {}, {"at": soon}).status == "Succeeded"
    assert 25 < fx.delays[0] <= 30


def test_choice_branches_default_and_no_match(fx: Fixture) -> None:
    spec = flow(
        {
            "Type": "Choice",
            "Name": "C",
            "Branches": [
                {"Condition": "$Input.n > 10", "Next": "Big"},
                {"Condition": "$Input.n > 5", "Next": "Mid"},
            ],
            "Default": "Small",
        },
        {"Type": "Pass", "Name": "Big", "OutputConstructor": {"size": "big"}, "End": True},
        {"Type": "Pass", "Name": "Mid", "OutputConstructor": {"size": "mid"}, "End": True},
        {"Type": "Pass", "Name": "Small", "OutputConstructor": {"size": "small"}, "End": True},
    )
    engine = fx.engine(spec, {})
    sizes = [engine.start(f"n{n}", {"n": n}, wait=True).output["size"] for n in (20, 7, 1)]
    assert sizes == ["big", "mid", "small"]
    del spec["States"][0]["Default"]
    ex = fx.engine(spec, {}).start("nomatch", {"n": 1}, wait=True)
    assert ex.status == "Failed" and ex.error == {
        "Code": "FnF.NoChoiceMatched",
        "Detail": "state 'C': no Choice branch matched and no Default",
    }


def test_fail_state_sets_code_and_detail(fx: Fixture) -> None:
    ex = fx.run(flow({"Type": "Fail", "Name": "F", "Code": "Bad.Thing", "Detail": "it broke"}), {})
    assert ex.status == "Failed" and ex.error == {"Code": "Bad.Thing", "Detail": "it broke"}


def test_task_event_context_and_output(fx: Fixture) -> None:
    seen: list[tuple[Any, TaskContext]] = []

    def fn(event: Any, ctx: TaskContext) -> Any:
        seen.append((event, ctx))
        return {"doubled": event["v"] * 2}

    spec = flow(
        task(
            "T",
            "f",
            Parameters={
                "resourceArn": arn("f"),
                "body": {"v.$": "$Input.v", "task.$": "$Context.Execution.Input.t"},
            },
            Timeout="30",
            OutputConstructor={"r.$": "$Output.Body.doubled", "in.$": "$Input.v"},
            Next="Raw",
        ),
        task("Raw", "f", Parameters={"resourceArn": arn("f"), "body": {"v.$": "$Input.r"}}),
    )
    before = time.monotonic()
    ex = fx.run(spec, {"f": fn}, {"v": 4, "t": "task-7"}, services={"settings": "S"})
    assert ex.status == "Succeeded"
    assert ex.output == {"Body": {"doubled": 16}}  # no OutputConstructor: the raw $Output
    event, ctx = seen[0]
    assert event == {"v": 4, "task": "task-7"}
    assert (ctx.execution, ctx.state, ctx.path, ctx.retry_count) == ("e1", "T", "T", 0)
    assert ctx.services == {"settings": "S"} and ctx.request_id
    assert ctx.deadline is not None and before + 29 < ctx.deadline < time.monotonic() + 30
    assert seen[1][1].deadline is None


def test_unknown_arn_is_an_error_at_construction(fx: Fixture) -> None:
    with pytest.raises(
        SpecError, match="state 'T': no function is registered for resourceArn 'acs:fc:::functions/nope'"
    ):
        fx.engine(flow(task("T", "nope")), {})


def test_retry_backoff_is_capped_and_counts_retries(fx: Fixture) -> None:
    fn, calls = flaky(["FC.Unknown"] * 4)
    retry = [
        {
            "Errors": ["FC.Unknown"],
            "IntervalSeconds": 1,
            "BackoffRate": 2,
            "MaxBackoffSeconds": 5,
            "MaxAttempts": 4,
        }
    ]
    ex = fx.run(
        flow(task("T", "f", Retry=retry, OutputConstructor={"n.$": "$Context.Current.RetryCount"})), {"f": fn}
    )
    assert ex.status == "Succeeded" and ex.output == {"n": 4}
    assert fx.delays == [1, 2, 4, 5]
    assert [c.retry_count for c in calls] == [0, 1, 2, 3, 4]


def test_a_state_output_over_the_limit_fails_the_state(fx: Fixture) -> None:
    """The constructors can make an output bigger than any input: the executor checks it too."""
    twice = {"a.$": "$Input.blob", "b.$": "$Input.blob"}
    spec = flow({"Type": "Pass", "Name": "P", "OutputConstructor": twice, "End": True})
    ex = fx.run(spec, {}, {"blob": "x" * 40_000})
    assert ex.error == {
        "Code": "FnF.StateSizeExceeded",
        "Detail": "state 'P': output is 80015 bytes, over the 65536-byte state limit",
    }


def test_the_input_constructor_and_the_catch_see_the_retry_count(fx: Fixture) -> None:
    seen: list[Any] = []

    def fn(event: Any, ctx: TaskContext) -> Any:
        seen.append(event)
        raise Coded("Flaky", "always")

    retry = [{"Errors": ["Flaky"], "MaxAttempts": 2}]
    catch = [
        {"Errors": ["FnF.ALL"], "Next": "Caught", "OutputConstructor": {"n.$": "$Context.Current.RetryCount"}}
    ]
    spec = flow(
        task("T", "f", Retry=retry, Catch=catch, InputConstructor={"try.$": "$Context.Current.RetryCount"}),
        {"Type": "Pass", "Name": "Caught", "End": True},
    )
    spec["States"][0].pop("End")
    spec["States"][0]["Next"] = "Caught"
    ex = fx.run(spec, {"f": fn})
    assert seen == [{"try": 0}, {"try": 1}, {"try": 2}] and ex.output == {"n": 2}


def test_the_task_body_sees_the_retry_count(fx: Fixture) -> None:
    fn, _ = flaky(["FC.Unknown"])
    seen: list[Any] = []
    retry = [{"Errors": ["FC.Unknown"], "MaxAttempts": 1}]
    body = {"resourceArn": arn("f"), "body": {"try.$": "$Context.Current.RetryCount"}}
    spec = flow(task("T", "f", Retry=retry, Parameters=body))
    ex = fx.run(spec, {"f": lambda e, c: seen.append(e) or fn(e, c)})
    assert ex.status == "Succeeded" and seen == [{"try": 0}, {"try": 1}]


def test_retries_exhausted_then_catch_with_error_and_input(fx: Fixture) -> None:
    fn, calls = flaky(["FC.Unknown"] * 10)
    spec = flow(
        task(
            "T",
            "f",
            Retry=[{"Errors": ["FC.Unknown"], "IntervalSeconds": 2, "MaxAttempts": 2}],
            Catch=[
                {"Errors": ["Other"], "Next": "Wrong"},
                {
                    "Errors": ["FnF.ALL"],
                    "Next": "Failed",
                    "OutputConstructor": {"id.$": "$Input.id", "error.$": "$Context.Current.Error"},
                },
            ],
            Next="Wrong",
        ),
        {"Type": "Pass", "Name": "Wrong", "End": True},
        {"Type": "Pass", "Name": "Failed", "End": True},
    )
    ex = fx.run(spec, {"f": fn}, {"id": "v1"})
    assert len(calls) == 3 and fx.delays == [2, 2]  # BackoffRate omitted: constant interval
    assert ex.output == {"id": "v1", "error": {"Code": "FC.Unknown", "Detail": "failure 3"}}


def test_first_matching_retry_rule_wins(fx: Fixture) -> None:
    fn, calls = flaky(["Flaky"] * 5)
    retry = [
        {"Errors": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1},
        {"Errors": ["FnF.ALL"], "IntervalSeconds": 9, "MaxAttempts": 5},
    ]
    ex = fx.run(flow(task("T", "f", Retry=retry)), {"f": fn})
    assert ex.status == "Failed" and ex.error == {"Code": "Flaky", "Detail": "failure 2"}
    assert len(calls) == 2 and fx.delays == [1]


def test_fnf_all_retries_anything(fx: Fixture) -> None:
    fn, calls = flaky(["Whatever.Code"])
    ex = fx.run(
        flow(task("T", "f", Retry=[{"Errors": ["FnF.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}])),
        {"f": fn},
    )
    assert ex.status == "Succeeded" and len(calls) == 2


def test_error_names_typed_code_vs_fc_unknown(fx: Fixture) -> None:
    def typed(event: Any, ctx: TaskContext) -> Any:
        raise Coded("NotAVideo", "an HTML page, not a video")

    def crash(event: Any, ctx: TaskContext) -> Any:
        raise ZeroDivisionError("division by zero")

    assert fx.engine(flow(task("T", "f")), {"f": typed}).start("a", wait=True).error == {
        "Code": "NotAVideo",
        "Detail": "an HTML page, not a video",
    }
    err = fx.engine(flow(task("T", "f")), {"f": crash}).start("b", wait=True).error
    assert err == {"Code": "FC.Unknown", "Detail": "ZeroDivisionError: division by zero"}


def timeout_retried_once(timeout: str = "0.2") -> dict[str, Any]:
    """One Task "T" (handler "f") with a short Timeout, retried once on FnF.TaskTimeout."""
    retry = [{"Errors": ["FnF.TaskTimeout"], "IntervalSeconds": 1, "MaxAttempts": 1}]
    return flow(task("T", "f", Timeout=timeout, Retry=retry))


def test_retry_after_timeout_waits_for_the_abandoned_attempt(fx: Fixture) -> None:
    """A timed-out attempt that finishes late never runs at the same time as its retry."""
    order: list[str] = []
    retry_due, retry_started = threading.Event(), threading.Event()

    def late(event: Any, ctx: TaskContext) -> Any:
        order.append(f"start {ctx.retry_count}")
        if ctx.retry_count == 0:  # outlives its Timeout; once the retry is due, gives it a chance
            retry_due.wait(10)  # to start too early, then returns well within the next Timeout
            retry_started.wait(0.3)
        retry_started.set()
        order.append(f"end {ctx.retry_count}")
        return "ok"

    engine = Engine(
        timeout_retried_once("1"), {arn("f"): late}, store=fx.store, sleep=lambda s: retry_due.set()
    )
    ex = engine.start("e1", wait=True)
    assert ex.status == "Succeeded"
    assert order == ["start 0", "end 0", "start 1", "end 1"]  # the retry began after the first ended


def test_timeout_becomes_task_timeout_and_is_retried(fx: Fixture) -> None:
    release = threading.Event()
    calls, returned = [], []

    def slow(event: Any, ctx: TaskContext) -> Any:
        calls.append(ctx.retry_count)
        release.wait(10)
        returned.append(ctx.retry_count)
        return "late"

    ex = fx.run(timeout_retried_once(), {"f": slow})
    assert returned == []  # the execution ended while both attempts were still blocked
    release.set()
    assert ex.status == "Failed" and ex.error["Code"] == "FnF.TaskTimeout" and "'T'" in ex.error["Detail"]
    assert calls == [0, 1]


class ConcurrencyProbe:
    """A step that holds every call until ``width`` calls are inside at once (then lets all pass).

    Reaching ``width`` proves that many ran together; a run that never does fails after the deadline
    instead of hanging. With ``linger``, the calls that reached ``width`` stay a moment longer, so an
    engine that runs more than ``width`` at once shows it in ``peak`` (a slow machine can only hide
    such a bug, never fail a correct engine).
    """

    def __init__(self, width: int, *, linger: float = 0.0) -> None:
        self.width, self.linger = width, linger
        self.active = self.peak = 0
        self.opened = False
        self.threads: set[int] = set()
        self.cond = threading.Condition()

    def __call__(self, event: Any, ctx: TaskContext) -> Any:
        with self.cond:
            self.threads.add(threading.get_ident())
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.opened = self.opened or self.active >= self.width
            self.cond.notify_all()
            if not self.cond.wait_for(lambda: self.opened, timeout=10):
                raise RuntimeError(f"only {self.active} of {self.width} calls ran at once")
            if self.linger:
                self.cond.wait_for(lambda: self.active > self.width, timeout=self.linger)
            self.active -= 1
        return event


def map_flow(**map_fields: Any) -> dict[str, Any]:
    processor = {"StartAt": "Work", "States": [task("Work", "f", OutputConstructor={"v.$": "$Output.Body"})]}
    return flow(
        {
            "Type": "Map",
            "Name": "M",
            "ItemsPath": "$Input.items",
            "Processor": processor,
            "End": True,
            **map_fields,
        }
    )


@pytest.mark.parametrize("limit", [4, 2, 1])
def test_map_runs_items_concurrently_up_to_max_concurrency(fx: Fixture, limit: int) -> None:
    probe = ConcurrencyProbe(limit, linger=0.1)
    ex = fx.run(map_flow(MaxConcurrency=limit), {"f": probe}, {"items": list(range(4))})
    assert ex.output == {"Items": [{"v": i} for i in range(4)]}
    assert probe.peak == limit and len(probe.threads) <= limit


@pytest.mark.parametrize(("flow_limit", "cap", "expected_peak"), [(10, 2, 2), (None, 3, 3), (1, 3, 1)])
def test_the_engine_caps_every_maps_concurrency_on_this_machine(
    fx: Fixture, flow_limit: int | None, cap: int, expected_peak: int
) -> None:
    probe = ConcurrencyProbe(expected_peak, linger=0.1)
    fields = {} if flow_limit is None else {"MaxConcurrency": flow_limit}
    ex = fx.run(map_flow(**fields), {"f": probe}, {"items": list(range(6))}, max_concurrency=cap)
    assert ex.status == "Succeeded" and probe.peak == expected_peak and len(probe.threads) <= expected_peak


def test_map_reads_concurrency_from_input_and_null_means_ten(fx: Fixture) -> None:
    spec = map_flow(**{"MaxConcurrency.$": "$Input.limit"})
    probe = ConcurrencyProbe(3, linger=0.1)
    ex = fx.run(spec, {"f": probe}, {"items": list(range(6)), "limit": 3})
    assert ex.status == "Succeeded" and probe.peak == 3 and len(probe.threads) <= 3
    for unset in (None, 0):  # null and 0 both mean the default of 10
        probe = ConcurrencyProbe(10)
        ex = fx.run(spec, {"f": probe}, {"items": list(range(12)), "limit": unset})
        assert ex.status == "Succeeded" and probe.peak == 10 and len(probe.threads) <= 10
    ex = fx.run(spec, {"f": probe}, {"items": [1], "limit": "3"})
    assert ex.error == {
        "Code": "FnF.ExpressionError",
        "Detail": "state 'M': MaxConcurrency must be a number, got '3'",
    }


def test_map_keeps_item_order_when_later_items_finish_first(fx: Fixture) -> None:
    finished = [threading.Event() for _ in range(6)]
    order: list[int] = []

    def fn(item: int, ctx: TaskContext) -> Any:
        if item < 5 and not finished[item + 1].wait(10):  # item k ends only after item k+1
            raise RuntimeError(f"item {item + 1} never finished")
        order.append(item)
        finished[item].set()
        return item

    ex = fx.run(map_flow(MaxConcurrency=6), {"f": fn}, {"items": list(range(6))})
    assert order == [5, 4, 3, 2, 1, 0]
    assert [r["v"] for r in ex.output["Items"]] == list(range(6))


def test_a_bad_max_concurrency_expression_fails_the_map_instead_of_using_the_default(fx: Fixture) -> None:
    spec = map_flow(**{"MaxConcurrency.$": "$Input.missing"})
    ex = fx.run(spec, {"f": lambda e, c: e}, {"items": [1, 2]})
    assert ex.status == "Failed" and ex.error["Code"] == "FnF.ExpressionError"
    assert "'M'" in ex.error["Detail"] and "$Input.missing" in ex.error["Detail"]
    spec["States"][0]["Catch"] = [{"Errors": ["FnF.ExpressionError"], "Next": "Caught"}]
    spec["States"].append({"Type": "Pass", "Name": "Caught", "End": True})
    assert fx.run(spec, {"f": lambda e, c: e}, {"items": [1]}).output["Code"] == "FnF.ExpressionError"


def test_every_state_type_has_one_handler() -> None:
    from flows._machine import TYPES
    from flows._states import HANDLERS

    assert set(HANDLERS) == set(TYPES)


def test_map_iteration_failure_fails_map_and_is_caught(fx: Fixture) -> None:
    def fn(event: Any, ctx: TaskContext) -> Any:
        if event == 2:
            raise Coded("Broken", f"item {event}")
        return event

    spec = map_flow(MaxConcurrency=1, Catch=[{"Errors": ["FnF.ALL"], "Next": "Caught"}], Next="After")
    spec["States"][0].pop("End")
    spec["States"] += [
        {"Type": "Pass", "Name": "After", "End": True},
        {"Type": "Pass", "Name": "Caught", "End": True},
    ]
    ex = fx.run(spec, {"f": fn}, {"items": [0, 1, 2, 3, 4]})
    assert ex.output == {"Code": "Broken", "Detail": "item 2"}
    stats = fx.store.state_stats("e1")
    assert stats["M"]["caught"] == 1 and stats["M/Work"]["failed"] == 1 and stats["M/Work"]["succeeded"] == 2


def test_parallel_runs_branches_together_and_names_outputs(fx: Fixture) -> None:
    probe = ConcurrencyProbe(3)  # each branch waits until all three are running
    branch = lambda n: {"StartAt": n, "States": [task(n, "f", OutputConstructor={"from": n})]}  # noqa: E731
    spec = flow(
        {"Type": "Parallel", "Name": "P", "Branches": [branch("A"), branch("B"), branch("C")], "End": True}
    )
    ex = fx.run(spec, {"f": probe}, {"x": 1})
    assert probe.peak == 3
    assert ex.output == {"Branch0": {"from": "A"}, "Branch1": {"from": "B"}, "Branch2": {"from": "C"}}


def test_state_size_limit_fails_the_state_and_can_be_caught(fx: Fixture) -> None:
    def big(event: Any, ctx: TaskContext) -> Any:
        return {"blob": "x" * 70_000}

    spec = flow(
        task("T", "f", Catch=[{"Errors": ["FnF.StateSizeExceeded"], "Next": "Caught"}], Next="Caught"),
        {"Type": "Pass", "Name": "Caught", "End": True},
    )
    ex = fx.run(spec, {"f": big})
    assert ex.output["Code"] == "FnF.StateSizeExceeded"
    assert ex.output["Detail"] == "state 'T': task result is 70011 bytes, over the 65536-byte state limit"
    with pytest.raises(StateSizeExceeded, match="execution input is"):
        fx.engine(spec, {"f": big}).start("huge", {"blob": "y" * 70_000})


def test_execution_names_behave_like_cloudflow(fx: Fixture) -> None:
    gate = threading.Event()
    engine = fx.engine(flow(task("T", "f")), {"f": lambda e, c: gate.wait(5)})
    first = engine.start("job-1", {})
    assert first.status is ExecutionStatus.RUNNING and not first.done
    assert engine.start("job-1", {}) == first  # already started: the same execution, no second one
    assert [e["type"] for e in engine.history("job-1")].count("ExecutionStarted") == 1
    gate.set()
    assert engine.wait("job-1").status is ExecutionStatus.SUCCEEDED
    with pytest.raises(ExecutionAlreadyExists, match="'job-1' already exists"):
        engine.start("job-1", {})
    with pytest.raises(SpecError, match="invalid execution name"):
        engine.start("bad name!", {})


@pytest.mark.parametrize("summary_breaks", [False, True], ids=["summary ok", "summary fails"])
def test_real_flow_routes_a_failing_video_and_still_publishes(fx: Fixture, summary_breaks: bool) -> None:
    spec = yaml.safe_load((ROOT / "flows" / "video_insight.yaml").read_text(encoding="utf-8"))
    calls: dict[str, list[Any]] = {}

    def step(name: str) -> Handler:
        def fn(event: Any, ctx: TaskContext) -> Any:
            calls.setdefault(name, []).append(event)
            if name == "summarize" and summary_breaks:  # a failing summary costs only its prose
                raise Coded("InvalidStepInput", "summary.json cannot be written")
            if name == "prepare":
                ids = ["v1", "v2", "v3"]
                return {"task_id": event["task_id"], "mode": "batch", "video_ids": ids, "slices": []}
            if name == "fetch" and event["video_id"] == "v2":
                raise Coded("SourceNotFound", "404 for v2")
            if name == "ocr" and event["video_id"] == "v3":  # no on-screen text: the video goes on
                raise Coded("ModelUnavailable", "no text reader")
            if name in ("analyze", "record-failure"):
                return {"video_id": event["video_id"], "status": "failed" if "error" in event else "ok"}
            if name == "finish":
                return {"task_id": event["task_id"], "status": "finished", "counts": {"videos": 3}}
            return {k: event[k] for k in ("task_id", "video_id") if k in event}

        return fn

    names = flow_steps()  # every function the flow calls
    ex = fx.run(spec, {f"video-insight-{n}": step(n) for n in names}, {"task_id": "t1"})
    assert ex.status == "Succeeded", ex.error
    assert ex.output == {"task_id": "t1", "status": "finished", "counts": {"videos": 3}}
    assert calls["record-failure"] == [
        {"task_id": "t1", "video_id": "v2", "error": {"Code": "SourceNotFound", "Detail": "404 for v2"}}
    ]
    assert sorted(e["video_id"] for e in calls["analyze"]) == ["v1", "v3"]
    assert calls["summarize"] == calls["publish"] == [{"task_id": "t1"}] and len(calls["finish"]) == 1
    stats = fx.store.state_stats("e1")
    assert stats["Videos/Fetch"] == {"succeeded": 2, "failed": 0, "running": 0, "caught": 1}
    assert stats["Videos/VideoFailed"]["succeeded"] == 1
    assert stats["Videos/Understand/Branch0/Transcribe"]["succeeded"] == 2
    ocr = stats["Videos/Understand/Branch1/OCR"]
    assert ocr == {"succeeded": 1, "failed": 0, "running": 0, "caught": 1}
    assert stats["Videos/Understand/Branch1/NoScreenText"]["succeeded"] == 1


@pytest.mark.parametrize(
    ("states", "message"),
    [
        (
            [{"Type": "Pass", "Name": "A", "Next": "Nowhere"}],
            "state 'A': transition to unknown state 'Nowhere'",
        ),
        ([{"Type": "Pass", "Name": "A"}], "state 'A': needs Next or End"),
        (
            [{"Type": "Pass", "Name": "A", "OutputConstructor": {"x.$": "$Inptu.a"}, "End": True}],
            "unknown root $Inptu",
        ),
        (
            [{"Type": "Choice", "Name": "C", "Branches": [{"Next": "C"}]}],
            "every Choice branch needs Condition",
        ),
        (
            [{"Type": "Choice", "Name": "C", "Branches": [{"Condition": "$Input.a >", "Next": "C"}]}],
            "end of condition",
        ),
        ([{"Type": "Loop", "Name": "A", "End": True}], "Type must be one of"),
    ],
)
def test_definitions_that_cannot_run_fail_at_construction(
    fx: Fixture, states: list[Any], message: str
) -> None:
    with pytest.raises(SpecError) as err:
        fx.engine(flow(*states), {})
    assert message in str(err.value)


def test_missing_key_at_runtime_fails_the_state_with_a_clear_error(fx: Fixture) -> None:
    spec = flow(task("T", "f", OutputConstructor={"id.$": "$Output.Body.video_id"}))
    ex = fx.run(spec, {"f": lambda event, ctx: {"videoId": 1}})
    assert ex.status == "Failed" and ex.error["Code"] == "FnF.ExpressionError"
    assert "state 'T'" in ex.error["Detail"] and "$Output.Body.video_id" in ex.error["Detail"]
    assert "key 'video_id' not found" in ex.error["Detail"] and "[videoId]" in ex.error["Detail"]


def test_the_registry_is_looked_up_not_copied(tmp_path: Path) -> None:
    """A registry may resolve ARNs it does not list (a region and account in the ARN) or load on lookup."""

    class Resolving(Mapping[str, Handler]):
        def __init__(self) -> None:
            self.looked_up: list[str] = []

        def __getitem__(self, arn: str) -> Handler:
            self.looked_up.append(arn)
            if not arn.endswith(":functions/f"):
                raise KeyError(arn)
            return lambda event, ctx: {"echo": event}

        def __contains__(self, arn: object) -> bool:
            return isinstance(arn, str) and arn.endswith(":functions/f")

        def __iter__(self) -> Iterator[str]:
            return iter(["acs:fc:::functions/f", "acs:fc:::functions/never-used"])

        def __len__(self) -> int:
            return 2

    spec = flow(task("T", "f"))
    spec["States"][0]["Parameters"]["resourceArn"] = "acs:fc:cn-hangzhou:123:functions/f"
    registry = Resolving()
    engine = Engine(spec, registry, store=ExecutionStore(tmp_path))
    assert engine.start("e", {"n": 1}, wait=True).output == {"Body": {"echo": {"n": 1}}}
    assert "acs:fc:::functions/never-used" not in registry.looked_up
