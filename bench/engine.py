"""Embedded engine overhead: a Map of no-op Tasks through the engine vs the same function in a loop.

    .venv/bin/python bench/engine.py [--items 1000] [--concurrency 10] [--repeat 3]

Prints the engine's wall time (history on, written to a temp dir), the plain loop's time, the
overhead per state transition (a transition = one state entered and left) and the ratio.
Targets (issue 2): < 1 ms per transition, the 1,000-item Map < 2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows import Engine, ExecutionStore

ARN = "acs:fc:::functions/bench-noop"


def noop(event: Any, context: Any = None) -> dict[str, Any]:
    """The no-op step: returns its reference unchanged, like a step that found its work done."""
    return {"task_id": event["task_id"], "video_id": event["video_id"]}


def spec(timeout: bool, concurrency: int) -> dict[str, Any]:
    """A Map whose Processor is one Task shaped like the real flow's (Retry, Catch, constructors)."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Name": "Noop",
        "Action": "FC:InvokeFunction",
        "Parameters": {
            "resourceArn": ARN,
            "body": {"task_id.$": "$Context.Execution.Input.task_id", "video_id.$": "$Input"},
        },
        "OutputConstructor": {"video_id.$": "$Output.Body.video_id"},
        "Retry": [{"Errors": ["FC.Unknown"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2}],
        "Catch": [{"Errors": ["FnF.ALL"], "Next": "Failed"}],
        "End": True,
    }
    if timeout:
        task["Timeout"] = "60"
    return {
        "Type": "StateMachine",
        "Name": "bench",
        "SpecVersion": "v1",
        "StartAt": "Videos",
        "States": [
            {
                "Type": "Map",
                "Name": "Videos",
                "ItemsPath": "$Input.video_ids",
                "MaxConcurrency": concurrency,
                "Processor": {
                    "StartAt": "Noop",
                    "States": [task, {"Type": "Pass", "Name": "Failed", "End": True}],
                },
                "OutputConstructor": {"count.$": "$Output.Items"},
                "End": True,
            }
        ],
    }


def run_engine(items: int, concurrency: int, timeout: bool, root: Path, n: int) -> tuple[float, int]:
    """Seconds for one execution and the number of state transitions it made."""
    store = ExecutionStore(root)
    # one big Map in one execution measures the engine; the 5,000-event limit would stop it
    engine = Engine(spec(timeout, concurrency), {ARN: noop}, store=store, max_events=None)
    payload = {
        "task_id": "bench",
        "video_ids": [f"v{i:05d}" for i in range(items)],
    }
    started = time.perf_counter()
    execution = engine.start(f"bench-{n}", payload, wait=True)
    took = time.perf_counter() - started
    if execution.status != "Succeeded" or len(execution.output["count"]) != items:
        raise SystemExit(f"bench execution did not succeed: {execution.error}")
    transitions = sum(1 for e in store.events(execution.name) if e["type"] == "StateEntered")
    return took, transitions


def run_loop(items: int) -> float:
    """Seconds to call the same function ``items`` times in a plain loop."""
    started = time.perf_counter()
    for i in range(items):
        noop({"task_id": "bench", "video_id": f"v{i:05d}"}, None)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for timeout in (True, False):
            runs = [
                run_engine(args.items, args.concurrency, timeout, Path(tmp) / str(timeout), n)
                for n in range(args.repeat)
            ]
            engine_s = min(t for t, _ in runs)
            transitions = runs[0][1]
            loop_s = min(run_loop(args.items) for _ in range(args.repeat))
            per = (engine_s - loop_s) / transitions * 1000
            label = (
                "Task Timeout on (handler in a worker thread)" if timeout else "no Timeout (handler inline)"
            )
            print(f"{label}: {args.items}-item Map, MaxConcurrency {args.concurrency}, history on")
            print(
                f"  engine      {engine_s:8.3f} s   ({transitions} state transitions, best of {args.repeat})"
            )
            print(f"  plain loop  {loop_s:8.4f} s")
            ratio = engine_s / max(loop_s, 1e-9)
            print(f"  overhead    {per:8.3f} ms per transition   ratio engine/loop {ratio:,.0f}x")


if __name__ == "__main__":
    main()
