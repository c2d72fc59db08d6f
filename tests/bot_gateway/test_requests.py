"""What the gateway does with each delivery: one execution per message, help, refusals, limits."""

from __future__ import annotations

import copy
import dataclasses
import os
import time

import steps
from steps import Settings
from tests.bot_gateway.conftest import Bot, make_bot
from tests.fakefeishu import FakeFeishu
from tests.httpserver import LocalHTTPServer


def _replies(bot: Bot, message_id: str) -> list[str]:
    """The titles of the cards replying to ``message_id``."""
    return [
        m.card["header"]["title"]["content"] for m in bot.fake.cards_in("oc_chat") if m.reply_to == message_id
    ]


def test_redeliveries_start_one_execution_and_send_one_card(bot: Bot, web: LocalHTTPServer) -> None:
    message_id, event = bot.user_says(f"{web.url('/missing.mp4')} asr=none")
    for _ in range(5):
        assert bot.post(event).status_code == 200
    again = copy.deepcopy(event)
    again["header"]["event_id"] = "a-new-event-id"  # Feishu's redelivery may carry a new event id
    assert bot.post(again).status_code == 200
    bot.settle()
    assert [i.name for i in bot.engine.list()] == [f"fs_{message_id}"]
    assert (
        _replies(bot, message_id)[0] == "视频分析（1 条）"
        and len(bot.fake.calls_to("POST", "/open-apis/im/v1/messages/:message_id/reply")) == 2
    )  # card + final
    assert bot.gateway.accepted == 1


def test_where_answering_may_freeze_the_instance_the_message_is_handled_before_the_answer(
    fake: FakeFeishu, settings: Settings, web: LocalHTTPServer
) -> None:
    """In Function Compute an instance may be frozen once it has answered: the card is sent and the
    execution started before Feishu gets its 200 (within a budget under Feishu's 3 s)."""
    bot = make_bot(fake, dataclasses.replace(settings, gateway_answer_after_s=60.0))
    try:
        message_id, event = bot.user_says(f"{web.url('/missing.mp4')} asr=none")
        assert bot.post(event).status_code == 200
        # no drain: by the time the answer left, the work was done
        assert [i.name for i in bot.engine.list()] == [f"fs_{message_id}"]
        assert _replies(bot, message_id)[0] == "视频分析（1 条）"
        assert bot.gateway.inbox.left_behind(older_than_s=-1) == []
    finally:
        bot.settle()
        bot.gateway.close()


def test_two_gateways_sharing_a_workspace_start_one_execution(
    fake: FakeFeishu, settings: Settings, web: LocalHTTPServer
) -> None:
    one, two = make_bot(fake, settings), make_bot(fake, settings)
    _message_id, event = one.user_says(f"{web.url('/missing.mp4')} asr=none")
    for _ in range(3):
        assert one.post(event).status_code == 200 and two.post(event).status_code == 200
    one.settle()
    two.settle()
    assert one.gateway.accepted + two.gateway.accepted == 1
    assert len(one.engine.list()) == 1  # both engines keep their history in the same workspace


def test_help_and_anything_else_get_the_help_card(bot: Bot) -> None:
    for text in ("帮助", "help", "你好呀"):
        message_id, event = bot.user_says(text)
        assert bot.post(event).status_code == 200
        bot.gateway.drain()
        assert _replies(bot, message_id) in (["视频分析机器人：使用说明"], ["没有找到视频链接"])
        assert "asr=none" in bot.fake.cards_in("oc_chat")[-1].card["body"]["elements"][0]["content"]
    assert bot.engine.list() == []


def test_bad_options_are_explained(bot: Bot) -> None:
    message_id, event = bot.user_says("https://example.com/a.mp4 asr=turbo")
    bot.post(event)
    bot.gateway.drain()
    [card] = [m for m in bot.fake.cards_in("oc_chat") if m.reply_to == message_id]
    assert card.card["header"]["title"]["content"] == "选项有误"
    assert "asr 只能是" in card.card["body"]["elements"][0]["content"]
    assert bot.engine.list() == []


def test_in_a_group_the_bot_answers_only_when_mentioned(bot: Bot) -> None:
    quiet_id, quiet = bot.user_says("帮助", chat_type="group")
    asked_id, asked = bot.user_says("@_user_1 帮助", chat_type="group", mentioned=True)
    bot.post(quiet)
    bot.post(asked)
    bot.gateway.drain()
    assert _replies(bot, quiet_id) == [] and _replies(bot, asked_id) == ["视频分析机器人：使用说明"]


def test_over_the_limit_a_user_is_told_to_wait_by_every_gateway(
    fake: FakeFeishu, settings: Settings, web: LocalHTTPServer
) -> None:
    first = make_bot(fake, settings, per_user=1, total=5)
    ws = steps.TaskWorkspace(first.settings.workspace, "fs_busy")
    steps.record_task(ws, phase="processing", total=1)
    first.gateway.running.add("fs_busy", "ou_alice")  # a task of hers, started by the first instance
    second = make_bot(fake, settings, per_user=1, total=5)  # another instance, the same workspace
    message_id, event = second.user_says("https://example.com/a.mp4", open_id="ou_alice")
    second.post(event)
    second.settle()
    assert _replies(second, message_id) == ["排队中 / busy"]
    assert second.engine.list() == []
    steps.record_task(ws, phase="finished")  # once it is done, she may send again
    message_id, event = second.user_says(f"{web.url('/gone.mp4')} asr=none", open_id="ou_alice")
    second.post(event)
    second.settle()
    assert _replies(second, message_id)[0] == "视频分析（1 条）"
    assert not (first.settings.workspace / "gateway" / "running" / "fs_busy.json").exists()


def test_a_message_accepted_by_a_gateway_that_died_is_handled_at_the_next_start(
    fake: FakeFeishu, settings: Settings, web: LocalHTTPServer
) -> None:
    first = make_bot(fake, settings)
    first.gateway._queue = lambda *args: None  # type: ignore[method-assign]  # it dies right after the ack
    message_id, event = first.user_says(f"{web.url('/gone.mp4')} asr=none")
    assert first.post(event).status_code == 200
    assert first.engine.list() == [] and _replies(first, message_id) == []
    [left] = (first.settings.workspace / "gateway" / "inbox").iterdir()
    os.utime(left, (time.time() - 600, time.time() - 600))  # ten minutes later, a gateway starts

    second = make_bot(fake, settings)
    assert second.gateway.recover() == 1 and second.gateway.recover() == 0
    second.settle()
    assert [e.name for e in second.engine.list()] == [f"fs_{message_id}"]
    assert _replies(second, message_id)[0] == "视频分析（1 条）"
    assert list((first.settings.workspace / "gateway" / "inbox").iterdir()) == []
    assert first.post(event).status_code == 200 and second.post(event).status_code == 200  # still one
    second.settle()
    assert len(second.engine.list()) == 1
    second.gateway.close()
