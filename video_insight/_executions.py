"""Printing executions through the engine interface: the list, and one with its timings and errors."""

from __future__ import annotations

import datetime as dt

import flows
from steps import printable

__all__ = ["print_execution", "print_executions"]


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _took(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def _status(execution: flows.Execution, *, long: bool = False) -> str:
    if execution.resumable and execution.done:  # failed on a full disk
        return "Failed (disk full: resumable)" if long else "DiskFull"
    if execution.resumable:
        return "Running (process gone: resumable)" if long else "Stopped?"
    return str(execution.status)


def print_executions(engine: flows.ExecutionEngine) -> None:
    """One line per execution, newest first."""
    executions = sorted(engine.list(), key=lambda e: e.started or 0.0, reverse=True)
    if not executions:
        print("no executions yet")
        return
    print(f"{'NAME':<34} {'STATUS':<10} {'STARTED':<19} {'TOOK':>8}")
    for ex in executions:
        print(f"{ex.name:<34} {_status(ex):<10} {_when(ex.started):<19} {_took(ex.seconds):>8}")


def print_execution(engine: flows.ExecutionEngine, name: str) -> None:
    """Status, timings per state and the errors of execution ``name``."""
    ex = engine.describe(name)
    events = engine.history(name)
    print(f"execution {ex.name}  flow {ex.flow}")
    print(f"  status   {_status(ex, long=True)}")
    print(f"  started  {_when(ex.started)}   stopped {_when(ex.stopped)}   took {_took(ex.seconds)}")
    if ex.error:
        print(printable(f"  error    {ex.error.get('Code')}: {ex.error.get('Detail')}"))
    timings = flows.state_timings(events)
    stats = flows.state_stats(events)
    if timings or stats:
        keys = list(dict.fromkeys([*stats, *timings]))  # a state's place in the flow: Videos/Fetch
        w = max(14, *(len(k) for k in keys))
        print(f"  {'STATE':<{w}} {'RUNS':>5} {'OK':>5} {'FAIL':>5} {'CAUGHT':>6} {'TOTAL':>9} {'MAX':>8}")
        for state in keys:
            t = timings.get(state, {})
            s = stats.get(state, {})
            print(
                f"  {state:<{w}} {int(t.get('count', 0)):>5} {s.get('succeeded', 0):>5}"
                f" {s.get('failed', 0):>5}"
                f" {s.get('caught', 0):>6} {t.get('total_s', 0.0):>8.2f}s {t.get('max_s', 0.0):>7.2f}s"
            )
    errors = [e for e in events if e["type"] in ("TaskFailed", "StateFailed") and e.get("error")]
    if errors:
        print("  errors:")
        seen: set[tuple[str, str]] = set()
        for event in errors:
            err = event["error"]
            key = (event.get("path", ""), str(err.get("Code")))
            if key in seen:
                continue
            seen.add(key)
            print(
                printable(
                    f"    {event.get('path', event.get('state'))}: {err.get('Code')}: {err.get('Detail')}"
                )
            )
