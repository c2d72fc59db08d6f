"""A chat message with a Bitable link: the table's rows analysed, the results in a Base the sender owns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bot_gateway.conftest import Bot
from tests.fakefeishu_bitable import install_bitable
from tests.httpserver import LocalHTTPServer

FIELDS = [
    {"field_name": "素材名称", "type": 1},
    {"field_name": "视频链接", "type": 15},
    {"field_name": "附件", "type": 17},
    {"field_name": "消耗", "type": 2},
]


@pytest.mark.slow
def test_a_bitable_link_in_a_message_comes_back_as_a_base_the_sender_owns(
    bot: Bot, web: LocalHTTPServer, bikes: Path
) -> None:
    tables = install_bitable(bot.fake)
    clip = bikes.read_bytes()
    app, table, view = tables.add_table("投放素材", FIELDS, [])
    upload = tables.add_media(app, clip, "bikes.mp4")
    link = web.file("/bikes.mp4", clip)
    rows = [
        {"素材名称": "链接视频", "视频链接": {"link": link, "text": link}, "消耗": 88.5},
        {"素材名称": "没有链接", "消耗": 1},
        {},
        {"素材名称": "附件视频", "附件": [{"file_token": upload, "name": "bikes.mp4", "size": len(clip)}]},
    ]
    tables.apps[app].tables[table].records = [
        {"record_id": f"rec{i}", "fields": r} for i, r in enumerate(rows)
    ]

    text = f"分析这张表 https://acme.feishu.cn/base/{app}?table={table}&view={view} asr=none"
    message_id, event = bot.user_says(text)
    assert bot.post(event).status_code == 200
    bot.settle()

    [made] = tables.created()
    assert made.owner == ("openid", "ou_alice") and made.members == {("app", ""): "full_access"}
    written = {r["名称"]: r for r in tables.table(made.app_token, "视频分析").rows()}
    assert list(written) == ["链接视频", "没有链接", "附件视频"]
    assert written["链接视频"]["状态"] == "成功" and written["链接视频"]["消耗"] == 88.5
    assert written["附件视频"]["状态"] == "成功" and written["没有链接"]["状态"] == "失败"
    cards = [m for m in bot.fake.cards_in("oc_chat") if m.reply_to == message_id]
    progress, final = cards[0], cards[-1]
    assert progress.card["header"]["title"]["content"] == "投放素材"
    assert made.url in json.dumps(progress.card) and made.url in json.dumps(final.card)
