"""Durable history (meta.json + history.jsonl), state statistics, and resume after SIGKILL."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from flows._engine import Engine
from flows._errors import ExecutionNotFound, ExecutionNotResumable
from flows._history import ExecutionInfo, ExecutionStore
from tests.polling import poll

ROOT = Path(__file__).resolve().parents[2]
ARN = "acs:fc:::functions/work"


def spec(states: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "StateMachine",
        "Name": "h",
        "SpecVersion": "v1",
        "StartAt": states[0]["Name"],
        "States": states,
    }


def work_task(name: str, **fields: Any) -> dict[str, Any]:
    state = {
        "Type": "Task",
        "Name": name,
        "Action": "FC:InvokeFunction",
        "Parameters": {"resourceArn": ARN, "body.$": "$Input"},
    }
    state.update(fields)
    if "Next" not in fields:
        state["End"] = True
    return state


def test_history_events_and_meta_for_a_retried_task(tmp_path: Path) -> None:
    store = ExecutionStore(tmp_path)
    calls = []

    def fn(event: Any, ctx: Any) -> Any:
        calls.append(event)
        if len(calls) == 1:
            raise ConnectionError("reset")
        return {"ok": event["n"]}

    retry = [{"Errors": ["FC.Unknown"], "IntervalSeconds": 0.5, "MaxAttempts": 2}]
    engine = Engine(spec([work_task("T", Retry=retry)]), {ARN: fn}, store=store, sleep=lambda s: None)
    engine.start("run-1", {"n": 3}, wait=True)
    events = store.events("run-1")
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "StateEntered",
        "TaskScheduled",
        "TaskFailed",
        "TaskRetried",
        "TaskScheduled",
        "TaskSucceeded",
        "StateExited",
        "ExecutionSucceeded",
    ]
    assert [e["id"] for e in events] == list(range(1, 10))
    assert all(a["ts"] <= b["ts"] for a, b in itertools.pairwise(events))
    assert events[3]["error"] == {"Code": "FC.Unknown", "Detail": "ConnectionError: reset"}
    scheduled = [(e["resource"], e["RetryCount"]) for e in events if e["type"] == "TaskScheduled"]
    assert scheduled == [(ARN, 0), (ARN, 1)] and events[3]["RetryCount"] == 0
    assert {e["key"] for e in events if e["state"]} == {"T"}  # the state's place in the definition
    assert events[1]["input"] == {"n": 3} and events[7]["output"] == {"Body": {"ok": 3}}
    assert events[4]["error"] == events[3]["error"]
    assert (events[4]["RetryCount"], events[4]["delay"]) == (1, 0.5)
    assert events[6]["output"] == {"ok": 3} and events[6]["path"] == "T"
    meta = json.loads((tmp_path / "run-1" / "meta.json").read_text())
    assert meta["status"] == "Succeeded" and meta["flow"] == "h" and meta["input"] == {"n": 3}
    assert meta["output"] == {"Body": {"ok": 3}} and meta["stopped"] >= meta["started"]
    assert [i.name for i in store.list()] == ["run-1"]
    with pytest.raises(ExecutionNotFound, match="no execution named 'nope'"):
        store.get("nope")


def test_a_retried_state_that_is_not_a_task_and_an_uncaught_failure(tmp_path: Path) -> None:
    store = ExecutionStore(tmp_path)
    retry = [{"Errors": ["Bad.Thing"], "IntervalSeconds": 1, "MaxAttempts": 1}]
    fail = {"Type": "Fail", "Name": "F", "Code": "Bad.Thing", "Detail": "no", "Retry": retry}
    engine = Engine(spec([fail]), {}, store=store, sleep=lambda s: None)
    engine.start("f", wait=True)
    events = [e for e in store.events("f") if e["state"] == "F"]
    error = {"Code": "Bad.Thing", "Detail": "no"}
    assert [(e["type"], e.get("error")) for e in events] == [
        ("StateEntered", None),
        ("StateRetried", error),
        ("StateFailed", error),
    ]
    assert events[-1]["caught"] is False


def test_paths_name_iterations_branches_and_loop_visits(tmp_path: Path) -> None:
    store = ExecutionStore(tmp_path)
    branch = {"StartAt": "B", "States": [work_task("B")]}
    processor = {
        "StartAt": "Par",
        "States": [{"Type": "Parallel", "Name": "Par", "Branches": [branch, branch], "End": True}],
    }
    states = [
        {
            "Type": "Map",
            "Name": "M",
            "ItemsPath": "$Input.items",
            "Processor": processor,
            "OutputConstructor": {"n": 0},
            "Next": "Loop",
        },
        {"Type": "Pass", "Name": "Loop", "OutputConstructor": {"n.$": "$Input.n"}, "Next": "Count"},
        work_task("Count", OutputConstructor={"n.$": "$Output.Body"}, Next="Again"),
        {
            "Type": "Choice",
            "Name": "Again",
            "Branches": [{"Condition": "$Input.n < 2", "Next": "Loop"}],
            "Default": "End",
        },
        {"Type": "Succeed", "Name": "End"},
    ]

    def fn(event: Any, ctx: Any) -> Any:
        return event["n"] + 1 if isinstance(event, dict) and "n" in event else event

    ex = Engine(spec(states), {ARN: fn}, store=store).start("p", {"items": ["a", "b"]}, wait=True)
    assert ex.status == "Succeeded" and ex.output == {"n": 2}
    paths = {e["path"] for e in store.events("p") if e["type"] == "TaskSucceeded"}
    assert {"M/0/Par/Branch0/B", "M/0/Par/Branch1/B", "M/1/Par/Branch1/B", "Count", "Count#2"} <= paths
    # Stats group by the state's place in the definition: the two B states (one per branch) stay
    # apart, iterations and loop visits of one state add up.
    stats = store.state_stats("p")
    assert stats["M/Par/Branch0/B"]["succeeded"] == stats["M/Par/Branch1/B"]["succeeded"] == 2
    assert stats["Count"]["succeeded"] == 2 and stats["M/Par"]["succeeded"] == 2 and "B" not in stats
    assert store.state_timings("p")["M/Par/Branch1/B"]["count"] == 2


def test_resume_refuses_finished_and_live_executions(tmp_path: Path) -> None:
    store = ExecutionStore(tmp_path)
    engine = Engine(spec([work_task("T")]), {ARN: lambda e, c: e}, store=store)
    engine.start("done", {}, wait=True)
    with pytest.raises(ExecutionNotResumable, match="already ended"):
        engine.resume("done")
    store.create(ExecutionInfo(name="alive", flow="h")).close()  # Running, owned by this live process
    with pytest.raises(ExecutionNotResumable, match="still running in process"):
        engine.resume("alive")
    assert engine.start("alive", {}).status == "Running"  # a running name returns that execution


def test_two_processes_never_resume_the_same_execution(tmp_path: Path) -> None:
    store = ExecutionStore(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.create(ExecutionInfo(name="orphan", flow="h", pid=dead.pid)).close()  # its process died
    holder = subprocess.Popen(  # another process that is resuming it: holds the run lock
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import fcntl, os, sys
            fd = os.open({str(tmp_path / "orphan" / "run.lock")!r}, os.O_CREAT | os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print("locked", flush=True)
            sys.stdin.read()  # holds the lock until the test kills it
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        engine = Engine(spec([work_task("T")]), {ARN: lambda e, c: e}, store=store)
        with pytest.raises(ExecutionNotResumable, match="being resumed by another process"):
            engine.resume("orphan")
    finally:
        holder.kill()
        holder.communicate()  # reaps it and closes its pipe
    assert engine.resume("orphan", wait=True).status == "Succeeded"  # the lock died with its process


def test_reader_tolerates_a_line_cut_short(tmp_path: Path) -> None:
    store = ExecutionStore(tmp_path)
    writer = store.create(ExecutionInfo(name="cut", flow="h"))
    assert writer is not None
    writer.append("ExecutionStarted")
    writer.close()
    with (tmp_path / "cut" / "history.jsonl").open("a") as f:
        f.write('{"id": 2, "type": "StateEn')
    assert [e["type"] for e in store.events("cut")] == ["ExecutionStarted"]
    again = store.reopen("cut")
    again.append("ExecutionResumed")
    again.close()
    assert [(e["id"], e["type"]) for e in store.events("cut")] == [
        (1, "ExecutionStarted"),
        (2, "ExecutionResumed"),
    ]


CHILD = textwrap.dedent(
    """
    import json, os, sys, threading
    from flows._engine import Engine
    from flows._history import ExecutionStore

    root, counter, mode, name, gate = sys.argv[1:6]
    ARN = "acs:fc:::functions/work"
    lock = threading.Lock()
    calls = 0

    def work(event, ctx):
        global calls
        with lock:
            calls += 1
            n = calls
            with open(counter, "a") as f:
                f.write(ctx.path + "\\n")
        if 0 < int(gate) < n:  # past the gate every call blocks until the parent kills this process
            threading.Event().wait()
        step = {"Work": lambda v: v * 10, "Left": lambda v: v + 1, "Right": lambda v: v + 2}[ctx.state]
        return {"v": step(event["v"])}

    def task(name, nxt=None, **extra):
        s = {"Type": "Task", "Name": name, "Action": "FC:InvokeFunction", "Timeout": "30",
             "Parameters": {"resourceArn": ARN, "body.$": "$Input"}, **extra}
        s.update({"Next": nxt} if nxt else {"End": True})
        return s

    left = {"StartAt": "Left", "States": [task("Left", OutputConstructor={"v.$": "$Output.Body.v"})]}
    right = {"StartAt": "Right", "States": [task("Right", OutputConstructor={"v.$": "$Output.Body.v"})]}
    spec = {"Type": "StateMachine", "Name": "resume", "SpecVersion": "v1", "StartAt": "Items", "States": [
        {"Type": "Map", "Name": "Items", "ItemsPath": "$Input.items", "MaxConcurrency": 2, "End": True,
         "Processor": {"StartAt": "Item", "States": [
            {"Type": "Pass", "Name": "Item", "OutputConstructor": {"v.$": "$Input"}, "Next": "Work"},
            task("Work", "Both", OutputConstructor={"v.$": "$Output.Body.v"}),
            {"Type": "Parallel", "Name": "Both", "Branches": [left, right], "End": True,
             "OutputConstructor": {"sum.$": "$Output.Branch0.v", "other.$": "$Output.Branch1.v"}},
         ]}},
    ]}
    engine = Engine(spec, {ARN: work}, store=ExecutionStore(root))
    if mode == "resume":
        ex = engine.resume(name, wait=True)
    else:
        ex = engine.start(name, {"items": list(range(12))}, wait=True)
    print(json.dumps({"status": ex.status, "output": ex.output, "error": ex.error}))
    """
)


def child(tmp: Path, counter: Path, mode: str, name: str, gate: int = 0) -> subprocess.Popen[str]:
    """Run the flow in a new process; with ``gate``, every Task call after the first ``gate`` blocks."""
    script = tmp / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp / "executions"), str(counter), mode, name, str(gate)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def result_of(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


def test_resume_after_sigkill_runs_each_finished_task_once(tmp_path: Path) -> None:
    reference = result_of(child(tmp_path, tmp_path / "ref.txt", "start", "reference"))
    assert reference["status"] == "Succeeded" and len(reference["output"]["Items"]) == 12

    counter = tmp_path / "calls.txt"
    store = ExecutionStore(tmp_path / "executions")
    proc = child(tmp_path, counter, "start", "victim", gate=12)  # 12 Tasks finish, the rest block
    finished = poll(lambda: store.find("victim") and len(store.completed_tasks("victim")) == 12)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)  # reaps it and closes its pipe
    assert finished, "the first 12 Tasks did not finish"

    assert store.get("victim").status == "Running"
    finished_before = set(store.completed_tasks("victim"))
    assert len(finished_before) == 12  # killed in the middle of the Map, with Tasks in flight
    in_flight = set(counter.read_text().splitlines()) - finished_before
    assert in_flight

    resumed = result_of(child(tmp_path, counter, "resume", "victim"))
    assert resumed == reference
    calls = counter.read_text().splitlines()
    assert sorted(set(calls)) == sorted(store.completed_tasks("victim")) and len(set(calls)) == 36
    assert [p for p in finished_before if calls.count(p) != 1] == []  # finished Tasks never ran again
    assert {p for p in calls if calls.count(p) == 2} == in_flight  # the killed ones ran once more
    assert store.get("victim").status == "Succeeded"
    types = [e["type"] for e in store.events("victim")]
    assert types.count("ExecutionResumed") == 1 and types[-1] == "ExecutionSucceeded"


def test_claiming_a_name_is_all_or_nothing_across_threads(tmp_path: Path) -> None:
    """Many starters race for one name: exactly one wins, and nobody sees it without its meta."""
    store = ExecutionStore(tmp_path / "ex")
    barrier = threading.Barrier(8)
    wins: list[object] = []
    half_claimed: list[bool] = []  # checked after the join: an assert in a thread fails nothing

    def claim() -> None:
        barrier.wait()
        writer = store.create(ExecutionInfo(name="same", flow="f"))
        if writer is not None:
            wins.append(writer)
            writer.close()
        half_claimed.append(store.find("same") is None and (tmp_path / "ex" / "same").exists())

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and half_claimed == [False] * 8
    assert [i.name for i in store.list()] == ["same"]
    assert not [p for p in (tmp_path / "ex").iterdir() if p.name.startswith(".")]  # no staging left
