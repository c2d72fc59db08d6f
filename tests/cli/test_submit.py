"""submit_task: the one way a request becomes an execution (the CLI's run today, the gateway next)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import flows
from steps import ProgressSink, ProgressUpdate, TaskWorkspace, snapshot
from steps.errors import InvalidRequest
from video_insight import submit_task

ARN = "acs:fc:::functions/prepare"
FLOW = {
    "Type": "StateMachine",
    "Name": "submit",
    "SpecVersion": "v1",
    "StartAt": "Prepare",
    "States": [
        {
            "Type": "Task",
            "Name": "Prepare",
            "Action": "FC:InvokeFunction",
            "Parameters": {"resourceArn": ARN, "body.$": "$Input"},
            "OutputConstructor": {"request.$": "$Output.Body"},
            "End": True,
        }
    ],
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def engine(workspace: Path) -> flows.ExecutionEngine:
    def prepare(event: dict[str, Any], ctx: flows.TaskContext) -> Any:
        """Reads the stored request, as the real Prepare step does."""
        ws = TaskWorkspace(workspace, event["task_id"])
        return {"task_id": event["task_id"], "title": json.loads(ws.request.read_text("utf-8")).get("title")}

    return flows.Engine(FLOW, {ARN: prepare}, store=flows.ExecutionStore(workspace / "executions"))


def request(**more: Any) -> dict[str, Any]:
    return {"videos": [{"name": "clip", "path": "/nowhere/clip.mp4"}], **more}


def test_submit_stores_the_request_records_the_task_and_starts_the_execution_named_by_it(
    engine: flows.ExecutionEngine, workspace: Path
) -> None:
    sink, heard = ProgressSink(), list[ProgressUpdate]()
    sink.register(heard.append)
    submitted = submit_task(engine, workspace, request(task_id="promo-48", title="周报"), progress=sink)
    assert submitted.created and submitted.task_id == "promo-48" and submitted.execution.name == "promo-48"
    ws = TaskWorkspace(workspace, "promo-48")
    assert json.loads(ws.request.read_text("utf-8")) == request(task_id="promo-48", title="周报")
    assert snapshot(ws).phase == "preparing"
    assert [u.fields.get("phase") for u in heard] == ["preparing"]
    done = engine.wait("promo-48")
    assert done.status is flows.ExecutionStatus.SUCCEEDED
    assert done.input == {"task_id": "promo-48"}
    assert done.output == {"request": {"task_id": "promo-48", "title": "周报"}}


def test_a_task_id_that_has_an_execution_is_not_submitted_again(
    engine: flows.ExecutionEngine, workspace: Path
) -> None:
    first = submit_task(engine, workspace, request(task_id="same", title="first"))
    engine.wait("same")
    again = submit_task(engine, workspace, request(task_id="same", title="second"))
    assert first.created and not again.created
    assert again.execution.status is flows.ExecutionStatus.SUCCEEDED
    stored = json.loads(TaskWorkspace(workspace, "same").request.read_text("utf-8"))
    assert stored["title"] == "first"  # the finished task's request is untouched
    starts = [e for e in engine.history("same") if e["type"] == "ExecutionStarted"]
    assert len(starts) == 1


def test_without_a_task_id_a_fresh_one_names_the_execution(
    engine: flows.ExecutionEngine, workspace: Path
) -> None:
    submitted = submit_task(engine, workspace, request())
    assert re.fullmatch(r"t\d{8}-\d{6}-[0-9a-f]{6}", submitted.task_id)
    assert engine.wait(submitted.task_id).status is flows.ExecutionStatus.SUCCEEDED


def test_a_bad_request_writes_nothing_and_starts_nothing(
    engine: flows.ExecutionEngine, workspace: Path
) -> None:
    with pytest.raises(InvalidRequest):
        submit_task(engine, workspace, {"task_id": "bad", "videos": []})
    assert not (workspace / "tasks" / "bad").exists()
    assert engine.list() == []
