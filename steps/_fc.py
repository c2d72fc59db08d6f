"""Function Compute 3.0 custom-container adapter: one small HTTP server runs one step.

FC forwards an event invocation (``InvokeFunction``, which is how CloudFlow's ``FC:InvokeFunction``
Tasks call us) as ``POST /invoke``: the body is the event, the common ``x-fc-*`` headers carry the
request id and the function's timeout. ``POST /initialize`` is the initializer hook (once per
instance), ``GET /health`` is for the container health check.

Error contract (FC docs, "Custom Container event handlers"): an event handler reports failure with
HTTP status 404 and the response header ``x-fc-status: 404``; FC then reports the invocation as an
unhandled function error carrying our body. We answer in the shape FC uses for unhandled errors of
its own runtimes, ``{"errorCode", "errorMessage", "errorType"}`` (assumption: CloudFlow's
``$Context.Current.Error.Detail`` holds that body; only ``FnF.ALL`` is relied on to catch it, and
``record-failure`` reads ``errorMessage`` out of ``Detail``). Malformed JSON is 400, a body over the
sync payload limit 413, an unexpected crash 500 (code ``FC.Unknown``) — all with ``x-fc-status: 404``.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ConfigDict

from ._cleanup import clean_workspace, parse_duration
from ._logging import get_logger
from ._registry import STEP_MODULES, function_name
from ._runtime import StepContext, StepModel, step
from ._settings import Settings
from .errors import InvalidStepInput, VideoInsightError

__all__ = [
    "CLEANUP_STEP",
    "FUNCTION_PREFIX",
    "MAX_EVENT_BYTES",
    "FCResponse",
    "StepApp",
    "StepNotFound",
    "context_from_headers",
    "make_step_server",
    "resolve_step",
    "serve_steps",
]

log = get_logger(__name__)
FUNCTION_PREFIX = function_name("")  # "video-insight-"
MAX_EVENT_BYTES = 6 * 1024 * 1024  # FC's payload limit for a synchronous event invocation
CLEANUP_STEP = "cleanup"  # timer-triggered, not a flow Task: served here, not in the ARN registry
DEFAULT_CLEANUP_AGE = "24h"
_JSON = "application/json; charset=utf-8"


class StepNotFound(ValueError):
    """The step (or function name) given at start-up names no step this image serves."""


def serve_steps() -> list[str]:
    """Every step name ``serve-step`` accepts: the flow's steps plus the cleanup timer."""
    return [*STEP_MODULES, CLEANUP_STEP]


def resolve_step(name: str) -> str:
    """``fetch`` or ``video-insight-fetch`` → ``fetch``; anything else raises :class:`StepNotFound`."""
    raw = name.strip()
    key = raw[len(FUNCTION_PREFIX) :] if raw.startswith(FUNCTION_PREFIX) else raw
    if key not in serve_steps():
        known = ", ".join(serve_steps())
        raise StepNotFound(
            f"unknown step {raw!r}: expected one of {known} (optionally prefixed {FUNCTION_PREFIX!r})"
        )
    return key


# --- the cleanup pseudo-step (timer trigger) ---------------------------------------------------


class TimerEvent(StepModel):
    """An FC timer trigger's event; ``payload`` is the age after which a task is removed (``24h``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    triggerTime: str | None = None
    triggerName: str | None = None
    payload: str | None = None


class CleanupOutput(StepModel):
    older_than_s: float
    removed_count: int
    removed: list[str]  # at most 100 ids, to stay far below the 64 KiB limit


def run_cleanup(inp: TimerEvent, ctx: StepContext) -> CleanupOutput:
    """Remove task workspaces untouched for ``payload`` (default 24h), as ``video-insight clean`` does."""
    age = (inp.payload or "").strip() or DEFAULT_CLEANUP_AGE
    try:
        seconds = parse_duration(age)
    except ValueError as exc:
        raise InvalidStepInput(f"cleanup: timer payload {age!r}: {exc}") from exc
    removed = clean_workspace(ctx.settings.workspace, seconds)
    log.info("cleanup.done", removed=len(removed), older_than_s=seconds)
    return CleanupOutput(older_than_s=seconds, removed_count=len(removed), removed=removed[:100])


cleanup_handler = step(CLEANUP_STEP, TimerEvent)(run_cleanup)


# --- warm-up (POST /initialize) ------------------------------------------------------------------


def _warm_transcribe(settings: Settings) -> None:
    """Load the configured speech model once, so the first video does not pay for it."""
    from ._asr import FunasrEngine, WhisperEngine, choose_engine
    from ._asr.funasr_engine import load_model
    from ._asr.whisper_engine import _load

    engine = choose_engine(settings).engine
    if isinstance(engine, WhisperEngine):
        _load(engine.path, engine.device)
    elif isinstance(engine, FunasrEngine):
        load_model(engine.vad_dir, engine.device)
        load_model(engine.model_dir, engine.device)


_WARMUPS: dict[str, Callable[[Settings], None]] = {"transcribe": _warm_transcribe}


# --- the HTTP-independent application --------------------------------------------------------------


@dataclass(frozen=True)
class FCResponse:
    """What to answer: status, JSON body and extra headers."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def _failure(status: int, code: str, message: str, kind: str) -> FCResponse:
    body = {"errorCode": code, "errorMessage": message, "errorType": kind}
    return FCResponse(status, body, {"x-fc-status": "404"})


