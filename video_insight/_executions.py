"""Printing local executions: the list, and one execution's status, timings and errors."""

from __future__ import annotations

import datetime as dt

import flows

__all__ = ["print_execution", "print_executions"]


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _took(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def print_executions(store: flows.ExecutionStore) -> None:
    """One line per execution, newest first."""
    infos = sorted(store.list(), key=lambda i: i.started, reverse=True)
    if not infos:
        print("no executions yet")
        return
    print(f"{'NAME':<34} {'STATUS':<10} {'STARTED':<19} {'TOOK':>8}")
    for info in infos:
        status = info.status
        if status == "Running" and not info.process_alive:
            status = "Stopped?"
        print(f"{info.name:<34} {status:<10} {_when(info.started):<19} {_took(info.seconds):>8}")


def print_execution(store: flows.ExecutionStore, name: str) -> None:
    """Status, timings per state and the errors of execution ``name``."""
    info = store.get(name)
    alive = info.process_alive
    status = info.status if info.status != "Running" or alive else "Running (process gone: resumable)"
    print(f"execution {info.name}  flow {info.flow}")
    print(f"  status   {status}")
    print(f"  started  {_when(info.started)}   stopped {_when(info.stopped)}   took {_took(info.seconds)}")
    if info.error:
        print(f"  error    {info.error.get('Code')}: {info.error.get('Detail')}")
    timings = store.state_timings(name)
    stats = store.state_stats(name)
    if timings or stats:
        print(f"  {'STATE':<14} {'RUNS':>5} {'OK':>5} {'FAIL':>5} {'CAUGHT':>6} {'TOTAL':>9} {'MAX':>8}")
        for state in dict.fromkeys([*stats, *timings]):
            t = timings.get(state, {})
            s = stats.get(state, {})
            print(
                f"  {state:<14} {int(t.get('count', 0)):>5} {s.get('succeeded', 0):>5}"
                f" {s.get('failed', 0):>5}"
                f" {s.get('caught', 0):>6} {t.get('total_s', 0.0):>8.2f}s {t.get('max_s', 0.0):>7.2f}s"
            )
    errors = [e for e in store.events(name) if e["type"] in ("TaskFailed", "StateFailed") and e.get("error")]
    if errors:
        print("  errors:")
        seen: set[tuple[str, str]] = set()
        for event in errors:
            err = event["error"]
            key = (event.get("path", ""), str(err.get("Code")))
            if key in seen:
                continue
            seen.add(key)
            print(f"    {event.get('path', event.get('state'))}: {err.get('Code')}: {err.get('Detail')}")
