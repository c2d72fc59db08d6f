"""A full disk ends the execution (Failed, Engine.StorageFull) instead of failing items or hanging;
resume once space is freed gives the result of a clean run."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from flows import Engine, ExecutionStatus, ExecutionStore, StorageFull, TaskContext
from flows._history import HistoryWriter

ARN = "acs:fc:::functions/work"
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def spec() -> dict[str, Any]:
    """A Map whose Task retries FC.Unknown and catches everything, as the video flow's Processor does."""
    work = {
        "Type": "Task",
        "Name": "Work",
        "Action": "FC:InvokeFunction",
        "Parameters": {"resourceArn": ARN, "body.$": "$Input"},
        "OutputConstructor": {"v.$": "$Output.Body"},
        "Retry": [{"Errors": ["FC.Unknown"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2}],
        "Catch": [{"Errors": ["FnF.ALL"], "Next": "Caught"}],
        "End": True,
    }
    caught = {"Type": "Pass", "Name": "Caught", "OutputConstructor": {"v": "caught"}, "End": True}
    videos = {
        "Type": "Map",
        "Name": "Videos",
        "ItemsPath": "$Input.items",
        "MaxConcurrency": 1,
        "Processor": {"StartAt": "Work", "States": [work, caught]},
        "End": True,
    }
    return {
        "Type": "StateMachine",
        "Name": "disk",
        "SpecVersion": "v1",
        "StartAt": "Videos",
        "States": [videos],
    }


class Disk:
    """The disk as the steps and the history see it: full until the test frees it."""

    def __init__(self) -> None:
        self.full = False
        self.calls: list[Any] = []

    def work(self, event: Any, ctx: TaskContext) -> Any:
        self.calls.append(event)
        if self.full and event == 2:
            raise OSError(errno.ENOSPC, "No space left on device", f"/ws/videos/{event}/source.mp4")
        return event * 10


class FullDiskWriter(HistoryWriter):
    """A history writer on a disk that fills up: appends and the final fsync fail while it is full."""

    disk: Disk
    after: int = 0  # appends that still fit once the disk is full

    def append(self, type: str, state: str = "", path: str = "", **fields: Any) -> None:
        if self.disk.full:
            if FullDiskWriter.after <= 0:
                raise OSError(ENOSPC.errno, ENOSPC.strerror)
            FullDiskWriter.after -= 1
        super().append(type, state, path, **fields)

    def close(self) -> None:
        super().close()
        if self.disk.full:
            raise OSError(ENOSPC.errno, ENOSPC.strerror)


class FullDiskStore(ExecutionStore):
    def __init__(self, root: Path, disk: Disk) -> None:
        super().__init__(root)
        self.disk = disk

    def _wrap(self, writer: HistoryWriter | None) -> Any:
        if writer is None:
            return None
        writer.close()  # reopen the same file through the failing writer
        failing = FullDiskWriter(writer.path, next_id=writer._next_id)
        failing.disk = self.disk
        return failing

    def create(self, info: Any, *, max_events: int | None = None) -> Any:
        return self._wrap(super().create(info, max_events=max_events))

    def reopen(self, name: str, *, max_events: int | None = None) -> Any:
        return self._wrap(super().reopen(name, max_events=max_events))


@pytest.fixture
def disk() -> Disk:
    return Disk()


def _engine(tmp_path: Path, disk: Disk, store: ExecutionStore | None = None) -> Engine:
    store = store or ExecutionStore(tmp_path / "executions")
    return Engine(spec(), {ARN: disk.work}, store=store, sleep=lambda s: None)


INPUT = {"items": [1, 2, 3]}


def test_a_task_that_hits_a_full_disk_ends_the_execution_instead_of_failing_its_item(
    tmp_path: Path, disk: Disk
) -> None:
    engine = _engine(tmp_path, disk)
    clean = engine.wait(engine.start("clean", INPUT).name, timeout=30)
    assert clean.status is ExecutionStatus.SUCCEEDED
    disk.full = True
    ended = engine.wait(engine.start("full", INPUT).name, timeout=30)
    assert ended.status is ExecutionStatus.FAILED and ended.error is not None
    assert ended.error["Code"] == StorageFull.code == "Engine.StorageFull"
    assert "No space left on device" in ended.error["Detail"] and "/ws/videos/2" in ended.error["Detail"]
    events = engine.history("full")
    assert not [e for e in events if e["type"] in ("TaskRetried", "StateRetried")]  # no retry
    assert not [e for e in events if e.get("caught")]  # today: caught, item 2 recorded as failed
    assert ended.resumable and engine.describe("full").resumable

    disk.full = False
    engine.resume("full")
    resumed = engine.wait("full", timeout=30)
    assert resumed.status is ExecutionStatus.SUCCEEDED
    assert resumed.output == clean.output == {"Items": [{"v": 10}, {"v": 20}, {"v": 30}]}
    assert disk.calls.count(1) == 2  # item 1 ran once in each execution; resume reused it


@pytest.mark.parametrize("after", [0, 3, 6])
def test_a_history_that_cannot_be_written_ends_the_execution_it_never_hangs(
    tmp_path: Path, disk: Disk, after: int
) -> None:
    store = FullDiskStore(tmp_path / "executions", disk)
    engine = _engine(tmp_path, disk, store)
    engine.wait(engine.start("clean", INPUT).name, timeout=30)
    disk.full, FullDiskWriter.after = True, after
    ended = engine.wait(engine.start("full", INPUT).name, timeout=30)
    assert ended.done
    # What another process sees (the CLI's wait, `executions show`): ended, with the reason. Today the
    # record stays Running, the run lock stays held and `run` waits forever.
    recorded = ExecutionStore(store.root).get("full")
    assert recorded.status is ExecutionStatus.FAILED and recorded.error == ended.error
    assert ended.status is ExecutionStatus.FAILED and ended.error is not None
    assert ended.error["Code"] == "Engine.StorageFull"
    lock = store.lock("full")
    assert lock is not None  # the run lock was released
    os.close(lock)

    disk.full = False
    assert engine.describe("full").resumable
    engine.resume("full")
    resumed = engine.wait("full", timeout=30)
    assert resumed.status is ExecutionStatus.SUCCEEDED
    assert resumed.output == engine.describe("clean").output