def context_from_headers(
    headers: Mapping[str, str], settings: Settings, now: float | None = None
) -> StepContext:
    """A :class:`StepContext` from FC's request headers (``x-fc-request-id``, ``x-fc-function-timeout``)."""
    lower = {k.lower(): v for k, v in headers.items()}
    started = time.monotonic() if now is None else now
    deadline = None
    try:
        timeout_s = float(lower.get("x-fc-function-timeout", ""))
        if timeout_s > 0:
            deadline = started + timeout_s
    except ValueError:
        pass
    request_id = lower.get("x-fc-request-id", "").strip() or uuid.uuid4().hex
    return StepContext(settings=settings, request_id=request_id, deadline=deadline)


class StepApp:
    """One step behind FC's event-function protocol; the socket server only moves bytes."""

    def __init__(self, step_name: str, settings: Settings) -> None:
        self.step = resolve_step(step_name)
        self.settings = settings
        self._handler: Callable[..., dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def handler(self) -> Callable[..., dict[str, Any]]:
        """The step's ``handler(event, ctx)``, imported once."""
        with self._lock:
            if self._handler is None:
                if self.step == CLEANUP_STEP:
                    self._handler = cleanup_handler
                else:
                    module = importlib.import_module(f"{__package__}.{STEP_MODULES[self.step]}")
                    self._handler = module.handler
            return self._handler

    def initialize(self) -> FCResponse:
        """Import the step and warm what it loads lazily (the speech model for ``transcribe``)."""
        started = time.perf_counter()
        self.handler()
        warm = _WARMUPS.get(self.step)
        if warm is not None:
            try:
                warm(self.settings)
            except VideoInsightError as exc:  # a request may still pick another engine
                log.warning("fc.warmup_skipped", step=self.step, code=exc.code, message=exc.message)
        seconds = round(time.perf_counter() - started, 3)
        log.info("fc.initialized", step=self.step, seconds=seconds)
        return FCResponse(200, {"step": self.step, "initialized": True, "seconds": seconds})

    def invoke(self, body: bytes, headers: Mapping[str, str]) -> FCResponse:
        """Run the step on the event in ``body``; typed errors become FC function errors."""
        if len(body) > MAX_EVENT_BYTES:
            return _failure(
                413, "EntityTooLarge", f"event is {len(body)} bytes, over {MAX_EVENT_BYTES}", "EntityTooLarge"
            )
        try:
            event = json.loads(body) if body.strip() else None
        except ValueError as exc:
            message = f"{self.step}: event is not valid JSON: {exc}"
            return _failure(400, InvalidStepInput.code, message, "InvalidStepInput")
        if not isinstance(event, dict):
            message = f"{self.step}: event must be a JSON object, got {type(event).__name__}"
            return _failure(400, InvalidStepInput.code, message, "InvalidStepInput")
        ctx = context_from_headers(headers, self.settings)
        try:
            result = self.handler()(event, ctx)
        except VideoInsightError as exc:
            return _failure(404, exc.code, exc.message, type(exc).__name__)
        except Exception as exc:  # the step already logged the traceback as step.crashed
            return _failure(500, "FC.Unknown", f"{type(exc).__name__}: {exc}", type(exc).__name__)
        return FCResponse(200, result)

    def health(self) -> FCResponse:
        """Liveness: the server answers and knows its step."""
        return FCResponse(200, {"status": "ok", "step": self.step})


# --- the socket server -----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "video-insight-fc"
    protocol_version = "HTTP/1.1"
    app: StepApp  # set on the subclass made by make_step_server

    def _send(self, resp: FCResponse) -> None:
        data = json.dumps(resp.body, ensure_ascii=False).encode("utf-8")
        self.send_response(resp.status)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(data)))
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes | None:
        """The request body, or None after answering 413/400 (the connection is then closed)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(_failure(400, "InvalidArgument", "bad Content-Length header", "InvalidArgument"))
            return None
        if length > MAX_EVENT_BYTES:
            self.close_connection = True  # do not read what we refuse
            message = f"event is {length} bytes, over the {MAX_EVENT_BYTES}-byte limit"
            self._send(_failure(413, "EntityTooLarge", message, "EntityTooLarge"))
            return None
        return self.rfile.read(length)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()  # read first: an unread body would be parsed as the next request
        if body is None:
            return
        if path not in ("/invoke", "/initialize"):
            self._send(FCResponse(404, {"errorCode": "NotFound", "errorMessage": f"no route {path}"}))
            return
        if path == "/initialize":
            self._send(self.app.initialize())
            return
        started = time.perf_counter()
        resp = self.app.invoke(body, dict(self.headers.items()))
        log.info(
            "fc.invoked",
            step=self.app.step,
            status=resp.status,
            request_id=self.headers.get("x-fc-request-id", ""),
            seconds=round(time.perf_counter() - started, 3),
        )
        self._send(resp)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/health":
            self._send(self.app.health())
            return
        message = "POST /invoke or /initialize; GET /health"
        self._send(FCResponse(405 if self.path.startswith("/invoke") else 404, {"errorMessage": message}))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fc.http", line=format % args)


def make_step_server(app: StepApp, host: str = "0.0.0.0", port: int = 9000) -> ThreadingHTTPServer:
    """A threading HTTP server bound to ``host:port`` (port 0: any free port) serving ``app``."""
    handler = type("StepRequestHandler", (_Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
