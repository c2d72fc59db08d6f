"""Links and options from what people paste into a chat."""

from __future__ import annotations

import pytest

from bot_gateway import BadOptions, is_help, message_text, parse_text
from steps import Options

SHARES = {
    # Douyin: a short link inside Chinese text, emoji and a trailing code
    "7.94 复制打开抖音，看看【小李的作品】这款咖啡机太好用了☕️ # 好物推荐 "
    "https://v.douyin.com/iRNBho6u/ Z@m.Dh 02/11 ": ("https://v.douyin.com/iRNBho6u/"),
    # Kuaishou: the link right after full-width text, then more text without a space
    "https://v.kuaishou.com/2XyZabC 这个视频真不错！复制此消息，打开【快手】直接观看！": "https://v.kuaishou.com/2XyZabC",
    # Bilibili: 【】 around the title, the link last
    "【手冲咖啡入门-哔哩哔哩】 https://b23.tv/AbCdEf1": "https://b23.tv/AbCdEf1",
    # Xiaohongshu: a full-width comma right after the link
    "62 小红书用户发布了一篇小红书笔记，快来看吧！ 😆 A1b2C3d4 😆 "
    "http://xhslink.com/a/AbCdEfGh，复制本条信息": ("http://xhslink.com/a/AbCdEfGh"),
    # a direct file link closed by a full stop and a bracket
    "素材在这里（https://cdn.example.com/ads/a.mp4）。": "https://cdn.example.com/ads/a.mp4",
    "see https://cdn.example.com/b.mp4).": "https://cdn.example.com/b.mp4",
    # a bracket that belongs to the link stays
    "https://en.wikipedia.org/wiki/Coffee_(disambiguation)": "https://en.wikipedia.org/wiki/Coffee_(disambiguation)",
}


@pytest.mark.parametrize("text", SHARES)
def test_the_link_in_a_share_text(text: str) -> None:
    assert parse_text(text).links == [SHARES[text]]


def test_many_links_options_and_a_title() -> None:
    ask = parse_text(
        "@_user_1 两条：https://a.example/x.mp4、https://b.example/y.mp4；重复的 https://a.example/x.mp4 "
        "asr=none lang=zh shots=content title=双十二"
    )
    assert ask.links == ["https://a.example/x.mp4", "https://b.example/y.mp4"]
    assert ask.options == {"asr": {"engine": "none", "language": "zh"}, "shots": {"detector": "content"}}
    assert ask.title == "双十二"


@pytest.mark.parametrize(
    ("word", "ocr"),
    [("off", {"enabled": False, "subtitles": False}), ("keyframes", {"enabled": True, "subtitles": False})],
)
def test_the_ocr_option_turns_reading_the_picture_off_or_down_to_the_keyframes(
    word: str, ocr: dict[str, bool]
) -> None:
    ask = parse_text(f"https://a.example/x.mp4 ocr={word}")
    assert ask.options == {"ocr": ocr}
    Options.model_validate(ask.options)  # what the request's options accept


def test_a_query_string_is_not_an_option() -> None:
    ask = parse_text("https://a.example/v?id=3&asr=none")
    assert ask.links == ["https://a.example/v?id=3&asr=none"] and ask.options == {}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("asr=turbo", "asr 只能是"),
        ("shots=magic", "shots 只能是"),
        ("ocr=maybe", "ocr 只能是"),
        ("speed=2", "不认识的选项"),
    ],
)
def test_bad_options_say_why(text: str, reason: str) -> None:
    with pytest.raises(BadOptions, match=reason):
        parse_text(f"https://a.example/x.mp4 {text}")


def test_help_words() -> None:
    assert is_help("帮助") and is_help("@_user_1 help ") and not is_help("帮我看看 https://a.example/x.mp4")


def test_text_of_a_rich_text_post() -> None:
    post = {
        "zh_cn": {
            "title": "本周素材",
            "content": [
                [
                    {"tag": "text", "text": "第一条 "},
                    {"tag": "a", "href": "https://a.example/x.mp4", "text": "点这里"},
                ],
                [{"tag": "at", "user_id": "ou_bot"}, {"tag": "text", "text": " asr=none"}],
            ],
        }
    }
    ask = parse_text(message_text("post", post))
    assert ask.links == ["https://a.example/x.mp4"] and ask.options == {"asr": {"engine": "none"}}
    assert message_text("text", '{"text": "hi"}') == "hi" and message_text("text", "not json") == ""
