"""A whole bot in-process: the fake Feishu platform, the gateway app with the real embedded engine."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import bot_gateway
import flows
import steps
from steps import Secret, Settings
from tests.fakefeishu import FakeFeishu
from tests.fakefeishu_bitable import install_bitable
from tests.httpserver import LocalHTTPServer
from video_insight._app import build_engine
from video_insight._submit import submit_task

from .events import message_event

ENCRYPT_KEY = "test-encrypt-key"
TOKEN = "test-verification-token"


@dataclasses.dataclass
class Bot:
    """The gateway under test and what it talks to."""

    fake: FakeFeishu
    settings: Settings
    engine: flows.Engine
    gateway: bot_gateway.Gateway
    client: TestClient

    def post(
        self, event: dict[str, Any], *, encrypt: bool = True, headers: dict[str, str] | None = None
    ) -> Any:
        """Deliver ``event`` as Feishu does (encrypted and signed unless told otherwise)."""
        sent_headers, body = steps.feishu.signed_delivery(event, ENCRYPT_KEY if encrypt else "")
        return self.client.post("/webhook/event", content=body, headers={**sent_headers, **(headers or {})})

    def user_says(self, text: str, **kw: Any) -> tuple[str, dict[str, Any]]:
        """A user message in the fake chat and the event announcing it: (message id, event)."""
        chat_id = kw.get("chat_id", "oc_chat")
        content = kw.get("content") or {"text": text}
        message = self.fake.new_message(
            chat_id, kw.get("message_type", "text"), json.dumps(content, ensure_ascii=False)
        )
        return message.message_id, message_event(message.message_id, text, token=TOKEN, **kw)

    def settle(self) -> None:
        """Wait for the gateway's workers, then for every execution they started."""
        self.gateway.drain()
        for execution in self.engine.list():
            self.engine.wait(execution.name, timeout=120)


def make_bot(fake: FakeFeishu, base: Settings, **limits: int) -> Bot:
    settings = fake.settings(
        base,
        feishu_encrypt_key=Secret(ENCRYPT_KEY),
        feishu_verification_token=Secret(TOKEN),
        temp_cleanup_enabled=False,
    )
    sink = steps.progress_sink(settings)
    engine = build_engine(settings, progress=sink)
    gateway = bot_gateway.Gateway(
        settings,
        engine,
        lambda request: submit_task(engine, settings.workspace, request, progress=sink),
        progress=sink,
        limits=bot_gateway.Limits(**limits) if limits else None,
    )
    return Bot(fake, settings, engine, gateway, TestClient(bot_gateway.gateway_app(gateway)))


@pytest.fixture
def web() -> Iterator[LocalHTTPServer]:
    """A local site: every path not routed answers 404 (a link that fails at once, no retries)."""
    with LocalHTTPServer() as server:
        yield server


@pytest.fixture
def fake() -> Iterator[FakeFeishu]:
    """The fake platform with Bitable: requests from Feishu also get the ``bitable`` output."""
    with FakeFeishu() as server:
        install_bitable(server)
        yield server


@pytest.fixture
def bot(fake: FakeFeishu, settings: Settings) -> Iterator[Bot]:
    made = make_bot(fake, settings)
    yield made
    made.settle()
    made.gateway.close()
