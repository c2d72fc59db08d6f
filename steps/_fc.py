"""Function Compute 3.0's event-function contract for one step, independent of any HTTP server.

FC forwards an event invocation (``InvokeFunction``, which is how CloudFlow's ``FC:InvokeFunction``
Tasks call us) as ``POST /invoke``: the body is the event, the common ``x-fc-*`` headers carry the
request id and the function's timeout. ``POST /initialize`` is the initializer hook (once per
instance), ``GET /health`` the container health check. A server maps those routes to
:meth:`FCStep.invoke`, :meth:`FCStep.initialize` and :meth:`FCStep.health` and sends the
:class:`FCResponse` it gets back as it is.

Error contract (FC docs, "Custom Container event handlers"): an event handler reports failure with
HTTP status 404 and the response header ``x-fc-status: 404``; FC then reports the invocation as an
unhandled function error carrying our body. We answer in the shape FC uses for unhandled errors of
its own runtimes, ``{"errorCode", "errorMessage", "errorType"}`` (assumption: CloudFlow's
``$Context.Current.Error.Detail`` holds that body; only ``FnF.ALL`` is relied on to catch it, and
``record-failure`` reads ``errorMessage`` out of ``Detail``). An event that is not a JSON object is
400, a body over the sync payload limit 413, an unexpected crash 500 (code ``FC.Unknown``) — all
with ``x-fc-status: 404``. Every body is strict JSON: no ``NaN`` or ``Infinity`` in or out.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ._json import MAX_DEPTH, JsonInputError, loads_strict
from ._logging import get_logger
from ._progress import ProgressSink, progress_sink
from ._registry import STEPS, function_name, serve_steps, step_module
from ._runtime import StepContext
from ._settings import Settings
from .errors import InvalidStepInput, InvalidStepOutput, VideoInsightError

__all__ = [
    "FUNCTION_PREFIX",
    "MAX_EVENT_BYTES",
    "MAX_EVENT_DEPTH",
    "FCResponse",
    "FCStep",
    "StepNotFound",
    "context_from_headers",
    "fc_error",
    "parse_event",
    "resolve_step",
]

log = get_logger(__name__)
FUNCTION_PREFIX = function_name("")  # "video-insight-"
MAX_EVENT_BYTES = 6 * 1024 * 1024  # FC's payload limit for a synchronous event invocation
MAX_EVENT_DEPTH = MAX_DEPTH  # nesting of arrays/objects in an event; CloudFlow's are a few levels deep


class StepNotFound(ValueError):
    """The step (or function name) given at start-up names no step this image serves."""


def resolve_step(name: str) -> str:
    """``fetch`` or ``video-insight-fetch`` → ``fetch``; anything else raises :class:`StepNotFound`."""
    raw = name.strip()
    key = raw.removeprefix(FUNCTION_PREFIX)
    if key not in STEPS:
        known = ", ".join(serve_steps())
        raise StepNotFound(
            f"unknown step {raw!r}: expected one of {known} (optionally prefixed {FUNCTION_PREFIX!r})"
        )
    return key


@dataclass(frozen=True)
class FCResponse:
    """What to answer: HTTP status, a JSON body (UTF-8 bytes) and extra headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> FCResponse:
        """Encode ``obj`` as strict JSON; ValueError if it holds NaN or Infinity."""
        try:
            text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (from a "\\ud800" escape): escape it instead
            data = json.dumps(obj, allow_nan=False).encode("ascii")
        return cls(status, data, dict(headers or {}))


def fc_error(status: int, code: str, message: str, kind: str | None = None) -> FCResponse:
    """An FC function error: ``{errorCode, errorMessage, errorType}`` with ``x-fc-status: 404``."""
    body = {"errorCode": code, "errorMessage": message, "errorType": kind or code}
    return FCResponse.of(status, body, {"x-fc-status": "404"})


