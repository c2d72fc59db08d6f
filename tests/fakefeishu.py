"""A fake Feishu open platform on loopback that the real lark-oapi SDK talks to (through ``FEISHU_DOMAIN``).

It behaves like Feishu where our code depends on it:

- tenant tokens: ``POST /open-apis/auth/v3/tenant_access_token/internal`` checks the app's id and
  secret and issues a token that expires (``token_ttl_s``) or is revoked (:meth:`revoke_tokens`);
  every other route needs a live one (code 99991663 otherwise);
- messages: create (``uuid`` makes it idempotent), reply, PATCH of cards (at most ``patch_qps`` per
  message per second: code 230020; a body over 30 KB: 230025), message resources (uploaded files,
  streamed), file upload (multipart);
- faults on demand: :meth:`inject` makes the next matching requests answer an HTTP status, a
  Feishu error code, or a body that is not JSON, one fault per request.

Every request is recorded in :attr:`FakeFeishu.calls`; messages keep every version of their content.
Other modules add their own routes with :meth:`FakeFeishu.add_route` (a Bitable fake registers
``/open-apis/bitable/...`` this way), sharing the token check, the recording and the faults::

    def install_bitable(fake: FakeFeishu) -> None:
        fake.add_route("POST", "/open-apis/bitable/v1/apps", create_app)   # handler(fake, req) -> Response

    with FakeFeishu() as fake:
        settings = fake.settings(base_settings)      # FEISHU_* pointing at the fake
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from types import TracebackType
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from steps import Secret, Settings
from video_insight._http import HttpLimits, HttpServer

__all__ = [
    "TOKEN_PATH",
    "Call",
    "FakeFeishu",
    "FakeRequest",
    "Fault",
    "Handler",
    "Message",
    "fail",
    "ok",
]

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
MAX_CARD_BYTES = 30 * 1024
_ids = itertools.count(1)


def ok(data: Any = None) -> Response:
    """Feishu's success envelope."""
    return JSONResponse({"code": 0, "msg": "success", "data": {} if data is None else data})


def fail(code: int, msg: str, status: int = 400) -> Response:
    """Feishu's error envelope (HTTP 400 unless told otherwise, as Feishu does for most codes)."""
    return JSONResponse({"code": code, "msg": msg, "data": {}}, status_code=status)


@dataclass(frozen=True)
class Call:
    """One request as the fake received it (header names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class FakeRequest:
    """What a route handler gets: the call, the path parameters, and the parsed form of a multipart body."""

    call: Call
    params: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field → (file name, data)

    def json(self) -> Any:
        return self.call.json()


Handler = Callable[["FakeFeishu", FakeRequest], Response]


@dataclass(frozen=True)
class Fault:
    """One injected answer: an HTTP status with a Feishu code (``code``), or a body that is not JSON."""

    status: int = 500
    code: int | None = None
    msg: str = "injected fault"
    raw: bytes | None = None  # sent as text/html instead of a JSON envelope

    def response(self) -> Response:
        if self.raw is not None:
            return Response(self.raw, status_code=self.status, media_type="text/html")
        return fail(self.code if self.code is not None else 1, self.msg, self.status)


@dataclass
class Message:
    """A message in the fake's chats; ``versions`` holds its content after the send and each PATCH."""

    message_id: str
    chat_id: str
    msg_type: str
    content: str
    receive_id_type: str = "chat_id"
    reply_to: str | None = None
    uuid: str | None = None
    versions: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    @property
    def card(self) -> dict[str, Any]:
        """The current content as an object (a card, or ``{"text": …}``)."""
        loaded: dict[str, Any] = json.loads(self.content)
        return loaded

    def cards(self) -> list[dict[str, Any]]:
        """Every version of the content, first to last."""
        return [json.loads(v) for v in self.versions]

    def as_data(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "msg_type": self.msg_type,
            "parent_id": self.reply_to or "",
            "create_time": str(int(self.created_at * 1000)),
            "body": {"content": self.content},
            "sender": {"id": "cli_fake", "id_type": "app_id", "sender_type": "app"},
        }


