"""A local OpenAI-compatible server for tests: a real HTTP server speaking the chat completions API.

Each request is answered by a ``responder(body) -> Reply`` — an :class:`Answer` (a completion with
its token usage), a :class:`Fail` (an HTTP error in OpenAI's error shape, with headers such as
``Retry-After-Ms``), or a :class:`Stall` (no answer until the server closes: a timeout). Without a
responder, the replies given to :meth:`FakeLLM.script` are used in turn, the last one repeating.
Every request body and its headers are kept, and the most requests ever in flight at once.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["Answer", "Fail", "FakeLLM", "Reply", "Stall", "images", "is_summary", "user_text"]


@dataclass
class Answer:
    content: str
    prompt_tokens: int = 1000
    completion_tokens: int = 100


@dataclass
class Fail:
    status: int
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stall:
    """Hold the request without answering until the server shuts down."""


Reply = Answer | Fail | Stall
Responder = Callable[[dict[str, Any]], Reply]


def user_text(body: dict[str, Any]) -> str:
    """Every text part of the request's messages, joined."""
    parts: list[str] = []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [p["text"] for p in content if p.get("type") == "text"]
    return "\n".join(parts)


def images(body: dict[str, Any]) -> list[str]:
    """The image URLs of the request, in order."""
    return [
        p["image_url"]["url"]
        for m in body["messages"]
        if isinstance(m["content"], list)
        for p in m["content"]
        if p.get("type") == "image_url"
    ]


def is_summary(body: dict[str, Any]) -> bool:
    """Whether ``body`` is the batch-summary request (its system prompt speaks of a batch)."""
    return "批次总结" in body["messages"][0]["content"]


class FakeLLM:
    """The server on an ephemeral loopback port; use as a context manager."""

    def __init__(self, responder: Responder | None = None) -> None:
        self._responder = responder
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` in turn (the last one repeats)."""
        with self._lock:
            self._script = list(replies)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self._responder is None:
                if not self._script:
                    return Fail(500, "no reply scripted")
                return self._script.pop(0) if len(self._script) > 1 else self._script[0]
        return self._responder(body)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                fake._enter()
                try:
                    reply = fake._next(body, {k.lower(): v for k, v in self.headers.items()})
                    if isinstance(reply, Stall):
                        fake._release.wait(30)
                        self.close_connection = True
                        return
                    if isinstance(reply, Fail):
                        error = {"message": reply.message, "type": "test_error", "code": str(reply.status)}
                        self._send(reply.status, {"error": error}, reply.headers)
                        return
                    self._send(200, _completion(body, reply))
                finally:
                    fake._leave()

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _completion(body: dict[str, Any], reply: Answer) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-test-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "test"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply.content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }
