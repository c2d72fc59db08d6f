"""The webhook: ``POST /webhook/event`` (events and card callbacks) and ``GET /healthz``.

Security is lark-oapi's dispatcher, given the raw body bytes and Starlette's own headers object:
url_verification echoed only with the right token, the signature checked when an encrypt key is
set, AES decryption. The dispatcher answers every failure with a 500, which would make Feishu
retry for hours, so its answer is translated by cause (the SDK is pinned, and a test covers each):

- wrong token, bad signature, no signature while an encrypt key is set → 401;
- a body that is not JSON or cannot be decrypted → 400;
- an event type the gateway does not handle → 200 (acknowledged, logged, ignored);
- a failure of the gateway itself (the dedupe store unwritable) → 503, so Feishu delivers it again.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import steps

from ._gateway import Gateway

__all__ = ["gateway_app"]

log = steps.get_logger(__name__)
_DENIED = (
    "invalid verification_token",
    "signature verification failed",
    "encrypt_key not found",
    "webhook credentials",
)
_UNHANDLED = "processor not found"
_SIGNED = ("x-lark-request-timestamp", "x-lark-request-nonce", "x-lark-signature")


class _Failures(threading.local):
    error: BaseException | None = None


def _dispatcher(gateway: Gateway, failures: _Failures) -> Any:
    import lark_oapi as lark

    logging.getLogger("Lark").setLevel(logging.CRITICAL)  # every refusal is logged here, without a traceback

    def guard(fn: Any) -> Any:
        def run(data: Any) -> Any:
            try:
                return fn(data)
            except Exception as exc:  # the gateway's own fault: remember it for a 503
                failures.error = exc
                raise

        return run

    settings = gateway.settings
    return (
        lark.EventDispatcherHandler.builder(
            settings.feishu_encrypt_key.reveal(), settings.feishu_verification_token.reveal()
        )
        .register_p2_im_message_receive_v1(guard(gateway.on_message))
        .register_p2_card_action_trigger(guard(gateway.on_card_action))
        .build()
    )


def gateway_app(gateway: Gateway) -> Starlette:
    """The ASGI app of ``gateway``."""
    from lark_oapi.core.model import RawRequest

    failures = _Failures()
    dispatcher = _dispatcher(gateway, failures)

    def dispatch(body: bytes, headers: Any, path: str) -> tuple[int, bytes]:
        try:
            json.loads(body)
        except ValueError:
            log.warning("gateway.bad_request", reason="the body is not JSON", size=len(body))
            return 400, b'{"msg":"bad request"}'
        raw = RawRequest()
        raw.uri, raw.body, raw.headers = path, body, headers
        failures.error = None
        resp = dispatcher.do(raw)
        if resp.status_code != 500:
            return int(resp.status_code), bytes(resp.content or b"{}")
        unsigned = bool(gateway.settings.feishu_encrypt_key) and not all(
            headers.get(name)
            for name in ("x-lark-request-timestamp", "x-lark-request-nonce", "x-lark-signature")
        )
        return _translate(resp.content or b"", failures.error, unsigned=unsigned)

    async def webhook(request: Request) -> Response:
        body = await request.body()
        status, content = await run_in_threadpool(dispatch, body, request.headers, request.url.path)
        return Response(content, status_code=status, media_type="application/json")

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [Route("/webhook/event", webhook, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
    return Starlette(routes=routes)


def _translate(content: bytes, own: BaseException | None, *, unsigned: bool = False) -> tuple[int, bytes]:
    try:
        reason = str(json.loads(content).get("msg", ""))
    except (ValueError, AttributeError):
        reason = ""
    if own is not None:
        log.error("gateway.handler_failed", error=repr(own))
        return 503, b'{"msg":"temporarily unavailable"}'
    if any(word in reason for word in _DENIED) or (unsigned and not reason.startswith(_UNHANDLED)):
        log.warning("gateway.denied", reason=reason)
        return 401, b'{"msg":"unauthorized"}'
    if reason.startswith(_UNHANDLED):
        log.info("gateway.ignored_event", reason=reason)
        return 200, b'{"msg":"ignored"}'
    log.warning("gateway.bad_request", reason=reason[:200])
    return 400, b'{"msg":"bad request"}'
