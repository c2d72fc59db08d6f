"""The one HTTP stack of the project's servers: ASGI apps served by uvicorn (h11), with guards.

uvicorn alone keeps a connection whose request head never completes, and a request whose body
never arrives, for as long as the client likes. :class:`HttpServer` bounds what a client can hold:

- the request head (request line and headers) must arrive within ``head_timeout_s`` of the
  connection becoming ready for a request, however slowly it trickles in; the connection is then
  closed (:class:`GuardedH11Protocol`);
- the body must arrive within ``body_timeout_s`` of the head, or the request is answered 408
  (:class:`BodyDeadline`);
- an answer sent before the body was read (413, 408, 404) closes the connection instead of
  waiting for the rest of the body;
- beyond ``max_connections`` open connections a request is answered 503 at once (uvicorn's
  ``limit_concurrency``); an idle keep-alive connection closes after ``keep_alive_s``.

SIGTERM and SIGINT stop the server gracefully: it stops accepting, closes idle connections and
finishes the requests in flight (Function Compute stops an instance with SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

import anyio
import h11
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

import steps

__all__ = ["BodyDeadline", "GuardedH11Protocol", "HttpLimits", "HttpServer"]

log = steps.get_logger(__name__)


@dataclass(frozen=True)
class HttpLimits:
    """What one client may hold on a server (see the module docstring)."""

    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: int = 5
    max_connections: int = 32


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request head and no waiting for refused bodies."""

    head_timeout_s = HttpLimits.head_timeout_s  # a server sets its own on a subclass

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request head is complete
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY and self.cycle.response_complete:
            self._cancel_head_timer()
            self.transport.close()  # answered before the body was read: do not wait for it
        elif self.conn.their_state is h11.IDLE:
            self._await_head()

    def _await_head(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("http.head_timeout", client=_client(self.client), seconds=self.head_timeout_s)
            self.transport.close()


def _client(addr: tuple[str, int] | None) -> str:
    return f"{addr[0]}:{addr[1]}" if addr else ""


class BodyDeadline:
    """ASGI middleware: a request's body must arrive within ``timeout_s`` of its head, else 408.

    On the deadline the app is cancelled where it waits for the body (it cannot go on without it)
    and, if it has not started answering, the client gets a JSON 408.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.timeout_s
        state = {"body_done": False, "answering": False, "timed_out": False}

        async def receive_in_time() -> Message:
            if state["body_done"]:
                return await receive()  # after the body: no deadline (waiting for a disconnect)
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                message = await receive()
                state["body_done"] = message["type"] != "http.request" or not message.get("more_body")
                return message
            state["timed_out"] = True
            cancel.cancel()
            await anyio.sleep_forever()  # raises the cancellation that unwinds the app
            raise AssertionError("unreachable")

        async def send_tracked(message: Message) -> None:
            state["answering"] = True
            await send(message)

        with anyio.CancelScope() as cancel:
            await self.app(scope, receive_in_time, send_tracked)
        if state["timed_out"]:
            log.info("http.body_timeout", path=scope.get("path", ""), seconds=self.timeout_s)
            if not state["answering"]:
                await _send_timeout(send, self.timeout_s)


async def _send_timeout(send: Send, timeout_s: float) -> None:
    message = f"the request body did not arrive within {timeout_s:g} s"
    error = {"errorCode": "RequestTimeout", "errorMessage": message, "errorType": "RequestTimeout"}
    body = json.dumps(error).encode("ascii")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            log.info("http.stopping", signal=signal.Signals(sig).name)
        super().handle_exit(sig, frame)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


@contextlib.contextmanager
def _signals_handled_by_uvicorn() -> Iterator[None]:
    """uvicorn re-raises the signal that stopped it; let that end :meth:`HttpServer.run`, not us."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class HttpServer:
    """``app`` served by uvicorn behind the guards; the socket is bound (and listening) at once."""

    def __init__(
        self, app: ASGIApp, host: str = "0.0.0.0", port: int = 9000, limits: HttpLimits | None = None
    ) -> None:
        self.limits = limits or HttpLimits()
        self.socket = _bind(host, port)
        protocol = type(
            "GuardedH11Protocol", (GuardedH11Protocol,), {"head_timeout_s": self.limits.head_timeout_s}
        )
        config = uvicorn.Config(
            BodyDeadline(app, self.limits.body_timeout_s),
            http=protocol,
            interface="asgi3",
            lifespan="auto",
            log_config=None,
            access_log=False,
            server_header=False,
            limit_concurrency=self.limits.max_connections,
            timeout_keep_alive=self.limits.keep_alive_s,
        )
        self._server = _Server(config)

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        return int(self.socket.getsockname()[1])

    def run(self) -> None:
        """Serve until :meth:`stop`, SIGTERM or SIGINT; answers in flight are finished first."""
        with _signals_handled_by_uvicorn():
            self._server.run(sockets=[self.socket])

    def stop(self) -> None:
        """Ask :meth:`run` to return (from any thread)."""
        self._server.should_exit = True
