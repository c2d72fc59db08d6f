"""A task's call slots: at most ``limit`` holders at once, across threads and processes; a dead holder's
slot comes free."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from steps import TaskWorkspace
from steps._slots import SlotTimeout, task_slot

ROOT = Path(__file__).resolve().parents[2]


def test_no_more_holders_than_the_limit(tmp_path: Path) -> None:
    ws = TaskWorkspace(tmp_path, "t1")
    with task_slot(ws, "llm", 2, wait_s=0) as first, task_slot(ws, "llm", 2, wait_s=0) as second:
        assert {first, second} == {0, 1}
        with (
            pytest.raises(SlotTimeout, match="all 2 llm slots of task t1 stayed taken"),
            task_slot(ws, "llm", 2, wait_s=0),
        ):
            pass
        with task_slot(TaskWorkspace(tmp_path, "t2"), "llm", 2, wait_s=0) as other_task:
            assert other_task == 0  # the limit is per task
    with task_slot(ws, "llm", 2, wait_s=0) as again:
        assert again == 0  # released on leaving the block


def test_a_waiter_gets_the_slot_when_it_comes_free(tmp_path: Path) -> None:
    ws = TaskWorkspace(tmp_path, "t1")
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with task_slot(ws, "llm", 1, wait_s=0):
            held.set()
            release.wait(10)
        done.set()

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    with pytest.raises(SlotTimeout), task_slot(ws, "llm", 1, wait_s=0.05):
        pass
    release.set()
    with task_slot(ws, "llm", 1, wait_s=10) as slot:
        assert slot == 0 and done.is_set()
    thread.join(10)


def test_a_dead_holders_slot_comes_free(tmp_path: Path) -> None:
    ws = TaskWorkspace(tmp_path, "t1")
    code = (
        "import sys; from pathlib import Path\n"
        "from steps import TaskWorkspace; from steps._slots import task_slot\n"
        f"with task_slot(TaskWorkspace(Path({str(tmp_path)!r}), 't1'), 'llm', 1, wait_s=0):\n"
        "    print('held', flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(SlotTimeout), task_slot(ws, "llm", 1, wait_s=0):
            pass
        child.kill()  # never released: the OS drops the lock of a dead process
        child.wait(10)
        with task_slot(ws, "llm", 1, wait_s=5) as slot:
            assert slot == 0
    finally:
        child.kill()
        child.wait(10)
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
