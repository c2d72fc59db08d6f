"""The HTTP face of one step on Function Compute: a Starlette app over :class:`steps.FCStep`.

``POST /invoke`` runs the step on the body, ``POST /initialize`` warms it up, ``GET /health``
answers liveness. Everything it answers is JSON: FC function errors in FC's shape (see
``steps._fc``), other route errors as ``{errorCode, errorMessage}``. A body over FC's payload limit
is refused from its ``Content-Length`` alone, before it is read (the server then closes the
connection instead of reading the rest).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

import steps

__all__ = ["step_app"]

log = steps.get_logger(__name__)
ROUTES = "POST /invoke, POST /initialize, GET /health"
_CODES = {404: "NotFound", 405: "MethodNotAllowed"}


def _send(resp: steps.FCResponse) -> Response:
    return Response(resp.body, resp.status, dict(resp.headers), media_type="application/json")


async def _read_event(request: Request, fc: steps.FCStep) -> bytes | steps.FCResponse:
    """The body, or the FC error refusing it: from ``Content-Length`` alone, or once over the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            return steps.fc_error(400, "InvalidArgument", "bad Content-Length header")
        if int(declared) > steps.MAX_EVENT_BYTES:
            return fc.too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > steps.MAX_EVENT_BYTES:
            return fc.too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def _route_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path if len(request.url.path) <= 80 else f"{request.url.path[:77]}..."
    body = {"errorCode": _CODES.get(exc.status_code, "BadRequest"), "errorMessage": f"{path}: {ROUTES}"}
    return _send(steps.FCResponse.of(exc.status_code, body, exc.headers))


async def _crash(request: Request, exc: Exception) -> Response:
    log.error("fc.server_crashed", path=request.url.path, error=repr(exc), exc_info=exc)
    return _send(steps.fc_error(500, "FC.Unknown", f"{type(exc).__name__}: {exc}"))


def step_app(fc: steps.FCStep) -> Starlette:
    """A Starlette app serving ``fc`` on FC's custom-container routes."""

    async def invoke(request: Request) -> Response:
        try:
            body = await _read_event(request, fc)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        if isinstance(body, steps.FCResponse):
            return _send(body)
        return _send(await run_in_threadpool(fc.invoke, body, request.headers))

    async def initialize(request: Request) -> Response:
        return _send(await run_in_threadpool(fc.initialize))

    async def health(request: Request) -> Response:
        return _send(fc.health())

    app = Starlette(
        routes=[
            Route("/invoke", invoke, methods=["POST"]),
            Route("/initialize", initialize, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _route_error, Exception: _crash},
    )
    app.router.redirect_slashes = False  # "/invoke/" is a 404 in JSON, not an empty redirect
    return app
