"""The engine interface as the embedded engine implements it: start, describe, wait, list, history, stop."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import flows
from flows import (
    Engine,
    ExecutionAlreadyExists,
    ExecutionEngine,
    ExecutionInfo,
    ExecutionNotFound,
    ExecutionNotResumable,
    ExecutionNotRunning,
    ExecutionStatus,
    ExecutionStore,
)

ARN = "acs:fc:::functions/work"


def two_tasks() -> dict[str, Any]:
    """First → Second, each calling the registered function."""

    def task(name: str, **more: Any) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Name": name,
            "Action": "FC:InvokeFunction",
            "Parameters": {"resourceArn": ARN, "body.$": "$Input"},
            "OutputConstructor": {"seen.$": "$Output.Body"},
            **more,
        }

    first = task("First", Next="Second")
    first["OutputConstructor"] = {"step.$": "$Output.Body.step"}
    return {
        "Type": "StateMachine",
        "Name": "iface",
        "SpecVersion": "v1",
        "StartAt": "First",
        "States": [first, task("Second", End=True)],
    }


class Gated:
    """A step that reports each call and blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.calls: list[str] = []

    def __call__(self, event: Any, ctx: flows.TaskContext) -> dict[str, Any]:
        self.calls.append(ctx.state)
        self.entered.set()
        if not self.gate.wait(10):  # fails the execution (and so the test), not a thread
            raise RuntimeError("the test never opened the gate")
        return {"step": ctx.state}


@pytest.fixture
def store(tmp_path: Path) -> ExecutionStore:
    return ExecutionStore(tmp_path / "executions")


def test_statuses_are_cloudflows() -> None:
    assert [s.value for s in ExecutionStatus] == [
        "Starting",
        "Running",
        "Stopped",
        "Succeeded",
        "Failed",
        "TimedOut",
    ]
    assert {s for s in ExecutionStatus if not s.finished} == {
        ExecutionStatus.STARTING,
        ExecutionStatus.RUNNING,
    }


def test_the_embedded_engine_is_an_execution_engine(store: ExecutionStore) -> None:
    engine = Engine(two_tasks(), {ARN: lambda e, c: {"step": c.state}}, store=store)
    assert isinstance(engine, ExecutionEngine) and engine.flow == "iface"
    engine_api: ExecutionEngine = engine  # the type checker holds it to the Protocol too
    started = engine_api.start("run-1", {"n": 1})
    assert started.name == "run-1" and started.input == {"n": 1}
    done = engine_api.wait("run-1")
    assert done.status is ExecutionStatus.SUCCEEDED and done.done and not done.resumable
    assert done.output == {"seen": {"step": "Second"}} and done.seconds is not None
    assert [e.name for e in engine_api.list()] == ["run-1"]
    types = [e["type"] for e in engine_api.history("run-1")]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert engine_api.describe("run-1") == done
    with pytest.raises(ExecutionAlreadyExists):
        engine_api.start("run-1", {"n": 2})
    with pytest.raises(ExecutionNotFound):
        engine_api.describe("nope")
    with pytest.raises(ExecutionNotFound):
        engine_api.history("nope")


def test_stop_ends_a_running_execution_before_its_next_state(store: ExecutionStore) -> None:
    step = Gated()
    engine = Engine(two_tasks(), {ARN: step}, store=store)
    engine.start("stop-me", {})
    assert step.entered.wait(10)
    stopped = engine.stop("stop-me", error="Cancelled", cause="the requester cancelled")
    assert stopped.status is ExecutionStatus.STOPPED
    assert stopped.error == {"Code": "Cancelled", "Detail": "the requester cancelled"}
    step.gate.set()  # the running Task finishes; Second never starts
    ended = engine.wait("stop-me")
    assert ended.status is ExecutionStatus.STOPPED and ended.output is None and ended.error == stopped.error
    assert step.calls == ["First"]
    types = [e["type"] for e in engine.history("stop-me")]
    assert types[-1] == "ExecutionStopped" and "ExecutionSucceeded" not in types
    assert ExecutionStore(store.root).get("stop-me").status is ExecutionStatus.STOPPED
    with pytest.raises(ExecutionNotRunning, match="already ended"):
        engine.stop("stop-me")
    with pytest.raises(ExecutionNotResumable):
        engine.resume("stop-me")


def test_another_engine_on_the_same_store_waits_for_and_stops_an_execution(store: ExecutionStore) -> None:
    """What a second process (the gateway, a second CLI) sees of an execution it does not run."""
    step = Gated()
    runner = Engine(two_tasks(), {ARN: step}, store=store)
    other = Engine(two_tasks(), {ARN: step}, store=store)
    runner.start("shared", {})
    assert step.entered.wait(10)
    assert other.start("shared", {}).status is ExecutionStatus.RUNNING  # already started, not again
    assert other.wait("shared", timeout=0.05).status is ExecutionStatus.RUNNING
    other.stop("shared", cause="from elsewhere")
    step.gate.set()
    assert runner.wait("shared").status is ExecutionStatus.STOPPED
    ended = other.wait("shared")
    assert ended.status is ExecutionStatus.STOPPED and ended.error == {
        "Code": "Stopped",
        "Detail": "from elsewhere",
    }
    assert step.calls == ["First"]


def test_an_execution_whose_process_died_is_resumable_and_can_be_stopped(
    store: ExecutionStore,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.create(ExecutionInfo(name="orphan", flow="iface", pid=dead.pid)).close()
    engine = Engine(two_tasks(), {ARN: lambda e, c: {"step": c.state}}, store=store)
    orphan = engine.describe("orphan")
    assert orphan.status is ExecutionStatus.RUNNING and orphan.resumable
    assert engine.wait("orphan") == orphan  # nothing runs it: wait returns instead of hanging
    assert engine.stop("orphan").status is ExecutionStatus.STOPPED
    assert not engine.describe("orphan").resumable


def _task(name: str, **more: Any) -> dict[str, Any]:
    state = {"Type": "Task", "Name": name, "Action": "FC:InvokeFunction"}
    return {**state, "Parameters": {"resourceArn": ARN, "body.$": "$Input"}, **more}


@pytest.mark.parametrize("kind", ["Map", "Parallel"])
def test_stop_reaches_the_states_inside_a_map_or_a_parallel(store: ExecutionStore, kind: str) -> None:
    inner = {"StartAt": "A", "States": [_task("A", Next="B"), _task("B", End=True)]}
    outer: dict[str, Any] = {"Name": "Outer", "End": True}
    if kind == "Map":
        outer.update(Type="Map", ItemsPath="$Input.items", MaxConcurrency=1, Processor=inner)
    else:
        outer.update(Type="Parallel", Branches=[inner])
    spec = {
        "Type": "StateMachine",
        "Name": "iface",
        "SpecVersion": "v1",
        "StartAt": "Outer",
        "States": [outer],
    }
    step = Gated()
    engine = Engine(spec, {ARN: step}, store=store)
    engine.start("nested", {"items": [1, 2]})
    assert step.entered.wait(10)
    engine.stop("nested")
    step.gate.set()
    assert engine.wait("nested").status is ExecutionStatus.STOPPED
    assert step.calls == ["A"]  # neither the next state of this item/branch nor another item ran
