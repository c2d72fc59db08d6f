"""``video-insight feishu send-event`` against a gateway served over real HTTP; ``serve`` without an app."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot_gateway import gateway_app
from steps import Settings
from tests.bot_gateway.conftest import ENCRYPT_KEY, TOKEN, Bot, make_bot
from tests.fakefeishu import FakeFeishu, Message
from video_insight._http import HttpServer
from video_insight.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "feishu"


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[Bot, str]]:
    with FakeFeishu() as fake:
        bot = make_bot(fake, settings)
        server = HttpServer(gateway_app(bot.gateway), "127.0.0.1", 0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        os.environ.update({"FEISHU_ENCRYPT_KEY": ENCRYPT_KEY, "FEISHU_VERIFICATION_TOKEN": TOKEN})
        try:
            yield bot, f"http://127.0.0.1:{server.port}/webhook/event"
        finally:
            server.stop()
            thread.join(15)
            bot.settle()


def test_send_event_signs_and_encrypts_the_samples(
    served: tuple[Bot, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bot, url = served
    assert main(["feishu", "send-event", str(EXAMPLES / "url_verification.json"), "--to", url]) == 0
    assert '{"challenge":"ajls384kdjx98XX"}' in capsys.readouterr().out

    sample = json.loads((EXAMPLES / "message_file.json").read_text(encoding="utf-8"))["event"]["message"]
    user = Message(sample["message_id"], sample["chat_id"], "file", sample["content"])
    bot.fake.messages[user.message_id] = user  # the upload the sample names, in the fake chat
    assert main(["feishu", "send-event", str(EXAMPLES / "message_file.json"), "--to", url]) == 0
    bot.gateway.drain()
    [card] = [m for m in bot.fake.cards_in(sample["chat_id"]) if m.reply_to == user.message_id]
    assert card.card["header"]["title"]["content"] == "上新口播.mp4"

    os.environ["FEISHU_VERIFICATION_TOKEN"] = "another-token"  # a deployer with the wrong token is refused
    assert main(["feishu", "send-event", str(EXAMPLES / "card_action.json"), "--to", url]) == 1
    assert "HTTP 401" in capsys.readouterr().out
    os.environ["FEISHU_ENCRYPT_KEY"] = "another-key"  # ... and one with the wrong key: nothing decrypts
    assert main(["feishu", "send-event", str(EXAMPLES / "card_action.json"), "--to", url]) == 1
    assert "HTTP 400" in capsys.readouterr().out


def test_serve_needs_the_app_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    os.environ.pop("FEISHU_APP_ID", None)
    os.environ.pop("FEISHU_APP_SECRET", None)
    assert main(["serve", "--port", "0"]) == 2
    assert "FEISHU_APP_ID" in capsys.readouterr().err
