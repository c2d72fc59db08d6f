"""A step served over real HTTP (uvicorn on a free loopback port, in a thread) for tests."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

from steps import FCStep, Settings
from video_insight._http import HttpLimits, HttpServer
from video_insight._step_app import step_app


def strict_json(data: bytes) -> Any:
    """Parse as a strict JSON parser would: NaN and Infinity are errors."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)


@contextlib.contextmanager
def serving(step: str, settings: Settings, limits: HttpLimits | None = None) -> Iterator[HttpServer]:
    """``step`` served by :class:`HttpServer` until the block ends (the socket listens at once)."""
    server = HttpServer(step_app(FCStep(step, settings)), "127.0.0.1", 0, limits)
    thread = threading.Thread(target=server.run, name="test-http-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(15)
        assert not thread.is_alive(), "the server did not stop"


def read_until_closed(conn: socket.socket, timeout_s: float = 10.0) -> bytes:
    """Everything the server sends until it closes; raises TimeoutError if it keeps the connection."""
    conn.settimeout(timeout_s)
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data