def parse_event(body: bytes, step: str) -> dict[str, Any]:
    """The event in ``body``: a JSON object, strict (no NaN/Infinity), at most ``MAX_EVENT_DEPTH`` deep.

    Raises:
        InvalidStepInput: with what is wrong (not JSON, not an object, nested too deeply).
    """
    if not body.strip():
        raise InvalidStepInput(f"{step}: event must be a JSON object, got an empty body")
    try:
        event = loads_strict(body, max_depth=MAX_EVENT_DEPTH)
    except JsonInputError as exc:
        if exc.reason.startswith("nests"):
            raise InvalidStepInput(f"{step}: event {exc.reason}") from None
        raise InvalidStepInput(f"{step}: event is not valid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise InvalidStepInput(f"{step}: event must be a JSON object, got {type(event).__name__}")
    return event


def _non_finite_path(value: Any) -> str:
    """Where the first NaN/Infinity in ``value`` is (``$.a[2].b = inf``), or ``$``."""
    stack: list[tuple[Any, str]] = [(value, "$")]
    seen: set[int] = set()
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{path} = {item}"
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return "$"


def context_from_headers(
    headers: Mapping[str, str],
    settings: Settings,
    now: float | None = None,
    progress: ProgressSink | None = None,
) -> StepContext:
    """A :class:`StepContext` from FC's request headers (``x-fc-request-id``, ``x-fc-function-timeout``)."""
    lower = {k.lower(): v for k, v in headers.items()}
    started = time.monotonic() if now is None else now
    deadline = None
    try:
        timeout_s = float(lower.get("x-fc-function-timeout", ""))
        if 0 < timeout_s < math.inf:
            deadline = started + timeout_s
    except ValueError:
        pass
    request_id = lower.get("x-fc-request-id", "").strip() or uuid.uuid4().hex
    return StepContext(settings=settings, request_id=request_id, deadline=deadline, progress=progress)


class FCStep:
    """One step behind FC's event-function contract; servers only move bytes to and from it."""

    def __init__(self, step_name: str, settings: Settings) -> None:
        self.step = resolve_step(step_name)
        self.settings = settings
        self.progress = progress_sink(settings)  # one per instance, as an engine keeps one
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def module(self) -> ModuleType:
        """The step's module, imported once."""
        with self._lock:
            if self._module is None:
                self._module = step_module(self.step)
            return self._module

    def initialize(self) -> FCResponse:
        """Import the step and run its ``initialize(settings)`` warm-up, if it has one."""
        started = time.perf_counter()
        warm: Callable[[Settings], object] | None = getattr(self.module(), "initialize", None)
        if warm is not None:
            try:
                warm(self.settings)
            except VideoInsightError as exc:  # a request may still pick another engine
                log.warning("fc.warmup_skipped", step=self.step, code=exc.code, message=exc.message)
            except Exception as exc:
                log.error("fc.warmup_crashed", step=self.step, error=repr(exc), exc_info=True)
                return fc_error(
                    500, "FC.Unknown", f"{self.step}: warm-up failed: {type(exc).__name__}: {exc}"
                )
        seconds = round(time.perf_counter() - started, 3)
        log.info("fc.initialized", step=self.step, seconds=seconds)
        return FCResponse.of(200, {"step": self.step, "initialized": True, "seconds": seconds})

    def invoke(self, body: bytes, headers: Mapping[str, str]) -> FCResponse:
        """Run the step on the event in ``body``; every failure becomes an FC function error."""
        started = time.perf_counter()
        ctx = context_from_headers(headers, self.settings, progress=self.progress)
        resp = self._invoke(body, ctx)
        seconds = round(time.perf_counter() - started, 3)
        log.info("fc.invoked", step=self.step, status=resp.status, request_id=ctx.request_id, seconds=seconds)
        return resp

    def too_large(self, size: int | None = None) -> FCResponse:
        """The 413 refusing an event over FC's synchronous payload limit (``size`` when known)."""
        what = f"{size} bytes" if size is not None else "too large"
        return fc_error(
            413, "EntityTooLarge", f"{self.step}: event is {what}, over the {MAX_EVENT_BYTES}-byte limit"
        )

    def _invoke(self, body: bytes, ctx: StepContext) -> FCResponse:
        if len(body) > MAX_EVENT_BYTES:
            return self.too_large(len(body))
        try:
            event = parse_event(body, self.step)
        except InvalidStepInput as exc:
            return fc_error(400, exc.code, exc.message)
        try:
            result = self.module().handler(event, ctx)
        except VideoInsightError as exc:
            return fc_error(404, exc.code, exc.message, type(exc).__name__)
        except Exception as exc:  # the step already logged the traceback as step.crashed
            return fc_error(500, "FC.Unknown", f"{type(exc).__name__}: {exc}", type(exc).__name__)
        return self.result(result)

    def result(self, result: Any) -> FCResponse:
        """The 200 answer carrying ``result``, or InvalidStepOutput when it is not strict JSON."""
        try:
            return FCResponse.of(200, result)
        except ValueError:
            error = InvalidStepOutput(
                f"{self.step}: output is not valid JSON: {_non_finite_path(result)} (NaN/Infinity)"
            )
            log.error("fc.invalid_output", step=self.step, message=error.message)
            return fc_error(404, error.code, error.message)

    def health(self) -> FCResponse:
        """Liveness: the server answers and knows its step."""
        return FCResponse.of(200, {"status": "ok", "step": self.step})
