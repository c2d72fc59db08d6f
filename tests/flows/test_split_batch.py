"""A 1,000-video batch runs in the shipped flow as child executions, none past CloudFlow's 5,000 events.

The real Prepare step splits the batch; every other step is a fast fake, so the test is about the
flow and the engine: one task, one summary, one publish, each video processed exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows import (
    CLOUDFLOW_MAX_EVENTS,
    Engine,
    ExecutionAlreadyExists,
    ExecutionStore,
    TaskContext,
    cloudflow_events,
)
from flows._history import ExecutionInfo
from steps import ARN_PREFIX, Settings, TaskWorkspace, flow_steps, function_name, registry, step_services
from steps.prepare import SLICE_SIZE

ROOT = Path(__file__).resolve().parents[2]
FLOW = yaml.safe_load((ROOT / "flows" / "video_insight.yaml").read_text(encoding="utf-8"))
VIDEOS = 1000
STEPS = tuple(step for step in flow_steps() if step != "prepare")  # every Task but Prepare is faked


class FakeSteps:
    """Instant stand-ins for every step but Prepare; records what each was called with."""

    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = {name: [] for name in STEPS}
        self.lock = threading.Lock()

    def handler(self, name: str) -> Any:
        def fn(event: Any, ctx: TaskContext) -> Any:
            with self.lock:
                self.calls[name].append(event)
            if name == "fetch" and event["video_id"].endswith("7"):  # a few bad links on the way
                raise _Coded("SourceNotFound", f"404 for {event['video_id']}")
            if name in ("analyze", "record-failure"):
                return {"video_id": event["video_id"], "status": "failed" if "error" in event else "ok"}
            if name == "finish":
                return {"task_id": event["task_id"], "status": "finished", "counts": {}}
            return {k: event[k] for k in ("task_id", "video_id") if k in event}

        return fn

    def registry(self) -> dict[str, Any]:
        real = registry()
        out = {f"{ARN_PREFIX}{function_name(n)}": self.handler(n) for n in STEPS}
        prepare = f"{ARN_PREFIX}{function_name('prepare')}"
        out[prepare] = real[prepare]
        return out


class _Coded(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def store_request(settings: Settings, task_id: str, count: int) -> None:
    ws = TaskWorkspace(settings.workspace, task_id)
    ws.dir.mkdir(parents=True)
    videos = [{"name": f"clip {i}", "url": f"https://cdn.example.com/{i}.mp4"} for i in range(count)]
    ws.request.write_text(json.dumps({"videos": videos}), encoding="utf-8")


@pytest.fixture
def run(settings: Settings, tmp_path: Path) -> Any:
    def go(count: int, **engine_kw: Any) -> tuple[Engine, FakeSteps, Any]:
        fakes = FakeSteps()
        store_request(settings, "t1", count)
        engine = Engine(
            FLOW,
            fakes.registry(),
            store=ExecutionStore(tmp_path / "executions"),
            services=step_services(settings),
            sleep=lambda s: None,
            **engine_kw,
        )
        return engine, fakes, engine.start("t1", {"task_id": "t1"}, wait=True)

    return go


def test_a_thousand_videos_run_as_child_executions_under_the_event_limit(run: Any) -> None:
    engine, fakes, parent = run(VIDEOS)
    assert parent.status == "Succeeded", parent.error
    children = [f"t1-part-{n}" for n in range(VIDEOS // SLICE_SIZE)]
    executions = {info.name: info for info in engine.list()}
    assert sorted(executions) == sorted(["t1", *children])
    assert all(info.status == "Succeeded" for info in executions.values())
    counts = {name: cloudflow_events(engine.history(name)) for name in executions}
    assert max(counts.values()) <= CLOUDFLOW_MAX_EVENTS, counts
    assert counts["t1"] < 200  # the parent only starts and waits for its children

    fetched = [e["video_id"] for e in fakes.calls["fetch"]]
    assert len(fetched) == len(set(fetched)) == VIDEOS  # each video exactly once
    failed = {e["video_id"] for e in fakes.calls["record-failure"]}
    assert failed == {v for v in fetched if v.endswith("7")} and failed
    assert len(fakes.calls["analyze"]) == VIDEOS - len(failed)
    # one task: the batch steps run once, in the parent, on the whole task
    assert fakes.calls["summarize"] == fakes.calls["publish"] == [{"task_id": "t1"}]
    assert len(fakes.calls["finish"]) == 1

    # a retried or resumed Slice finds the child it started: nothing runs twice
    again = engine._run_child({"executionName": "t1-part-3", "input": {"task_id": "t1", "slice": 3}}, None)
    assert again == engine.describe("t1-part-3").output
    assert len(fakes.calls["fetch"]) == VIDEOS
    with pytest.raises(ExecutionAlreadyExists):
        engine.start("t1", {"task_id": "t1"})


def test_the_same_batch_in_one_execution_would_break_in_the_cloud(run: Any, monkeypatch: Any) -> None:
    """Without the split the engine fails the execution where CloudFlow would."""
    monkeypatch.setattr("steps.prepare.SLICE_SIZE", 10_000)
    _, fakes, execution = run(VIDEOS)
    assert execution.status == "Failed"
    assert execution.error["Code"] == "FnF.EventLimitExceeded"
    assert fakes.calls["publish"] == []


def test_a_batch_that_fits_runs_in_one_execution(run: Any) -> None:
    engine, fakes, execution = run(SLICE_SIZE)
    assert execution.status == "Succeeded", execution.error
    assert [info.name for info in engine.list()] == ["t1"]
    assert len(fakes.calls["fetch"]) == SLICE_SIZE


def test_a_child_left_running_by_a_dead_process_is_resumed_not_started_again(tmp_path: Path) -> None:
    """The parent resumed after a crash: its Slice finds the child by name and resumes it."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = ExecutionStore(tmp_path)
    spec = {
        "Type": "StateMachine",
        "Name": "h",
        "SpecVersion": "v1",
        "StartAt": "Echo",
        "States": [{"Type": "Pass", "Name": "Echo", "End": True}],
    }
    engine = Engine(spec, {}, store=store)
    writer = store.create(ExecutionInfo(name="t1-part-0", flow="h", input={"n": 1}, pid=dead.pid))
    assert writer is not None
    writer.close()
    box: dict[str, Any] = {}
    slice_task = threading.Thread(
        target=lambda: box.update(out=engine._run_child({"executionName": "t1-part-0"}, None)), daemon=True
    )
    slice_task.start()
    slice_task.join(timeout=30)  # a child nobody resumes would be waited for forever
    assert not slice_task.is_alive(), "the Slice is still waiting for a child whose process died"
    assert box["out"] == {"n": 1}
    types = [e["type"] for e in store.events("t1-part-0")]
    assert "ExecutionResumed" in types and "ExecutionStarted" not in types
    assert [info.name for info in store.list()] == ["t1-part-0"]


def test_stopping_the_parent_stops_its_children(settings: Settings, tmp_path: Path) -> None:
    fakes = FakeSteps()
    first, gate = threading.Event(), threading.Event()
    fetch = fakes.handler("fetch")

    def slow_fetch(event: Any, ctx: TaskContext) -> Any:
        first.set()
        gate.wait(30)  # held until the parent is stopped
        return fetch(event, ctx)

    registry = fakes.registry() | {"acs:fc:::functions/video-insight-fetch": slow_fetch}
    store_request(settings, "t1", 2 * SLICE_SIZE + 1)
    engine = Engine(
        FLOW, registry, store=ExecutionStore(tmp_path / "ex"), services=step_services(settings), sleep=print
    )
    engine.start("t1", {"task_id": "t1"})
    assert first.wait(30)
    assert engine.stop("t1").status == "Stopped"
    gate.set()
    children = [engine.wait(f"t1-part-{n}", timeout=30) for n in range(3)]
    assert [c.status for c in children] == ["Stopped"] * 3
    assert all("its parent execution 't1' was stopped" in c.error["Detail"] for c in children)
    assert len(fakes.calls["fetch"]) < 2 * SLICE_SIZE + 1 and fakes.calls["publish"] == []
