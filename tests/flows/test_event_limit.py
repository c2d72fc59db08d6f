"""CloudFlow's per-execution event limit: counted as CloudFlow counts, fatal past the limit, a setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows import CLOUDFLOW_MAX_EVENTS, Engine, ExecutionStore, TaskContext, cloudflow_events
from flows._errors import EventLimitExceeded
from flows._history import ExecutionInfo

ARN = "acs:fc:::functions/work"


def map_flow() -> dict[str, Any]:
    """A Map whose Processor catches everything (FnF.ALL) — the limit must get through anyway."""
    work = {
        "Type": "Task",
        "Name": "Work",
        "Action": "FC:InvokeFunction",
        "Parameters": {"resourceArn": ARN, "body.$": "$Input"},
        "Catch": [{"Errors": ["FnF.ALL"], "Next": "Caught"}],
        "End": True,
    }
    caught = {"Type": "Pass", "Name": "Caught", "End": True}
    return {
        "Type": "StateMachine",
        "Name": "limits",
        "SpecVersion": "v1",
        "StartAt": "Items",
        "States": [
            {
                "Type": "Map",
                "Name": "Items",
                "ItemsPath": "$Input.items",
                "MaxConcurrency": 4,
                "Processor": {"StartAt": "Work", "States": [work, caught]},
                "End": True,
            }
        ],
    }


def run(tmp_path: Path, items: int, **kw: Any) -> tuple[Any, list[dict[str, Any]], list[Any]]:
    seen: list[Any] = []

    def work(event: Any, ctx: TaskContext) -> Any:
        seen.append(event)
        return event

    store = ExecutionStore(tmp_path / "executions")
    engine = Engine(map_flow(), {ARN: work}, store=store, **kw)
    execution = engine.start("e1", {"items": list(range(items))}, wait=True)
    return execution, store.events("e1"), seen


def test_the_engine_fails_an_execution_past_the_limit_and_no_catch_hides_it(tmp_path: Path) -> None:
    execution, events, seen = run(tmp_path, 40, max_events=100)
    assert execution.status == "Failed"
    assert execution.error["Code"] == "FnF.EventLimitExceeded"
    assert "100 history events" in execution.error["Detail"]
    assert not any(e["state"] == "Caught" for e in events)  # FnF.ALL did not catch it
    assert cloudflow_events(e for e in events if not e["type"].startswith("Execution")) <= 100
    assert len(seen) < 40  # the Map stopped instead of running every item


def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    execution, events, seen = run(tmp_path, 40, max_events=None)
    assert execution.status == "Succeeded" and len(seen) == 40
    assert cloudflow_events(events) > 100  # so the run above did hit its limit
    assert Engine(map_flow(), {ARN: print}, store=ExecutionStore(tmp_path / "x")).max_events == 5000
    assert CLOUDFLOW_MAX_EVENTS == 5000


def test_counting_follows_cloudflow() -> None:
    """A Task's start is one of CloudFlow's events that this history folds into TaskScheduled."""
    events = [{"type": t} for t in ("ExecutionStarted", "StateEntered", "TaskScheduled", "TaskSucceeded")]
    assert cloudflow_events(events) == 5
    assert cloudflow_events([{"type": "ExecutionResumed"}]) == 0
    # each Map iteration and Parallel branch is a scope with a start and an end of its own
    entered = [
        {"type": "StateEntered", "path": p}
        for p in ("Videos", "Videos/0/Item", "Videos/0/Fetch", "Videos/1/Item", "Videos/0/U/Branch1/Shots")
    ]
    assert cloudflow_events(entered) == 5 + 3 * 2


def test_a_resumed_execution_keeps_counting_from_its_history(tmp_path: Path) -> None:
    store = ExecutionStore(tmp_path)
    writer = store.create(ExecutionInfo(name="r", flow="f"), max_events=5)
    assert writer is not None
    for _ in range(4):
        writer.append("StateEntered", "S", "S")
    writer.close()
    again = store.reopen("r", max_events=5)
    again.append("ExecutionResumed")  # bookkeeping: not one of CloudFlow's events
    again.append("StateExited", "S", "S")
    with pytest.raises(EventLimitExceeded):
        again.append("StateEntered", "S", "S")
    again.append("ExecutionFailed", durable=True)  # the end of an execution is always recorded
    again.close()
    assert [e["type"] for e in store.events("r")][-2:] == ["StateExited", "ExecutionFailed"]
