"""The webhook's security and its answers: real signatures and AES through lark-oapi's dispatcher."""

from __future__ import annotations

import json

import steps
from tests.bot_gateway.conftest import ENCRYPT_KEY, TOKEN, Bot
from tests.bot_gateway.events import message_event, url_verification


def test_url_verification_is_echoed_only_with_the_right_token(bot: Bot) -> None:
    plain = bot.post(url_verification(TOKEN), encrypt=False)
    assert plain.status_code == 200 and plain.json() == {"challenge": "ch-123"}
    encrypted = bot.post(url_verification(TOKEN, "ch-456"))
    assert encrypted.status_code == 200 and encrypted.json() == {"challenge": "ch-456"}
    wrong = bot.post(url_verification("not-the-token"))
    assert wrong.status_code == 401 and "challenge" not in wrong.text


def test_refused_deliveries_get_a_4xx_and_start_nothing(bot: Bot) -> None:
    _message_id, event = bot.user_says("https://example.com/a.mp4")
    bad_token = {**event, "header": {**event["header"], "token": "forged"}}
    assert bot.post(bad_token).status_code == 401
    assert bot.post(event, headers={"X-Lark-Signature": "0" * 64}).status_code == 401
    assert bot.post(event, encrypt=False).status_code == 401  # a plain body without a signature
    garbage = bot.client.post(
        "/webhook/event", content=b"\x00not json{", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    headers, _ = steps.feishu.signed_delivery(event, ENCRYPT_KEY)
    body = json.dumps({"encrypt": "bm90IHJlYWxseSBlbmNyeXB0ZWQ="}).encode()
    headers["X-Lark-Signature"] = steps.feishu.sign_event(
        headers["X-Lark-Request-Timestamp"], headers["X-Lark-Request-Nonce"], ENCRYPT_KEY, body
    )
    assert bot.client.post("/webhook/event", content=body, headers=headers).status_code == 400
    bot.settle()
    assert bot.gateway.accepted == 0 and bot.engine.list() == []
    assert bot.fake.cards_in("oc_chat") == []


def test_unknown_event_types_are_acknowledged_and_ignored(bot: Bot) -> None:
    event = message_event("om_x", "hi", token=TOKEN)
    event["header"]["event_type"] = "im.chat.member.bot.added_v1"
    answer = bot.post(event)
    assert answer.status_code == 200 and answer.json() == {"msg": "ignored"}
    assert bot.gateway.accepted == 0


def test_healthz(bot: Bot) -> None:
    assert bot.client.get("/healthz").json() == {"ok": True}
