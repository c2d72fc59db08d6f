"""Wiring shared by the CLI commands: the flow, the engine and the task workspace."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import flows
import steps
from steps.errors import InvalidRequest

__all__ = [
    "BatchError",
    "build_engine",
    "clean_stale",
    "load_batch",
    "publish_outputs",
]


class BatchError(Exception):
    """The batch file cannot be used; the message says why and where."""


def load_batch(path: Path) -> dict[str, Any]:
    """Read and validate a batch file; relative video paths resolve against the file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BatchError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"{path}: cannot read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BatchError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    try:
        steps.validate_request(data)
    except InvalidRequest as exc:
        raise BatchError(f"{path}: {exc.message}") from exc
    base = path.resolve().parent
    for video in data["videos"]:
        if "path" in video and not os.path.isabs(video["path"]):
            video["path"] = str((base / video["path"]).resolve())
    return dict(data)


def _store_for(settings: steps.Settings, flow_name: str) -> flows.ExecutionStore:
    """The embedded engine's execution records of ``flow_name`` in the workspace."""
    return flows.ExecutionStore(settings.workspace / "executions" / flow_name)


def build_engine(
    settings: steps.Settings, flow_file: Path | None = None, *, progress: steps.ProgressSink | None = None
) -> flows.Engine:
    """An embedded engine for the flow (default: the packaged one) over the real step registry.

    Every step it runs reports progress to ``progress`` (default: a sink with the reporters that
    ``settings`` enable); register a reporter there to follow the tasks it runs.
    """
    registry = steps.registry()
    spec = flows.check_flow(flow_file or flows.default_flow_path(), known_arns=registry)
    return flows.Engine(
        spec,
        registry,
        store=_store_for(settings, str(spec.get("Name", "flow"))),
        services=steps.step_services(settings, progress),
        max_state_bytes=steps.MAX_STATE_BYTES,
        max_events=settings.max_execution_events or None,
        max_concurrency=settings.local_concurrency,
    )


def publish_outputs(ws: steps.TaskWorkspace, dest: Path) -> Path:
    """Copy the task's output folder to ``dest`` (merged into it); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    if ws.out.is_dir():
        shutil.copytree(ws.out, dest, dirs_exist_ok=True)
    return dest


def _stores(settings: steps.Settings) -> list[flows.ExecutionStore]:
    base = settings.workspace / "executions"
    return [flows.ExecutionStore(p) for p in sorted(base.iterdir()) if p.is_dir()] if base.is_dir() else []


def clean_stale(settings: steps.Settings, older_than_s: float, now: float | None = None) -> list[str]:
    """Remove stale task workspaces and their local execution records; running executions are kept."""
    stores = _stores(settings)

    def running(task_id: str) -> bool:
        infos = (store.find(task_id) for store in stores)
        return any(
            i is not None and i.status is flows.ExecutionStatus.RUNNING and i.process_alive for i in infos
        )

    removed = steps.clean_workspace(settings.workspace, older_than_s, now, keep=running)
    for task_id in removed:
        for store in stores:
            store.delete(task_id)
    return removed
