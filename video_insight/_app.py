"""Wiring shared by the CLI commands: the flow, the engine and the task workspace."""

from __future__ import annotations

import os
import shutil
import tempfile
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
    "unwritable",
]


MAX_BATCH_BYTES = 16 * 2**20  # a batch of 1,000 videos with every option is well under 1 MB
MIN_FREE_BYTES = 8 * 2**20  # the outputs of a small batch (reports, keyframes, contact sheets)


class BatchError(Exception):
    """The batch file cannot be used; the message says why and where."""


def load_batch(path: Path) -> dict[str, Any]:
    """Read and validate a batch file; relative video paths resolve against the file's folder.

    Raises:
        BatchError: what is wrong and where (a JSON path), quoting at most a short excerpt.
    """
    shown = steps.printable(str(path))
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BATCH_BYTES + 1)
    except FileNotFoundError as exc:
        raise BatchError(f"{shown}: 找不到批次文件 (no such file)") from exc
    except OSError as exc:
        raise BatchError(f"{shown}: 无法读取批次文件 (cannot read): {exc.strerror or exc}") from exc
    if len(data) > MAX_BATCH_BYTES:
        raise BatchError(f"{shown}: 批次文件超过 {MAX_BATCH_BYTES // 2**20} MB (batch file too large)")
    try:
        batch = steps.loads_strict(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise BatchError(
            f"{shown}: 批次文件不是 UTF-8 文本 (not UTF-8: invalid byte at offset {exc.start})"
        ) from None
    except steps.JsonInputError as exc:
        where = "" if exc.path == "(root)" else f"{exc.path}: "
        raise BatchError(f"{shown}: 批次文件无效 (invalid batch): {where}{exc.reason}") from None
    try:
        steps.validate_request(batch)
    except InvalidRequest as exc:
        raise BatchError(f"{shown}: 批次文件无效 ({exc.message})") from None
    base = path.resolve().parent
    for i, video in enumerate(batch.get("videos") or []):  # a Bitable source lists none
        if "path" in video and not os.path.isabs(video["path"]):
            try:
                video["path"] = str((base / video["path"]).resolve())
            except (OSError, ValueError) as exc:  # a NUL byte, a link loop
                raise BatchError(f"{shown}: videos[{i}].path: 无效的文件路径 (invalid path): {exc}") from None
    return dict(batch)


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
    """Copy the task's output folder into ``dest``; returns ``dest``.

    Each file is copied to a temp name and renamed, ``results.json`` last: a full or failing disk
    leaves the previous file or none, never a truncated one. Links in the output folder are skipped.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not ws.out.is_dir():
        return dest
    files = [p for p in ws.out.rglob("*") if p.is_file() and not p.is_symlink()]
    for src in sorted(files, key=lambda p: (p.parent == ws.out and p.name == "results.json", str(p))):
        steps.atomic_copy(src, dest / src.relative_to(ws.out))
    return dest


def unwritable(folder: Path, need_bytes: int = MIN_FREE_BYTES) -> str | None:
    """Why ``folder`` (created if missing) cannot take the outputs, or None when it can.

    A probe file is written and removed, and the disk must have ``need_bytes`` free: a read-only
    or full output folder is found before the analysis, not after it.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".video-insight-probe.")
        try:
            os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
            os.unlink(probe)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return exc.strerror or str(exc)
    if free < need_bytes:
        return f"only {free // 1024} KiB free"
    return None


def _stores(settings: steps.Settings) -> list[flows.ExecutionStore]:
    """The flows' execution stores in the workspace; links are not followed (clean deletes in them)."""
    base = settings.workspace / "executions"
    if base.is_symlink() or not base.is_dir():
        return []
    return [flows.ExecutionStore(p) for p in sorted(base.iterdir()) if p.is_dir() and not p.is_symlink()]


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
