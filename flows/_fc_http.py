"""Task handlers that call Function Compute functions over HTTP, as CloudFlow's ``FC:InvokeFunction`` does.

The local CloudFlow endpoint resolves every Task's ``resourceArn`` (``acs:fc:::functions/NAME``)
to a custom-container server (``video-insight serve-step``) and invokes it the way FC forwards an
event invocation: ``POST /invoke`` with the event as the JSON body and FC's ``x-fc-*`` headers
(request id, function name, the time left before the Task's ``Timeout``).

What comes back becomes a Task result or an error with a CloudFlow code, so Retry and Catch act on
it exactly as in the embedded engine:

- 200 without ``x-fc-status`` → the function's JSON result (``$Output.Body``);
- a function error (``x-fc-status: 404``, body ``{errorCode, errorMessage, errorType}``) → its
  ``errorCode`` (``DownloadFailed``, ``Transient.Network``…) with the body as ``Detail``; how real
  CloudFlow names such errors is not documented, so the flow relies only on ``FnF.ALL`` to catch
  them (see REFERENCE.md);
- 429 → ``FC.ResourceThrottled``, 503 → ``FC.ResourceExhausted``, another 5xx or a refused
  connection → ``FC.InternalServerError``, no answer before the Task's deadline → ``FnF.TaskTimeout``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from ._errors import FlowError, TaskTimeout

__all__ = ["FunctionError", "HttpFunctions", "function_of_arn"]

ARN_MARKER = ":functions/"


class FunctionError(FlowError):
    """A function invocation failed; ``code`` is what Retry and Catch match, ``detail`` the body."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code  # type: ignore[misc]
        self.detail = detail


def function_of_arn(arn: str) -> str | None:
    """``acs:fc:<region>:<account>:functions/NAME`` → ``NAME``; None for anything else."""
    if not arn.startswith("acs:fc:") or ARN_MARKER not in arn:
        return None
    name = arn.split(ARN_MARKER, 1)[1]
    return name.split("/", 1)[0] or None


def _status_code(status: int) -> str:
    if status == 429:
        return "FC.ResourceThrottled"
    if status == 503:
        return "FC.ResourceExhausted"
    return "FC.InternalServerError" if status >= 500 else "FC.Unknown"


class HttpFunctions(Mapping[str, Callable[..., Any]]):
    """A ``resourceArn → handler`` registry over function servers: ``{function name: base URL}``.

    Every ``acs:fc:…:functions/NAME`` whose NAME has a URL resolves; ``client`` is shared by all
    handlers (one connection pool) and closed by :meth:`close`.
    """

    def __init__(self, urls: Mapping[str, str], *, connect_timeout_s: float = 5.0) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.client = httpx.Client(timeout=httpx.Timeout(None, connect=connect_timeout_s), trust_env=False)

    def __getitem__(self, arn: str) -> Callable[..., Any]:
        name = function_of_arn(arn)
        if name is None or name not in self.urls:
            raise KeyError(arn)
        url = f"{self.urls[name]}/invoke"
        return lambda event, context: self.invoke(name, url, event, context)

    def __contains__(self, arn: object) -> bool:
        return isinstance(arn, str) and function_of_arn(arn) in self.urls

    def __iter__(self) -> Iterator[str]:
        return (f"acs:fc:::functions/{name}" for name in self.urls)

    def __len__(self) -> int:
        return len(self.urls)

    def close(self) -> None:
        """Close the shared HTTP connections."""
        self.client.close()

    def invoke(self, name: str, url: str, event: Any, context: Any) -> Any:
        """``POST /invoke`` ``event`` to function ``name``; its result, or a coded error."""
        headers = {
            "content-type": "application/json",
            "x-fc-request-id": str(getattr(context, "request_id", "") or ""),
            "x-fc-function-name": name,
            "x-fc-invocation-type": "Sync",
        }
        deadline = getattr(context, "deadline", None)
        left = None if deadline is None else max(0.001, deadline - time.monotonic())
        if left is not None:
            headers["x-fc-function-timeout"] = str(max(1, round(left)))
        body = json.dumps(event, ensure_ascii=False, allow_nan=False).encode("utf-8")
        try:
            resp = self.client.post(
                url, content=body, headers=headers, timeout=httpx.Timeout(left, connect=5.0)
            )
        except httpx.TimeoutException as exc:
            raise TaskTimeout(f"function {name} did not answer in time: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise FunctionError(
                "FC.InternalServerError", f"function {name} unreachable at {url}: {exc}"
            ) from exc
        text = resp.text
        if resp.headers.get("x-fc-status") == "404":
            raise FunctionError(self._error_code(resp), text)
        if resp.status_code != 200:
            raise FunctionError(_status_code(resp.status_code), f"HTTP {resp.status_code}: {text[:2000]}")
        try:
            return json.loads(text)
        except ValueError as exc:
            raise FunctionError("FC.Unknown", f"function {name} answered invalid JSON: {exc}") from exc

    @staticmethod
    def _error_code(resp: httpx.Response) -> str:
        try:
            body = resp.json()
        except ValueError:
            body = None
        code = body.get("errorCode") if isinstance(body, dict) else None
        return code if isinstance(code, str) and code else _status_code(resp.status_code)
