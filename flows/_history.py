"""Durable execution history: ``<root>/<name>/meta.json`` and ``<root>/<name>/history.jsonl``.

``meta.json`` (flow, status, input, output, error, started/stopped, pid, host) is replaced
atomically. ``history.jsonl`` is append-only, one event per line, shaped like CloudFlow's
GetExecutionHistory: ``{id, ts, type, state, path, ...}``.

Durability: every event is written and flushed to the OS at once, so a killed process (SIGKILL)
loses nothing. ``fsync`` — which only matters when the machine itself goes down — runs on a
background thread at most every ``sync_interval`` seconds (group commit) and inline for the
terminal events; one fsync per event would cost 1–5 ms each and dominate a 1,000-item Map. A power
loss can therefore forget the last few ``TaskSucceeded`` events; resume then runs those Tasks again,
which steps tolerate because every step is idempotent.
"""

from __future__ import annotations

import builtins
import fcntl
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

from ._errors import EventLimitExceeded, ExecutionNotFound, StorageFull
from ._interface import Execution, ExecutionStatus

__all__ = [
    "CLOUDFLOW_MAX_EVENTS",
    "ExecutionInfo",
    "ExecutionStore",
    "HistoryWriter",
    "cloudflow_events",
    "state_stats",
    "state_timings",
]

META = "meta.json"
HISTORY = "history.jsonl"
STOP = "stop.json"  # a stop request, read by the process that runs the execution
# CloudFlow fails an execution past this many history events (a quota that can be raised).
CLOUDFLOW_MAX_EVENTS = 5000
# How many CloudFlow history events one recorded event stands for. CloudFlow records a Task's start
# between its scheduling and its end, which this history leaves out, so TaskScheduled counts twice;
# ExecutionResumed is this engine's own bookkeeping. Every other event is one of CloudFlow's. Each
# Map iteration and Parallel branch is a scope of its own there (its start and its end: 2 more),
# seen here as the first state entered under a new path prefix. The exact event list CloudFlow
# writes is not published (?); this errs on the high side, so a flow that passes here fits there.
_WEIGHTS = {"TaskScheduled": 2, "ExecutionResumed": 0}
_SCOPE_EVENTS = 2


class _Counter:
    """Counts events the CloudFlow way as they come (remembers the scopes it has seen)."""

    def __init__(self) -> None:
        self.total = 0
        self.scopes: set[str] = set()

    def weigh(self, type: str, path: str) -> tuple[int, str | None]:
        """The weight of an event, and the new scope it opens (None if none)."""
        weight = _WEIGHTS.get(type, 1)
        if type == "StateEntered" and "/" in path:
            scope = path.rsplit("/", 1)[0]
            if scope not in self.scopes:
                return weight + _SCOPE_EVENTS, scope
        return weight, None

    def add(self, weight: int, scope: str | None) -> None:
        self.total += weight
        if scope is not None:
            self.scopes.add(scope)

    def feed(self, event: dict[str, Any]) -> None:
        self.add(*self.weigh(str(event.get("type")), str(event.get("path") or "")))


log = structlog.get_logger(logger_name=__name__)
# CloudFlow's rule for execution names, which also keeps a name a plain folder name.
EXECUTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class ExecutionInfo:
    """What ``meta.json`` records about one execution."""

    name: str
    flow: str
    status: ExecutionStatus = ExecutionStatus.RUNNING
    input: Any = None
    output: Any = None
    error: dict[str, str] | None = None
    started: float = field(default_factory=time.time)
    stopped: float | None = None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)

    def __post_init__(self) -> None:
        self.status = ExecutionStatus(self.status)  # meta.json holds the plain string

    def snapshot(self) -> Execution:
        """This record as the engine interface describes executions."""
        return Execution(
            name=self.name,
            flow=self.flow,
            status=self.status,
            input=self.input,
            output=self.output,
            error=self.error,
            started=self.started,
            stopped=self.stopped,
            resumable=(self.status is ExecutionStatus.RUNNING and not self.process_alive)
            or self.stopped_by_full_disk,
        )

    @property
    def stopped_by_full_disk(self) -> bool:
        """Whether it failed because the disk was full (resumable once space is freed)."""
        return self.status is ExecutionStatus.FAILED and (self.error or {}).get("Code") == StorageFull.code

    @property
    def process_alive(self) -> bool:
        """Whether the process that runs (or ran) this execution still exists on this host."""
        if self.host != socket.gethostname():
            return True  # cannot tell: assume alive
        if self.pid == os.getpid():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    @property
    def seconds(self) -> float | None:
        """Wall time from start to stop, when stopped."""
        return None if self.stopped is None else self.stopped - self.started


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def cloudflow_events(events: Iterator[dict[str, Any]] | builtins.list[dict[str, Any]]) -> int:
    """How many events CloudFlow would have recorded for these (see ``_WEIGHTS``)."""
    counter = _Counter()
    for event in events:
        counter.feed(event)
    return counter.total