def _multipart(call: Call) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Text fields and files of a multipart body (lark-oapi sends a file part without a file name)."""
    content_type = call.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return {}, {}
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    parsed = BytesParser(policy=HTTP).parsebytes(head + call.body)
    form: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in parsed.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        data = part.get_payload(decode=True) or b""
        if name == "file" or part.get_filename():
            files[name] = (part.get_filename() or "", data)
        else:
            form[name] = data.decode("utf-8")
    return form, files


def _pattern(template: str) -> re.Pattern[str]:
    parts = [
        f"(?P<{seg[1:]}>[^/]+)" if seg.startswith(":") else re.escape(seg) for seg in template.split("/")
    ]
    return re.compile("/".join(parts))


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool


class FakeFeishu:
    """The fake open platform on an ephemeral loopback port; use as a context manager.

    Args:
        app_id: the app's id; a fresh one by default (lark-oapi caches tokens per app id, process-wide).
        app_secret: the secret the token route accepts.
        token_ttl_s: the ``expire`` of issued tokens (the SDK renews 10 minutes before it).
        patch_qps: PATCHes allowed per message per second before code 230020.
        clock: the clock of that one-second window.
    """

    def __init__(
        self,
        app_id: str | None = None,
        app_secret: str = "fake-app-secret",
        *,
        token_ttl_s: int = 7200,
        patch_qps: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id or f"cli_fake{secrets.token_hex(6)}"
        self.app_secret = app_secret
        self.token_ttl_s = token_ttl_s
        self.patch_qps = patch_qps
        self.clock = clock  # the per-message PATCH window's clock (a test may hold it still)
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}
        self.resources: dict[tuple[str, str], tuple[str, bytes]] = {}  # (message_id, file_key) → file
        self.files: dict[str, tuple[str, str, bytes]] = {}  # file_key → (file type, name, data)
        self.tokens: dict[str, float] = {}  # token → expiry (time.time())
        self._routes: list[_Route] = []
        self._faults: dict[tuple[str, str], deque[Fault]] = defaultdict(deque)
        self._patches: dict[str, deque[float]] = defaultdict(deque)
        self._install_core_routes()
        app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])]
        )
        self._server = HttpServer(app, "127.0.0.1", 0, HttpLimits(max_connections=256))
        self._thread = threading.Thread(target=self._server.run, name="fake-feishu", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> FakeFeishu:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()
        self._thread.join(timeout=10)

    @property
    def domain(self) -> str:
        """What ``FEISHU_DOMAIN`` must be for the SDK to reach this fake."""
        return f"http://127.0.0.1:{self._server.port}"

    def settings(self, base: Settings | None = None, **changes: Any) -> Settings:
        """``base`` (default settings otherwise) with the Feishu credentials and domain of this fake."""
        fields: dict[str, Any] = {
            "feishu_app_id": self.app_id,
            "feishu_app_secret": Secret(self.app_secret),
            "feishu_domain": self.domain,
        }
        return dataclasses.replace(base or Settings(), **{**fields, **changes})

    def env(self) -> dict[str, str]:
        """The same as environment variables (for a gateway started as another process)."""
        return {
            "FEISHU_APP_ID": self.app_id,
            "FEISHU_APP_SECRET": self.app_secret,
            "FEISHU_DOMAIN": self.domain,
        }

    # -- extending and scripting ------------------------------------------------------------------
    def add_route(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        """Serve ``method template`` (``:name`` segments become ``req.params[name]``) with ``handler``.

        With ``auth`` the request needs a live tenant token. Routes added later win over earlier ones.
        """
        with self.lock:
            self._routes.insert(0, _Route(method.upper(), template, _pattern(template), handler, auth))

    def inject(self, method: str, template: str, *faults: Fault) -> None:
        """Answer the next requests to ``method template`` with ``faults``, one each, before the route."""
        with self.lock:
            self._faults[(method.upper(), template)].extend(faults)

    def revoke_tokens(self) -> None:
        """Make every issued token invalid now (what an expired or rotated token looks like)."""
        with self.lock:
            self.tokens.clear()

    def add_resource(self, message_id: str, file_key: str, data: bytes, name: str = "video.mp4") -> None:
        """A file the user uploaded in message ``message_id``, readable through the resources route."""
        with self.lock:
            self.resources[(message_id, file_key)] = (name, data)

    def calls_to(self, method: str, template: str) -> list[Call]:
        """Recorded calls matching ``method template``."""
        pattern = _pattern(template)
        with self.lock:
            return [c for c in self.calls if c.method == method.upper() and pattern.fullmatch(c.path)]

    def cards_in(self, chat_id: str) -> list[Message]:
        """The card messages in ``chat_id`` (sent or replied), in order."""
        with self.lock:
            return [m for m in self.messages.values() if m.chat_id == chat_id and m.msg_type == "interactive"]

    def new_message(self, chat_id: str, msg_type: str, content: str, **kw: Any) -> Message:
        """Store a message (one the app sent, or one a test says a user sent) and return it."""
        message = Message(f"om_{next(_ids):06d}{secrets.token_hex(8)}", chat_id, msg_type, content, **kw)
        message.versions.append(content)
        with self.lock:
            self.messages[message.message_id] = message
        return message

    # -- serving -----------------------------------------------------------------------------------
    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        call = Call(
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            body,
        )
        form, files = _multipart(call)
        with self.lock:
            self.calls.append(call)
        return await run_in_threadpool(self._dispatch, call, form, files)

    def _dispatch(self, call: Call, form: dict[str, str], files: dict[str, tuple[str, bytes]]) -> Response:
        with self.lock:
            routes = list(self._routes)
        for route in routes:
            match = route.pattern.fullmatch(call.path)
            if route.method != call.method or match is None:
                continue
            with self.lock:
                queue = self._faults.get((route.method, route.template))
                fault = queue.popleft() if queue else None
            if fault is not None:
                return fault.response()
            if route.auth and not self._authorized(call):
                return fail(
                    99991663,
                    "Invalid access token for authorization. Please make a request with token attached.",
                )
            return route.handler(self, FakeRequest(call, match.groupdict(), form, files))
        return fail(404, f"404 page not found: {call.method} {call.path}", 404)

    def _authorized(self, call: Call) -> bool:
        auth = call.headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.time()

    # -- the core routes ---------------------------------------------------------------------------
    def _install_core_routes(self) -> None:
        self.add_route("POST", TOKEN_PATH, _tenant_token, auth=False)
        self.add_route("POST", "/open-apis/im/v1/messages", _create_message)
        self.add_route("POST", "/open-apis/im/v1/messages/:message_id/reply", _reply_message)
        self.add_route("PATCH", "/open-apis/im/v1/messages/:message_id", _patch_message)
        self.add_route("GET", "/open-apis/im/v1/messages/:message_id", _get_message)
        self.add_route("GET", "/open-apis/im/v1/messages/:message_id/resources/:file_key", _get_resource)
        self.add_route("POST", "/open-apis/im/v1/files", _upload_file)

    def allow_patch(self, message_id: str) -> bool:
        """Count one PATCH of ``message_id``; False when it exceeds ``patch_qps`` in the last second."""
        now = self.clock()
        with self.lock:
            window = self._patches[message_id]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.patch_qps:
                return False
            window.append(now)
            return True


def _tenant_token(fake: FakeFeishu, req: FakeRequest) -> Response:
    body = req.json() or {}
    if body.get("app_id") != fake.app_id:
        return fail(10003, "invalid param: app_id")
    if body.get("app_secret") != fake.app_secret:
        return fail(10014, "app secret invalid")
    token = f"t-{secrets.token_hex(16)}"
    with fake.lock:
        fake.tokens[token] = time.time() + fake.token_ttl_s
    return JSONResponse({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": fake.token_ttl_s})


def _check_content(msg_type: str, content: Any) -> Response | None:
    if not isinstance(content, str):
        return fail(230001, "invalid content: must be a JSON string")
    try:
        parsed = json.loads(content)
    except ValueError:
        return fail(230001, "invalid content: not JSON")
    if len(content.encode("utf-8")) > MAX_CARD_BYTES:
        return fail(230025, "The message content exceeds the length limit (30 KB).")
    if msg_type == "text" and not (isinstance(parsed, dict) and "text" in parsed):
        return fail(230001, "invalid content: text needs a text field")
    return None


def _create_message(fake: FakeFeishu, req: FakeRequest) -> Response:
    body = req.json() or {}
    id_type = req.call.query.get("receive_id_type", "")
    if id_type not in ("chat_id", "open_id", "user_id", "union_id", "email"):
        return fail(99992402, "field validation failed: receive_id_type")
    if not body.get("receive_id") or not body.get("msg_type"):
        return fail(99992402, "field validation failed: receive_id and msg_type are required")
    problem = _check_content(body["msg_type"], body.get("content"))
    if problem is not None:
        return problem
    with fake.lock:
        if body.get("uuid"):
            for message in fake.messages.values():
                if message.uuid == body["uuid"]:
                    return ok(message.as_data())
        message = fake.new_message(
            body["receive_id"],
            body["msg_type"],
            body["content"],
            receive_id_type=id_type,
            uuid=body.get("uuid"),
        )
    return ok(message.as_data())


def _reply_message(fake: FakeFeishu, req: FakeRequest) -> Response:
    body = req.json() or {}
    with fake.lock:
        parent = fake.messages.get(req.params["message_id"])
        if parent is None:
            return fail(230011, "The message was withdrawn or does not exist.")
        problem = _check_content(body.get("msg_type", ""), body.get("content"))
        if problem is not None:
            return problem
        if body.get("uuid"):
            for message in fake.messages.values():
                if message.uuid == body["uuid"]:
                    return ok(message.as_data())
        message = fake.new_message(
            parent.chat_id,
            body["msg_type"],
            body["content"],
            reply_to=parent.message_id,
            uuid=body.get("uuid"),
        )
    return ok(message.as_data())


def _patch_message(fake: FakeFeishu, req: FakeRequest) -> Response:
    body = req.json() or {}
    with fake.lock:
        message = fake.messages.get(req.params["message_id"])
        if message is None:
            return fail(230011, "The message was withdrawn or does not exist.")
        if message.msg_type != "interactive":
            return fail(230001, "only card messages can be patched")
        problem = _check_content("interactive", body.get("content"))
        if problem is not None:
            return problem
        if not fake.allow_patch(message.message_id):
            return fail(230020, "This operation triggers the frequency limit.")
        message.content = body["content"]
        message.versions.append(body["content"])
    return ok()


def _get_message(fake: FakeFeishu, req: FakeRequest) -> Response:
    with fake.lock:
        message = fake.messages.get(req.params["message_id"])
    if message is None:
        return fail(230011, "The message was withdrawn or does not exist.")
    return ok({"items": [message.as_data()]})


def _get_resource(fake: FakeFeishu, req: FakeRequest) -> Response:
    if req.call.query.get("type") not in ("file", "image"):
        return fail(234001, "Invalid request param: type")
    with fake.lock:
        found = fake.resources.get((req.params["message_id"], req.params["file_key"]))
    if found is None:
        return fail(234003, "File not in msg.")
    name, data = found
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    return Response(data, media_type="application/octet-stream", headers=headers)


def _upload_file(fake: FakeFeishu, req: FakeRequest) -> Response:
    if "file" not in req.files or not req.form.get("file_type"):
        return fail(234001, "Invalid request param: file and file_type are required")
    name, data = req.files["file"]
    if not data:
        return fail(234010, "File's size can't be 0.")
    key = f"file_v3_{secrets.token_hex(10)}"
    with fake.lock:
        fake.files[key] = (req.form["file_type"], req.form.get("file_name") or name, data)
    return ok({"file_key": key})
