"""The progress card: rendered from the progress model, and kept current by the card reporter."""

from __future__ import annotations

import json
from pathlib import Path

import steps
from steps import Settings, TaskWorkspace, feishu, record_stage, record_task
from tests.fakefeishu import FakeFeishu, Fault
from tests.steps._ws import write_manifest


def _texts(card: dict[str, object]) -> str:
    elements = card["body"]["elements"]  # type: ignore[index]
    return "\n".join(e.get("content", "") for e in elements if e.get("tag") == "markdown")  # type: ignore[union-attr]


def _task(settings: Settings, n: int, task_id: str = "t1") -> TaskWorkspace:
    ws = write_manifest(settings, task_id, {f"v{i}": f"/tmp/v{i}.mp4" for i in range(n)})
    record_task(ws, phase="processing", title="双十二素材", total=n)
    return ws


def test_the_card_shows_counts_failures_then_summary_and_cost(settings: Settings) -> None:
    ws = _task(settings, 8)
    for i in range(8):
        record_stage(
            ws,
            f"v{i}",
            "fetch",
            "ok" if i < 1 else "failed",
            None if i < 1 else {"code": "SourceNotFound", "message": "404"},
        )
    card = feishu.progress_card(steps.snapshot(ws))
    text = _texts(card)
    assert card["config"]["update_multi"] is True and card["schema"] == "2.0"
    assert "下载 1/8（失败 7）" in text and "**失败的视频（7）**" in text
    assert (
        text.count("找不到视频（链接失效或已删除）：404（SourceNotFound）") == feishu.SHOWN_FAILURES
        and "+2" in text
    )
    assert [e["text"]["content"] for e in card["body"]["elements"] if e.get("tag") == "button"] == ["取消"]
    assert "批次总结" not in text

    record_task(
        ws,
        phase="finished",
        summary=["最好：A 版（CTR 3.1%）"],
        ai_cost="AI 费用约 ¥0.0123",
        outputs={"xlsx": "report.xlsx"},
    )
    done = feishu.progress_card(steps.snapshot(ws))
    assert "最好：A 版" in _texts(done) and "AI 费用约 ¥0.0123" in _texts(done)
    assert [e["text"]["content"] for e in done["body"]["elements"] if e.get("tag") == "button"] == [
        "重试失败的视频",
        "查看结果",
    ]


def test_a_huge_task_still_fits_in_a_card(settings: Settings) -> None:
    ws = _task(settings, 600)
    for i in range(600):
        record_stage(ws, f"v{i}", "fetch", "failed", {"code": "DownloadFailed", "message": "很长的原因" * 80})
    record_task(ws, phase="finished", summary=["总结" * 400] * 20)
    card = feishu.progress_card(steps.snapshot(ws))
    assert len(json.dumps(card, ensure_ascii=False).encode()) <= feishu.MAX_CARD_BYTES
    assert "+595" in _texts(card)


def _bound(fake: FakeFeishu, settings: Settings, ws: TaskWorkspace) -> tuple[feishu.FeishuClient, str]:
    client = feishu.FeishuClient(fake.settings(settings), sleep=lambda _s: None)
    user = fake.new_message("oc_chat", "text", '{"text": "https://a.example/x.mp4"}')
    card_id = feishu.reply_message(client, user.message_id, feishu.progress_card(steps.snapshot(ws)))
    feishu.save_binding(ws, feishu.CardBinding("oc_chat", user.message_id, "ou_alice", card_id))
    return client, card_id


def test_two_reporters_share_the_throttle_and_the_final_card_stays(
    fake: FakeFeishu, settings: Settings
) -> None:
    ws = _task(settings, 2)
    client, card_id = _bound(fake, settings, ws)
    one = feishu.CardReporter(fake.settings(settings), min_interval_s=3600, feishu=client)  # two machines
    two = feishu.CardReporter(fake.settings(settings), min_interval_s=3600, feishu=client)
    binding = feishu.load_binding(ws)
    assert binding is not None
    record_stage(ws, "v0", "fetch", "ok")
    one.refresh(ws, binding)
    record_stage(ws, "v1", "fetch", "ok")
    two.refresh(ws, binding)  # within the interval of the other's PATCH: not sent (a trailing one waits)
    assert len(fake.messages[card_id].versions) == 2
    record_task(ws, phase="finished")
    two.refresh(ws, binding, final=True)  # the final state is never throttled
    eager = feishu.CardReporter(fake.settings(settings), min_interval_s=0, feishu=client)
    eager.refresh(ws, binding)  # nothing replaces the final card, not even an unthrottled update
    one._cancel_trail(ws.task_id)
    two._cancel_trail(ws.task_id)
    versions = fake.messages[card_id].cards()
    assert len(versions) == 3 and "完成" in _texts(versions[-1]) and "下载 2/2" in _texts(versions[-1])
    assert (
        sum(1 for m in fake.messages.values() if m.reply_to and "已完成" in m.content) == 1
    )  # one final message


def test_a_failing_patch_never_fails_the_step(fake: FakeFeishu, settings: Settings, tmp_path: Path) -> None:
    ws = _task(settings, 1)
    client, card_id = _bound(fake, settings, ws)
    fake.inject("PATCH", "/open-apis/im/v1/messages/:message_id", *[Fault(400, 230020)] * 3)  # 1 + 2 retries
    reporter = feishu.CardReporter(fake.settings(settings), min_interval_s=0, feishu=client)
    sink = steps.ProgressSink([reporter])
    record_stage(ws, "v0", "fetch", "ok", sink=sink)  # rate-limited through every retry: logged only
    assert len(fake.messages[card_id].versions) == 1
    record_stage(ws, "v0", "media", "ok", sink=sink)  # the next update gets through and shows both
    assert "音频 1/1" in _texts(fake.messages[card_id].card)


def test_tasks_without_a_binding_are_not_reported(fake: FakeFeishu, settings: Settings) -> None:
    ws = _task(settings, 1)
    reporter = feishu.card_reporter(fake.settings(settings))
    assert reporter is not None and feishu.card_reporter(settings) is None  # no app: no reporter
    record_stage(ws, "v0", "fetch", "ok", sink=steps.ProgressSink([reporter]))
    assert fake.calls == []