class HistoryWriter:
    """Appends events to one execution's ``history.jsonl`` (thread-safe).

    With ``max_events``, an event that would take the CloudFlow count (:func:`cloudflow_events`)
    past it raises :class:`EventLimitExceeded` instead of being written; the ``Execution*`` events
    that end an execution are always written.
    """

    def __init__(
        self,
        path: Path,
        *,
        next_id: int = 1,
        sync_interval: float = 0.05,
        max_events: int | None = None,
        counter: _Counter | None = None,
    ) -> None:
        self.path = path
        self.max_events = max_events
        self.counter = counter or _Counter()
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._next_id = next_id
        self._dirty = False
        self._closed = threading.Event()
        self._interval = sync_interval
        self._syncer = threading.Thread(
            target=self._sync_loop, name=f"history-sync:{path.parent.name}", daemon=True
        )
        self._syncer.start()

    def append(
        self, type: str, state: str = "", path: str = "", *, durable: bool = False, **fields: Any
    ) -> None:
        """Write one event; ``durable`` fsyncs before returning."""
        with self._lock:
            weight, scope = self.counter.weigh(type, path)
            if (
                self.max_events is not None
                and self.counter.total + weight > self.max_events
                and not type.startswith("Execution")
            ):
                raise EventLimitExceeded(
                    f"the execution passed {self.max_events} history events, CloudFlow's limit for one "
                    "execution; split the batch into child executions or raise the limit"
                )
            self.counter.add(weight, scope)
            event = {
                "id": self._next_id,
                "ts": round(time.time(), 6),
                "type": type,
                "state": state,
                "path": path,
            }
            event.update(fields)
            self._file.write(_dumps(event) + "\n")
            self._file.flush()
            self._next_id += 1
            self._dirty = True
            if durable:
                self._sync()

    def _sync(self) -> None:
        if self._dirty and not self._file.closed:
            os.fsync(self._file.fileno())
            self._dirty = False

    def _sync_loop(self) -> None:
        while not self._closed.wait(self._interval):
            if self._dirty:
                with self._lock:
                    try:
                        self._sync()
                    except OSError as exc:  # a full or failing disk: the next append reports it
                        log.warning("history.sync_failed", execution=self.path.parent.name, error=str(exc))

    def close(self) -> None:
        """Fsync what is left and close the file."""
        self._closed.set()
        self._syncer.join()
        with self._lock:
            try:
                self._sync()
            finally:
                self._file.close()  # closed even when the last flush fails (a full disk)


