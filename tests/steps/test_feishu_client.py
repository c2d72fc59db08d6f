"""The Feishu client: the real lark-oapi SDK against the fake open platform (tests/fakefeishu.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steps import Secret, Settings
from steps._feishu import FeishuClient, patch_card, reply_message, send_message, upload_file
from steps.errors import FeishuError, NetworkError, RateLimited
from tests.fakefeishu import TOKEN_PATH, FakeFeishu, Fault

CARD = {
    "schema": "2.0",
    "config": {"update_multi": True},
    "body": {"elements": [{"tag": "markdown", "content": "处理中"}]},
}


def _client(fake: FakeFeishu, **kw: object) -> FeishuClient:
    return FeishuClient(fake.settings(), sleep=lambda _s: None, **kw)  # type: ignore[arg-type]


def test_send_reply_and_patch_a_card_with_one_token(fake: FakeFeishu) -> None:
    feishu = _client(fake)
    first = send_message(feishu, "oc_chat1", "你好", msg_type="text")
    card_id = reply_message(feishu, first, CARD)
    patch_card(feishu, card_id, {**CARD, "body": {"elements": [{"tag": "markdown", "content": "完成"}]}})

    assert fake.messages[first].card == {"text": "你好"}
    card = fake.messages[card_id]
    assert card.reply_to == first and card.chat_id == "oc_chat1"
    assert [c["body"]["elements"][0]["content"] for c in card.cards()] == ["处理中", "完成"]
    assert len(fake.calls_to("POST", TOKEN_PATH)) == 1  # the SDK's token cache served the other calls
    auth = fake.calls_to("PATCH", "/open-apis/im/v1/messages/:message_id")[0].headers["authorization"]
    assert auth.startswith("Bearer t-")


def test_uuid_makes_a_send_idempotent(fake: FakeFeishu) -> None:
    feishu = _client(fake)
    a = send_message(feishu, "oc_chat1", CARD, uuid="req-1")
    b = send_message(feishu, "oc_chat1", CARD, uuid="req-1")
    assert a == b and len(fake.cards_in("oc_chat1")) == 1


def test_a_revoked_token_is_dropped_and_fetched_again(fake: FakeFeishu) -> None:
    feishu = _client(fake)
    send_message(feishu, "oc_chat1", "一", msg_type="text")
    fake.revoke_tokens()
    send_message(feishu, "oc_chat1", "二", msg_type="text")
    assert len(fake.calls_to("POST", TOKEN_PATH)) == 2


def test_rate_limits_and_server_errors_are_retried(fake: FakeFeishu) -> None:
    fake.inject(
        "POST",
        "/open-apis/im/v1/messages",
        Fault(429, 99991400, "request trigger frequency limit"),
        Fault(502, raw=b"<html>bad gateway</html>"),
        Fault(500, 1000004, "internal error"),
    )
    message_id = send_message(_client(fake, retries=3), "oc_chat1", "最终成功", msg_type="text")
    assert fake.messages[message_id].card == {"text": "最终成功"}
    assert len(fake.calls_to("POST", "/open-apis/im/v1/messages")) == 4


def test_what_still_fails_after_the_retries_is_a_typed_error(fake: FakeFeishu) -> None:
    feishu = _client(fake, retries=1)
    card_id = send_message(feishu, "oc_chat1", CARD)
    fake.inject(
        "PATCH", "/open-apis/im/v1/messages/:message_id", *[Fault(400, 230020, "frequency limit")] * 2
    )
    with pytest.raises(RateLimited, match="230020"):
        patch_card(feishu, card_id, CARD)
    fake.inject("POST", "/open-apis/im/v1/messages", *[Fault(502, raw=b"<html>oops</html>")] * 2)
    with pytest.raises(NetworkError, match="无法解析"):
        send_message(feishu, "oc_chat1", CARD)


def test_a_refusal_is_a_permanent_error_with_feishu_code(fake: FakeFeishu) -> None:
    feishu = _client(fake)
    with pytest.raises(FeishuError) as info:
        reply_message(feishu, "om_missing", CARD)
    assert info.value.feishu_code == 230011 and "回复消息失败" in info.value.message
    with pytest.raises(FeishuError) as too_big:
        send_message(feishu, "oc_chat1", {**CARD, "pad": "字" * 12_000})
    assert too_big.value.feishu_code == 230025
    assert len(fake.calls_to("POST", "/open-apis/im/v1/messages")) == 1  # refusals are not retried


def test_wrong_secret_and_missing_credentials(fake: FakeFeishu) -> None:
    wrong = FeishuClient(fake.settings(feishu_app_secret=Secret("nope")))
    with pytest.raises(FeishuError, match=r"tenant_access_token.*10014"):
        send_message(wrong, "oc_chat1", "x", msg_type="text")
    with pytest.raises(FeishuError, match="FEISHU_APP_ID"):
        FeishuClient(Settings())


def test_unreachable_platform_is_a_network_error(fake: FakeFeishu) -> None:
    settings = fake.settings(feishu_domain="http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(NetworkError, match="连不上飞书"):
        send_message(FeishuClient(settings, retries=0), "oc_chat1", "x", msg_type="text")


def test_upload_a_file(fake: FakeFeishu, tmp_path: Path) -> None:
    report = tmp_path / "report.xlsx"
    report.write_bytes(b"PK\x03\x04 workbook")
    key = upload_file(_client(fake), report, file_type="xls")
    assert fake.files[key] == ("xls", "report.xlsx", b"PK\x03\x04 workbook")
    message_id = send_message(_client(fake), "oc_chat1", {"file_key": key}, msg_type="file")
    assert json.loads(fake.messages[message_id].content) == {"file_key": key}


def _inspect(head: bytes) -> str:
    return "mp4"


def test_a_resource_is_streamed_to_disk_with_the_size_cap(fake: FakeFeishu, tmp_path: Path) -> None:
    from steps._feishu import download_resource
    from steps.errors import SourceNotFound, TooLarge

    fake.add_resource("om_1", "file_v3_a", b"\x00\x00\x00\x18ftypmp42" + b"x" * 300_000)
    got = download_resource(_client(fake), "om_1", "file_v3_a", tmp_path, max_bytes=1 << 20, inspect=_inspect)
    assert got.size == 300_012 and got.temp_path.read_bytes()[4:8] == b"ftyp" and got.kind == "mp4"
    with pytest.raises(TooLarge):
        download_resource(_client(fake), "om_1", "file_v3_a", tmp_path, max_bytes=100_000, inspect=_inspect)
    with pytest.raises(SourceNotFound, match="找不到这个文件"):
        download_resource(
            _client(fake), "om_1", "file_v3_gone", tmp_path, max_bytes=1 << 20, inspect=_inspect
        )
    assert [p.name for p in tmp_path.iterdir()] == [got.temp_path.name]  # failed attempts leave nothing


def test_the_fake_limits_patches_per_message_like_feishu() -> None:
    now = [100.0]
    with FakeFeishu(patch_qps=5, clock=lambda: now[0]) as fake:
        feishu = _client(fake, retries=0)
        card_id = send_message(feishu, "oc_chat1", CARD)
        for _ in range(5):
            patch_card(feishu, card_id, CARD)
        with pytest.raises(RateLimited, match="230020"):
            patch_card(feishu, card_id, CARD)  # the sixth within one second
        other = send_message(feishu, "oc_chat1", CARD)
        patch_card(feishu, other, CARD)  # the limit is per message
        now[0] += 1.0
        patch_card(feishu, card_id, CARD)  # a second later the window has moved on
        assert len(fake.messages[card_id].versions) == 7
