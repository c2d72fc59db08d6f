"""``video-insight serve`` (the Feishu bot on this machine) and ``video-insight feishu send-event``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

import bot_gateway
import steps

from ._cloud_cli import engine_for
from ._http import HttpLimits, HttpServer
from ._submit import submit_task

__all__ = ["send_event", "serve_bot"]

log = steps.get_logger(__name__)


def serve_bot(
    settings: steps.Settings,
    host: str,
    port: int,
    limits: bot_gateway.Limits | None = None,
    engine_kind: str = "embedded",
) -> None:
    """The webhook on ``host:port``; executions run on the embedded engine in this process, or on
    CloudFlow (``engine_kind="cloudflow"``: the functions share the workspace mount with this one)."""
    sink = steps.progress_sink(settings)
    engine = engine_for(engine_kind, settings, progress=sink)
    gateway = bot_gateway.Gateway(
        settings,
        engine,
        lambda request: submit_task(engine, settings.workspace, request, progress=sink),
        progress=sink,
        limits=limits,
    )
    server = HttpServer(bot_gateway.gateway_app(gateway), host, port, HttpLimits(max_connections=256))
    gateway.recover()  # messages a gateway that died accepted but never handled
    log.info("gateway.listening", host=host, port=server.port, workspace=str(settings.workspace))
    try:
        server.run()
    finally:
        gateway.close()
        log.info("gateway.stopped")


def send_event(settings: steps.Settings, path: Path, url: str, *, timeout_s: float = 10.0) -> tuple[int, str]:
    """POST the event in ``path``, encrypted and signed with the configured keys, as Feishu would."""
    event = json.loads(path.read_text(encoding="utf-8"))
    token = settings.feishu_verification_token.reveal()
    if token and isinstance(event.get("header"), dict):
        event["header"]["token"] = token
    elif token and "token" in event:
        event["token"] = token
    headers, body = steps.feishu.signed_delivery(event, settings.feishu_encrypt_key.reveal())
    resp = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    return resp.status_code, resp.text
