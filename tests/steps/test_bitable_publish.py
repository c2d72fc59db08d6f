"""Bitable out: the real lark-oapi SDK writing a task's results into the fake Feishu's Bitable."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from steps import Settings, StepContext, VideoResult, atomic_write_json, feishu, read_json, snapshot
from steps._bitable import STATE_FILE, BitableApi, publish_bitable
from steps._bitable import _api as bitable_api
from steps._feishu import FeishuClient
from steps._outputs import Counts, Results
from steps.errors import FeishuError, RateLimited, TransientError
from steps.publish import handler
from tests.fakefeishu import FakeFeishu, Fault
from tests.fakefeishu_bitable import FakeBitable
from tests.steps.test_publish import TASK, build_task

BATCH = "/open-apis/bitable/v1/apps/:app_token/tables/:table_id/records/batch_create"
UPLOAD = "/open-apis/drive/v1/medias/upload_all"
REQUESTER = "ou_requester01"


def _api(fake: FakeFeishu, retries: int = 6) -> BitableApi:
    client = FeishuClient(fake.settings(), sleep=lambda _s: None)
    return BitableApi(client, retries=retries)


def _publish_task(settings: Settings, fake: FakeFeishu) -> tuple[Any, dict[str, Any]]:
    ws = build_task(settings, outputs=["xlsx", "bitable"])
    manifest = read_json(ws.manifest)
    atomic_write_json(ws.manifest, {**manifest, "requester": REQUESTER})
    out = handler(
        {"task_id": TASK}, StepContext(settings=fake.settings(settings, feishu_folder_token="fldcnTeam"))
    )
    return ws, out


def test_publish_makes_a_base_owned_by_the_requester_with_the_workbook_columns(
    settings: Settings, fake: FakeFeishu, base: FakeBitable
) -> None:
    ws, out = _publish_task(settings, fake)

    [app] = base.created()
    assert out["outputs"]["bitable"] == app.url
    assert app.owner == ("openid", REQUESTER) and app.folder_token == "fldcnTeam"
    assert app.name == "新品短视频 第 1 批 2024-06-01"  # the task's title and the date it was accepted
    assert app.members == {("app", ""): "full_access"}  # nobody else: the app keeps what Feishu leaves it
    assert sorted(t.name for t in app.tables.values()) == ["分镜", "视频分析"]  # the default table is gone

    workbook = load_workbook(ws.out / "report.xlsx")
    videos, shots = base.table(app.app_token, "视频分析"), base.table(app.app_token, "分镜")
    assert [f["field_name"] for f in videos.fields] == [c.value for c in workbook["视频分析"][1]]
    assert [f["field_name"] for f in shots.fields] == [c.value for c in workbook["分镜"][1]]
    types = {f["field_name"]: f["type"] for f in videos.fields}
    assert types["链接/路径"] == 15 and types["状态"] == 3 and types["时长"] == 2
    assert types["九宫格"] == 17 and types["分析时间"] == 5 and types["场景"] == 3
    assert {f["field_name"]: f["type"] for f in shots.fields}["关键帧"] == 17

    rows = videos.rows()
    assert [r["名称"] for r in rows] == [v.value for v in next(workbook["视频分析"].iter_cols(1, 1))][1:]
    assert [r["状态"] for r in rows] == ["成功", "成功", "失败", "失败", "失败"]
    assert rows[2]["失败原因"] == "视频已损坏，无法解码：the video cannot be decoded（CorruptVideo）"
    assert rows[0]["链接/路径"] == {
        "text": "https://cdn.example.com/a.mp4",
        "link": "https://cdn.example.com/a.mp4",
    }
    assert rows[0]["时长"] == 12.0 and rows[0]["镜头数"] == 4 and rows[0]["点击率 CTR"] == 0.025
    sheet = rows[0]["九宫格"][0]["file_token"]
    assert base.media[sheet].parent_node == app.app_token and base.media[sheet].data[:2] == b"\xff\xd8"
    assert "九宫格" not in rows[2]  # a failed video has no contact sheet: the cell stays empty

    speech = [c.value for c in next(workbook["分镜"].iter_cols(7, 7))][1:]
    assert [r.get("台词") for r in shots.rows()] == speech
    assert all(r["关键帧"][0]["file_token"] in base.media for r in shots.rows())


def test_a_second_publish_of_the_task_writes_nothing_new(
    settings: Settings, fake: FakeFeishu, base: FakeBitable
) -> None:
    _, first = _publish_task(settings, fake)
    writes, uploads = len(fake.calls_to("POST", BATCH)), len(fake.calls_to("POST", UPLOAD))
    _, second = _publish_task(settings, fake)

    assert second["outputs"]["bitable"] == first["outputs"]["bitable"]
    assert len(base.created()) == 1
    assert (len(fake.calls_to("POST", BATCH)), len(fake.calls_to("POST", UPLOAD))) == (writes, uploads)


def _results(n: int) -> Results:
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    videos = [
        VideoResult(
            video_id=f"v{i:05d}", name=f"素材 {i}", source=f"https://cdn.example.com/{i}.mp4", status="ok"
        )
        for i in range(n)
    ]
    return Results(
        task_id="t_big", title="大批量", created_at=now, finished_at=now,
        counts=Counts(total=n, ok=n, failed=0), videos=videos,
    )  # fmt: skip


class Crash(Exception):
    """The process dies here."""


def test_publish_killed_after_the_first_batch_and_run_again_writes_no_row_twice(
    tmp_path: Path, fake: FakeFeishu, base: FakeBitable
) -> None:
    results = _results(1200)
    api = _api(fake)
    real_add = api.add_records
    calls = 0

    def add_then_die(*args: Any) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Crash
        return real_add(*args)

    api.add_records = add_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        publish_bitable(results, tmp_path, api)
    # the crash came before the first batch was recorded as done
    state = read_json(tmp_path / STATE_FILE)
    atomic_write_json(tmp_path / STATE_FILE, {**state, "batches": {}})

    url = publish_bitable(results, tmp_path, _api(fake))

    [app] = base.created()
    assert url == app.url
    names = [r["名称"] for r in base.table(app.app_token, "视频分析").rows()]
    assert names == [f"素材 {i}" for i in range(1200)]  # every row once, in order
    sizes = [len(c.json()["records"]) for c in fake.calls_to("POST", BATCH)]
    assert sizes == [500, 500, 500, 200] and max(sizes) <= 500  # batch 1 sent twice, written once


def test_rate_limits_write_conflicts_and_server_errors_are_waited_out(
    tmp_path: Path, fake: FakeFeishu, base: FakeBitable
) -> None:
    fake.inject(
        "POST", BATCH,
        Fault(status=400, code=1254291, msg="write conflict"), Fault(status=429, code=99991400),
        Fault(status=400, code=1254290), Fault(status=502), Fault(status=400, code=1255040),
    )  # fmt: skip
    publish_bitable(_results(700), tmp_path, _api(fake))

    [app] = base.created()
    assert len(base.table(app.app_token, "视频分析").rows()) == 700


def test_a_busy_table_that_stays_busy_is_a_transient_error(
    tmp_path: Path, fake: FakeFeishu, base: FakeBitable
) -> None:
    fake.inject("POST", BATCH, *[Fault(status=400, code=1254291)] * 10)
    with pytest.raises(RateLimited, match="1254291"):
        publish_bitable(_results(3), tmp_path, _api(fake, retries=2))


def test_a_failing_write_is_sent_once_plus_the_retries_and_no_more(
    tmp_path: Path, fake: FakeFeishu, base: FakeBitable
) -> None:
    # one retry loop (the client's, with the Bitable API's count): not one inside the other
    fake.inject("POST", BATCH, *[Fault(status=502)] * 3)  # a fourth attempt would succeed
    with pytest.raises(TransientError):
        publish_bitable(_results(3), tmp_path, _api(fake, retries=2))
    assert len(fake.calls_to("POST", BATCH)) == 3
    fake.inject("POST", BATCH, *[Fault(status=400, code=1254291)] * 2)
    with pytest.raises(RateLimited, match="重试 1 次后仍然繁忙"):
        publish_bitable(_results(3), tmp_path / "again", _api(fake, retries=1))
    assert len(fake.calls_to("POST", BATCH)) == 3 + 2


def test_the_fake_allows_one_writer_per_table(fake: FakeFeishu, base: FakeBitable) -> None:
    api = _api(fake, retries=0)
    made = api.create_app("并发")
    table = api.create_table(made["app_token"], "t", [{"field_name": "名称", "type": 1}])
    base.release.clear()
    outcome: list[object] = []

    def first_writer() -> None:
        outcome.append(
            api.add_records(made["app_token"], table, [{"名称": "a"}], bitable_api.client_token("a"))
        )

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        assert base.writing.wait(timeout=30)
        with pytest.raises(RateLimited, match="1254291"):
            api.add_records(made["app_token"], table, [{"名称": "b"}], bitable_api.client_token("b"))
    finally:
        base.release.set()
        thread.join(timeout=30)
    assert len(outcome) == 1 and base.table(made["app_token"], "t").rows() == [{"名称": "a"}]


def test_large_attachments_go_up_in_parts(tmp_path: Path, fake: FakeFeishu, base: FakeBitable) -> None:
    api = _api(fake)
    app = api.create_app("附件")["app_token"]
    big = tmp_path / "big.bin"
    data = bytes(range(256)) * (21 * 4096)  # 21 MiB
    big.write_bytes(data)

    token = api.upload(app, big, "bitable_file")

    assert base.media[token].data == data
    assert len(fake.calls_to("POST", "/open-apis/drive/v1/medias/upload_part")) == 6
    assert not fake.calls_to("POST", UPLOAD)


def test_the_fake_refuses_a_single_upload_over_20_mb(
    tmp_path: Path, fake: FakeFeishu, base: FakeBitable, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = _api(fake)
    app = api.create_app("附件")["app_token"]
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (20 * 1024 * 1024 + 1))
    monkeypatch.setattr(bitable_api, "MAX_SINGLE_UPLOAD", 10**9)
    with pytest.raises(FeishuError, match="1061043"):
        api.upload(app, big, "bitable_file")


def test_a_base_that_cannot_be_written_is_reported_and_the_files_are_still_written(
    settings: Settings,
) -> None:
    ws = build_task(settings, outputs=["xlsx", "bitable"])
    out = handler({"task_id": TASK}, StepContext(settings=settings))  # no Feishu credentials

    assert out["failed"]["bitable"]["code"] == "FeishuError"
    assert "FEISHU_APP_ID" in out["failed"]["bitable"]["message"]
    assert set(out["outputs"]) == {"json", "xlsx"} and (ws.out / "results.json").is_file()
    snap = snapshot(ws)
    assert snap.output_errors == out["failed"]
    final = json.dumps(feishu.final_card(snap), ensure_ascii=False)
    assert "多维表格没有生成：写入多维表格需要配置飞书应用凭证" in final  # the final message says why


def test_a_refused_ownership_transfer_leaves_the_requester_with_full_access(
    tmp_path: Path, fake: FakeFeishu, base: FakeBitable
) -> None:
    fake.inject(
        "POST",
        "/open-apis/drive/v1/permissions/:token/members/transfer_owner",
        Fault(status=400, code=1063003, msg="the user cannot own documents of this tenant"),
    )
    url = publish_bitable(_results(2), tmp_path, _api(fake), requester=REQUESTER)

    [app] = base.created()
    assert url == app.url and app.owner == ("app", "")
    assert app.members == {("openid", REQUESTER): "full_access"}
    assert "1063003" in read_json(tmp_path / STATE_FILE)["owner_error"]
