"""End to end through the gateway: a signed, encrypted message → one execution → one card PATCHed
through the stages in order → a final message and the workbook as a file."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from tests.bot_gateway.conftest import TOKEN, Bot
from tests.bot_gateway.events import card_action
from tests.fakefeishu import Fault, Message
from tests.httpserver import LocalHTTPServer, Reply
from tests.media import MadeVideo

_COUNT = re.compile(r"(\S+) (\d+)/(\d+)")
_PHASES = ["准备中", "处理中", "总结中", "生成报告", "已生成", "完成", "失败"]


def _texts(card: dict[str, Any]) -> str:
    return "\n".join(e.get("content", "") for e in card["body"]["elements"] if e.get("tag") == "markdown")


def _progress(card: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """The card's phase rank and its done count per stage."""
    text = _texts(card)
    phase = re.search(r"\*\*状态\*\*：(\S+?)[　：]", text)
    assert phase is not None, text
    counts = {name: int(done) for name, done, _ in _COUNT.findall(text)}
    return _PHASES.index(phase.group(1)), counts


def _never_backwards(card: Message) -> None:
    seen = [_progress(c) for c in card.cards()]
    for (rank_a, counts_a), (rank_b, counts_b) in itertools.pairwise(seen):
        assert rank_b >= rank_a, seen
        assert all(counts_b.get(k, 0) >= v for k, v in counts_a.items()), seen


@pytest.fixture
def site(speech_video: MadeVideo, web: LocalHTTPServer) -> LocalHTTPServer:
    web.file("/good.mp4", speech_video.path.read_bytes())
    return web


def _title(message: Message) -> str:
    return str(message.card["header"]["title"]["content"])


def _is_progress(message: Message) -> bool:
    """A progress card (it names its task in the subtitle), not a reply or a final message."""
    return "subtitle" in message.card["header"]


def _buttons(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["text"]["content"]: e["behaviors"][0].get("value", {})
        for e in card["body"]["elements"]
        if e.get("tag") == "button"
    }


@pytest.mark.slow
def test_links_in_a_message_become_one_execution_and_one_live_card(bot: Bot, site: LocalHTTPServer) -> None:
    patches = "/open-apis/im/v1/messages/:message_id"  # the first PATCHes meet a rate limit, a 502, 230020
    bot.fake.inject("PATCH", patches, Fault(429, 99991400), Fault(502, raw=b"<html/>"), Fault(400, 230020))
    text = f"看看这两条：{site.url('/good.mp4')}，还有 {site.url('/gone.mp4')}。 asr=none title=双十二素材"
    message_id, event = bot.user_says(text)
    assert bot.post(event).status_code == 200
    bot.settle()

    [execution] = bot.engine.list()
    assert execution.status == "Succeeded"
    cards = [m for m in bot.fake.cards_in("oc_chat") if m.reply_to == message_id]
    progress, final = cards[0], cards[1]
    assert len(progress.versions) >= 3
    _never_backwards(progress)
    last = progress.card
    assert last["header"]["title"]["content"] == "双十二素材"
    text_last = _texts(last)
    assert "完成" in text_last and "下载 1/2（失败 1）" in text_last and "视频 2" in text_last
    assert list(_buttons(last)) == ["重试失败的视频", "查看结果"]
    assert "成功 1 条，失败 1 条" in _texts(final.card)
    [file_message] = [m for m in bot.fake.messages.values() if m.msg_type == "file"]
    file_type, name, data = bot.fake.files[file_message.card["file_key"]]
    assert (file_type, name) == ("xls", "双十二素材.xlsx") and data[:2] == b"PK"

    # 查看结果: the workbook again, as a new file message
    assert bot.post(card_action(execution.name, "results", token=TOKEN, open_id="ou_bob")).status_code == 200
    bot.gateway.drain()
    assert len([m for m in bot.fake.messages.values() if m.msg_type == "file"]) == 2

    # 重试失败的视频: a new execution for the broken link only, with its own card
    task_id = execution.name
    answer = bot.post(card_action(task_id, "retry_failed", token=TOKEN, open_id="ou_alice"))
    assert answer.json()["toast"]["content"] == "正在重试失败的视频…"
    bot.settle()
    assert bot.engine.describe(f"{task_id}-r1").done
    [retry_card] = [m for m in bot.fake.cards_in("oc_chat") if _is_progress(m) and "重试 1" in _title(m)]
    assert "下载 0/1（失败 1）" in _texts(retry_card.card) and retry_card.reply_to == message_id


@pytest.mark.slow
def test_only_the_requester_may_cancel(bot: Bot, web: LocalHTTPServer, speech_video: MadeVideo) -> None:
    # the server holds the download for a while, so the execution is still running when 取消 is pressed
    web.route(
        "/held.mp4", Reply(200, speech_video.path.read_bytes(), {"Content-Type": "video/mp4"}, delay_s=3)
    )
    message_id, event = bot.user_says(f"{web.url('/held.mp4')} asr=none", open_id="ou_alice")
    assert bot.post(event).status_code == 200
    bot.gateway.drain()
    [running] = bot.engine.list()
    task_id = running.name

    other = bot.post(card_action(task_id, "cancel", token=TOKEN, open_id="ou_mallory"))
    assert other.status_code == 200
    assert other.json()["toast"] == {"type": "error", "content": "只有发起人可以取消这个任务"}
    bot.gateway.drain()
    assert not bot.engine.describe(task_id).done

    mine = bot.post(card_action(task_id, "cancel", token=TOKEN, open_id="ou_alice"))
    assert mine.json()["toast"]["content"] == "正在取消…"
    bot.settle()
    stopped = bot.engine.describe(task_id)
    assert stopped.status == "Stopped" and (stopped.error or {}).get("Code") == "Cancelled"
    [card, final] = [m for m in bot.fake.cards_in("oc_chat") if m.reply_to == message_id]
    assert "已被发起人取消" in _texts(card.card) and "任务失败" in final.card["header"]["title"]["content"]


@pytest.mark.slow
def test_an_uploaded_video_is_streamed_from_feishu_and_analysed(bot: Bot, speech_video: MadeVideo) -> None:
    content = {"file_key": "file_v3_abc", "file_name": "上新.mp4"}
    message_id, event = bot.user_says("", message_type="file", content=content)
    bot.fake.add_resource(message_id, "file_v3_abc", speech_video.path.read_bytes(), "上新.mp4")
    bot.fake.revoke_tokens()  # the token the gateway cached is refused once: asked for again
    assert bot.post(event).status_code == 200
    bot.settle()

    [execution] = bot.engine.list()
    assert execution.status == "Succeeded"
    [card, final] = [m for m in bot.fake.cards_in("oc_chat") if m.reply_to == message_id]
    _never_backwards(card)
    assert "下载 1/1" in _texts(card.card) and "成功 1 条，失败 0 条" in _texts(final.card)
    [download] = bot.fake.calls_to("GET", "/open-apis/im/v1/messages/:message_id/resources/:file_key")
    assert download.query == {"type": "file"}