class ExecutionStore:
    """The executions of one flow under ``root`` (the lead passes ``<workspace>/executions/<flow>``)."""

    def __init__(self, root: str | os.PathLike[str], *, sync_interval: float = 0.05) -> None:
        self.root = Path(root)
        self.sync_interval = sync_interval

    def _dir(self, name: str) -> Path:
        """The folder of execution ``name``; a name that is not a valid execution name never makes a
        path (``..``, ``/``, a final newline): ExecutionNotFound says so."""
        if not isinstance(name, str) or not EXECUTION_NAME.fullmatch(name):
            raise ExecutionNotFound(
                f"invalid execution name {name!r}: use a letter or '_' first, then letters, digits,"
                " '_' and '-' (at most 128)"
            )
        return self.root / name

    # -- writing -----------------------------------------------------------------------------------
    def create(self, info: ExecutionInfo, *, max_events: int | None = None) -> HistoryWriter | None:
        """Claim ``info.name`` and write its meta; None when the name already exists.

        The folder appears complete (meta included) or not at all: it is built under a temp name and
        renamed into place, so another process never sees a claimed name without its meta.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        if self._dir(info.name).exists():
            return None
        staging = Path(tempfile.mkdtemp(prefix=f".{info.name}.", dir=self.root))
        self._write_meta(staging, info)
        try:
            os.rename(staging, self._dir(info.name))  # fails if the name appeared meanwhile
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return None
        _fsync_dir(self.root)
        return HistoryWriter(
            self._dir(info.name) / HISTORY, sync_interval=self.sync_interval, max_events=max_events
        )

    def reopen(self, name: str, *, max_events: int | None = None) -> HistoryWriter:
        """A writer that continues ``name``'s history after its last event (for resume)."""
        path = self._dir(name) / HISTORY
        last, counter = 0, _Counter()
        if path.exists():
            with path.open("rb+") as f:
                data = f.read()
                if data and not data.endswith(b"\n"):  # a line cut short by a kill
                    f.write(b"\n")
            for event in self._read(path):
                last = max(last, int(event.get("id", 0)))
                counter.feed(event)
        return HistoryWriter(
            path, next_id=last + 1, sync_interval=self.sync_interval, max_events=max_events, counter=counter
        )

    def save(self, info: ExecutionInfo) -> None:
        """Replace ``meta.json`` atomically (temp file, fsync, rename)."""
        self._write_meta(self._dir(info.name), info)

    @staticmethod
    def _write_meta(folder: Path, info: ExecutionInfo) -> None:
        tmp = folder / f".{META}.{os.getpid()}.{threading.get_ident()}.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            f.write(json.dumps(asdict(info), ensure_ascii=False, indent=2))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / META)
        _fsync_dir(folder)

    def lock(self, name: str) -> int | None:
        """Take the run lock of ``name`` (an flock the OS drops if this process dies).

        Returns the lock's file descriptor (close it to release), or None when another live
        process holds it: two processes never run (or resume) the same execution at once.
        """
        fd = os.open(self._dir(name) / "run.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def request_stop(self, name: str, error: dict[str, str]) -> None:
        """Ask the process running ``name`` to stop it (it checks before every state)."""
        tmp = self._dir(name) / f".{STOP}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(_dumps(error), encoding="utf-8")
        os.replace(tmp, self._dir(name) / STOP)

    def stop_requested(self, name: str) -> bool:
        """Whether someone asked to stop ``name``."""
        return (self._dir(name) / STOP).exists()

    def delete(self, name: str) -> None:
        """Forget execution ``name`` (its meta and history); nothing happens if it does not exist."""
        shutil.rmtree(self._dir(name), ignore_errors=True)

    # -- reading -----------------------------------------------------------------------------------
    def find(self, name: str) -> ExecutionInfo | None:
        """The execution called ``name``, or None (also for a name no execution can have)."""
        try:
            path = self._dir(name) / META
        except ExecutionNotFound:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return ExecutionInfo(**data)

    def get(self, name: str) -> ExecutionInfo:
        """The execution called ``name``; raises ExecutionNotFound."""
        self._dir(name)  # an invalid name is reported as such
        info = self.find(name)
        if info is None:
            raise ExecutionNotFound(f"no execution named {name!r} under {self.root}")
        return info

    def list(self) -> list[ExecutionInfo]:
        """All executions, oldest first."""
        if not self.root.is_dir():
            return []
        names = (p.name for p in self.root.iterdir() if not p.name.startswith(".") and (p / META).is_file())
        found = (self.find(name) for name in names)
        return sorted((i for i in found if i is not None), key=lambda i: i.started)

    @staticmethod
    def _read(path: Path) -> Iterator[dict[str, Any]]:
        with path.open(encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill
        return

    def events(self, name: str) -> builtins.list[dict[str, Any]]:
        """Every recorded event of ``name``, in order."""
        self.get(name)
        path = self._dir(name) / HISTORY
        return list(self._read(path)) if path.exists() else []

    def completed_tasks(self, name: str) -> dict[str, Any]:
        """``path → handler result`` of every Task that succeeded (what resume reuses)."""
        return {e["path"]: e.get("output") for e in self.events(name) if e["type"] == "TaskSucceeded"}

    def state_stats(self, name: str) -> dict[str, dict[str, int]]:
        """:func:`state_stats` of ``name``'s history."""
        return state_stats(self.events(name))

    def state_timings(self, name: str) -> dict[str, dict[str, float]]:
        """:func:`state_timings` of ``name``'s history."""
        return state_timings(self.events(name))


def _key(event: Mapping[str, Any]) -> str:
    """The state an event belongs to, as named in the definition (``Videos/Understand/Branch1/Shots``).

    Events recorded before keys existed fall back to the bare state name.
    """
    return str(event.get("key") or event["state"])


def state_stats(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per state key, how many of its runs (over all iterations) succeeded/failed/ran/were caught."""
    last: dict[str, tuple[str, str]] = {}
    for e in events:
        kind = e["type"]
        if kind == "StateEntered":
            last[e["path"]] = (_key(e), "running")
        elif kind == "StateExited":
            last[e["path"]] = (_key(e), "succeeded")
        elif kind == "StateFailed":
            last[e["path"]] = (_key(e), "caught" if e.get("caught") else "failed")
    stats: dict[str, dict[str, int]] = {}
    for key, status in last.values():
        row = stats.setdefault(key, {"succeeded": 0, "failed": 0, "running": 0, "caught": 0})
        row[status] += 1
    return stats


def state_timings(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per state key: ``count``, ``total_s`` and ``max_s`` of its finished runs."""
    entered: dict[str, float] = {}
    out: dict[str, dict[str, float]] = {}
    for e in events:
        if e["type"] == "StateEntered":
            entered[e["path"]] = e["ts"]
        elif e["type"] in ("StateExited", "StateFailed") and e["path"] in entered:
            took = e["ts"] - entered.pop(e["path"])
            row = out.setdefault(_key(e), {"count": 0, "total_s": 0.0, "max_s": 0.0})
            row["count"] += 1
            row["total_s"] += took
            row["max_s"] = max(row["max_s"], took)
    return out
