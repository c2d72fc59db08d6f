"""A real HTTP server on 127.0.0.1 for download tests: files, errors, redirects, slow and lying replies.

Each route holds a list of replies; request *n* gets reply *n* and the last one repeats, so
"500, then 200" is ``server.route("/x", Reply(500), Reply(200, body))``. Hits are counted per path.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["LocalHTTPServer", "Reply"]


@dataclass
class Reply:
    """One canned HTTP response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    declared_length: int | None = None  # a Content-Length that differs from the body (a lying server)
    delay_s: float = 0.0  # wait before the status line (a slow server)
    chunk: int = 64 * 1024
    chunk_delay_s: float = 0.0  # wait between body chunks (a slow body)


class LocalHTTPServer:
    """A threaded ``http.server`` on an ephemeral loopback port; use as a context manager."""

    def __init__(self) -> None:
        self._routes: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *replies: Reply) -> str:
        """Serve ``replies`` (in turn, the last repeating) at ``path``; returns its URL."""
        with self._lock:
            self._routes[path] = list(replies)
        return self.url(path)

    def file(self, path: str, body: bytes, content_type: str = "video/mp4", **kw: object) -> str:
        """Serve ``body`` with ``content_type`` at ``path``."""
        return self.route(path, Reply(200, body, {"Content-Type": content_type}, **kw))  # type: ignore[arg-type]

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        """Redirect ``path`` to ``location`` (absolute or relative)."""
        return self.route(path, Reply(status, b"", {"Location": location}))

    def _next_reply(self, path: str) -> Reply | None:
        with self._lock:
            self.hits[path] += 1
            replies = self._routes.get(path)
            if not replies:
                return None
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                reply = server._next_reply(urlsplit(self.path).path) or Reply(404, b"not found")
                # The client may give up mid-body (size cap, timeout): expected in tests.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    _send(self, reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    if reply.delay_s:
        time.sleep(reply.delay_s)
    handler.send_response(reply.status)
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    if reply.content_length:
        length = reply.declared_length if reply.declared_length is not None else len(reply.body)
        handler.send_header("Content-Length", str(length))
    handler.send_header("Connection", "close")
    handler.end_headers()
    for start in range(0, len(reply.body), reply.chunk):
        handler.wfile.write(reply.body[start : start + reply.chunk])
        handler.wfile.flush()
        if reply.chunk_delay_s:
            time.sleep(reply.chunk_delay_s)
