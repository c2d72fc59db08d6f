"""Submitting a task: the one way a request becomes an execution (the CLI's ``run``, the gateway)."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flows
import steps
from steps.errors import InvalidRequest

__all__ = ["RequestTooLarge", "Submission", "inline_input", "new_task_id", "submit_task"]


def new_task_id() -> str:
    """A fresh task id, also a valid CloudFlow execution name: ``t20261127-224501-a1b2c3``."""
    return time.strftime("t%Y%m%d-%H%M%S-", time.localtime()) + secrets.token_hex(3)


@dataclass(frozen=True)
class Submission:
    """What :func:`submit_task` did.

    Attributes:
        execution: the task's execution as the engine describes it after the call.
        created: True when this call stored the request and started the execution; False when the
            task id already had an execution (nothing was written or started).
    """

    task_id: str
    execution: flows.Execution
    created: bool


class RequestTooLarge(ValueError):
    """The request does not fit in an execution input; the message says what to do instead."""


def inline_input(task_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """The execution input carrying ``request`` to Prepare; RequestTooLarge past 64 KiB."""
    payload = {"task_id": task_id, "request": {**request, "task_id": task_id}}
    size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > steps.MAX_STATE_BYTES:
        raise RequestTooLarge(
            f"the request is {size} bytes, over the {steps.MAX_STATE_BYTES}-byte limit of a CloudFlow "
            "execution input: split the batch into smaller files, or submit from a machine that "
            "mounts the functions' workspace (VI_WORKSPACE) with --engine embedded"
        )
    return payload


def submit_task(
    engine: flows.ExecutionEngine,
    workspace: Path,
    request: Mapping[str, Any],
    *,
    progress: steps.ProgressSink | None = None,
    inline: bool = False,
) -> Submission:
    """Store ``request``, record the task and start the execution named by its task id.

    The task id is ``request["task_id"]`` when given (a deterministic id makes a repeated submit
    harmless), else a fresh one. A task id that already has an execution, running or ended, is not
    touched: its request is not rewritten and no second execution starts. ``progress`` hears the
    task's first update (phase ``preparing``). ``inline``: nothing is written here; the request
    rides in the execution input (``{task_id, request}``) and Prepare stores it — for an engine whose
    functions do not share this machine's workspace (CloudFlow); see :func:`inline_input`.

    Raises:
        steps.errors.InvalidRequest: the request does not match the batch schema, or its task id
            holds a different request that has not started yet.
        OSError: the workspace cannot be written (a full or read-only disk).
        flows.FlowError: the engine refused the start.
    """
    steps.validate_request(request)
    task_id = str(request.get("task_id") or new_task_id())
    payload = inline_input(task_id, request) if inline else None  # too large: refused before any call
    try:
        return Submission(task_id, engine.describe(task_id), created=False)
    except flows.ExecutionNotFound:
        pass
    if payload is not None:  # the engine's functions cannot see this machine's workspace: Prepare stores it
        return Submission(task_id, engine.start(task_id, payload), created=True)
    ws = steps.TaskWorkspace(workspace, task_id)
    stored = _store_request(ws, request)
    if stored:
        steps.record_task(ws, sink=progress, phase="preparing", title=request.get("title"))
    try:
        execution = engine.start(task_id, {"task_id": task_id})
    except flows.ExecutionAlreadyExists:  # another submit started it and it ended meanwhile
        return Submission(task_id, engine.describe(task_id), created=False)
    return Submission(task_id, execution, created=stored)


def _store_request(ws: steps.TaskWorkspace, request: Mapping[str, Any]) -> bool:
    """Store ``request`` as the task's request unless one is stored; True when this call stored it.

    Two submits of one task id at the same instant: one stores it (an atomic link, never a
    rewrite), the other finds it. The same request is fine (both then start the one execution);
    a different one is refused, so a running task's request never changes under it.
    """
    data = json.dumps(dict(request), ensure_ascii=False, indent=2).encode("utf-8")
    ws.dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=ws.dir, prefix=".request.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            os.link(tmp, ws.request)
            return True
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    if steps.read_json(ws.request) != json.loads(data):
        raise InvalidRequest(
            f"task_id: {ws.task_id!r} is already used by a different request; use another task_id"
        )
    return False
