"""A real HTTP server on 127.0.0.1 for download tests, and a fake internet that leads to it.

:class:`LocalHTTPServer` serves files, errors, redirects, slow and lying replies. Each route holds a
list of replies; request *n* gets reply *n* and the last one repeats, so "500, then 200" is
``server.route("/x", Reply(500), Reply(200, body))``. Hits and request headers are kept per path.

:class:`FakeInternet` is a hosts file plus a NAT at the socket layer: a real site's name (say
``www.xiaohongshu.com``) resolves to a public address, and a connection to that address reaches a
local server. Every library in the process (httpx, yt-dlp's requests/urllib) sees the same
answers, so tests exercise the real code paths. It records every connection attempt and refuses any
that would leave this machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pytest

__all__ = ["FakeInternet", "LocalHTTPServer", "Reply", "Seen"]


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
    gate: threading.Event | None = None  # answer only once the test sets it (at most 60 s)


@dataclass(frozen=True)
class Seen:
    """One request as the server received it (header names in lower case)."""

    method: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived


class LocalHTTPServer:
    """A threaded ``http.server`` on an ephemeral loopback port; use as a context manager."""

    def __init__(self) -> None:
        self._routes: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.requests: dict[str, list[Seen]] = defaultdict(list)  # per path, in order
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

    def _next_reply(self, path: str, seen: Seen) -> Reply | None:
        with self._lock:
            self.hits[path] += 1
            self.requests[path].append(seen)
            replies = self._routes.get(path)
            if not replies:
                return None
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = server._next_reply(urlsplit(self.path).path, seen) or Reply(404, b"not found")
                # The client may give up mid-body (size cap, timeout): expected in tests.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    _send(self, reply)

            do_POST = do_HEAD = do_GET

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
    if reply.gate is not None:
        reply.gate.wait(60)
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


class FakeInternet:
    """Names and public addresses that lead to local servers; every other off-machine connection fails.

    ``install(monkeypatch)`` patches ``socket.getaddrinfo`` and ``socket.socket.connect`` for one test.
    """

    def __init__(self) -> None:
        self._names: dict[str, list[str]] = {}  # answers in turn, the last one repeating
        self._routes: dict[tuple[str, int], int] = {}
        self.attempts: list[tuple[str, int]] = []  # every (address, port) a socket tried to connect to
        self._real_getaddrinfo = socket.getaddrinfo
        self._real_connect = socket.socket.connect

    def site(self, host: str, server: LocalHTTPServer, address: str = "93.184.215.14", port: int = 80) -> str:
        """Make ``host`` resolve to the public ``address`` and ``address:port`` reach ``server``."""
        self._names[host.lower()] = [address]
        self._routes[(address, port)] = server.port
        return f"http://{host}" if port == 80 else f"http://{host}:{port}"

    def dns(self, host: str, *answers: str) -> None:
        """Make lookups of ``host`` answer ``answers`` in turn (the last one repeating), without a route.

        Two answers make a DNS-rebinding name: public when checked, internal when asked again.
        """
        self._names[host.lower()] = list(answers)

    def tried(self, address: str) -> bool:
        """Whether any socket in the process tried to connect to ``address``."""
        return any(a == address for a, _ in self.attempts)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeInternet:
        monkeypatch.setattr(socket, "getaddrinfo", self._getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", self._connect_method())
        return self

    def _getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, *args: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        key = str(name).lower().rstrip(".") if name else ""
        answers = self._names.get(key)
        if not answers:
            if key and key != "localhost" and not _is_ip(key):  # the rest of the world does not exist
                raise socket.gaierror(socket.EAI_NONAME, f"test sandbox: no such host {key!r}")
            return self._real_getaddrinfo(host, port, family, type, *args)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        fam = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr: tuple[Any, ...] = (
            (address, int(port or 0), 0, 0) if fam == socket.AF_INET6 else (address, int(port or 0))
        )
        return [(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

    def _connect_method(self) -> Any:
        internet = self

        def connect(sock: socket.socket, address: Any) -> None:
            if not isinstance(address, tuple):  # a Unix socket
                return internet._real_connect(sock, address)
            host, port = str(address[0]).split("%")[0], int(address[1])
            internet.attempts.append((host, port))
            if (host, port) in internet._routes:
                return internet._real_connect(sock, ("127.0.0.1", internet._routes[(host, port)]))
            if not ipaddress.ip_address(host).is_loopback:
                raise ConnectionRefusedError(f"test sandbox: no connections to {host}")
            return internet._real_connect(sock, address)

        return connect


def _is_ip(text: str) -> bool:
    """An address literal in any spelling the C resolver accepts (``127.1``, ``0x7f000001``, ``::1``)."""
    try:
        ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        try:
            socket.inet_aton(text)
        except OSError:
            return False
    return True
