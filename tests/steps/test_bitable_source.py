"""Bitable in: links, column detection, and a team's table read through the real SDK into a task."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from steps import Settings, StepContext, TaskWorkspace, load_manifest, prepare, read_json
from steps import fetch as fetch_step
from steps._bitable import (
    BitableApi,
    BitableLink,
    NotShared,
    detect_columns,
    is_bitable_link,
    parse_bitable_link,
    read_bitable_source,
)
from steps._feishu import FeishuClient
from steps._progress import snapshot
from steps.errors import DownloadFailed, InvalidRequest
from tests.fakefeishu import FakeFeishu
from tests.fakefeishu_bitable import FakeBitable

TEXT, NUMBER, URL, ATTACHMENT = 1, 2, 15, 17
FIELDS = [
    {"field_name": "素材名称", "type": TEXT},
    {"field_name": "视频链接", "type": URL},
    {"field_name": "附件", "type": ATTACHMENT},
    {"field_name": "展现", "type": NUMBER},
    {"field_name": "点击", "type": NUMBER},
    {"field_name": "消耗", "type": NUMBER},
    {"field_name": "激活人数", "type": NUMBER},
    {"field_name": "卖点", "type": 4, "property": {"options": [{"name": "续航"}, {"name": "降噪"}]}},
]


def _text(s: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": s}]  # how records/search returns a text cell


def _url(link: str) -> dict[str, str]:
    return {"link": link, "text": link}


def test_links_to_a_base_or_a_wiki_page_are_parsed() -> None:
    assert parse_bitable_link("https://acme.feishu.cn/base/bascnAbCdEf12?table=tblXyz1&view=vewQ1") == (
        BitableLink("bascnAbCdEf12", False, "tblXyz1", "vewQ1")
    )
    assert parse_bitable_link(" https://acme.larksuite.com/wiki/wikcnAbCdEf12?table=tbl1 ") == (
        BitableLink("wikcnAbCdEf12", True, "tbl1", None)
    )
    assert is_bitable_link("https://x.feishu.cn/base/bascnAbCdEf12")
    for bad in (
        "https://evil.example/base/bascnAbCdEf12?table=tbl1",
        "http://acme.feishu.cn/base/bascnAbCdEf12",
        "https://acme.feishu.cn/docx/doxcnAbCdEf12",
        "https://acme.feishu.cn.evil.example/base/bascnAbCdEf12",
    ):
        assert not is_bitable_link(bad), bad
    with pytest.raises(InvalidRequest, match="不是飞书多维表格链接"):
        parse_bitable_link("https://v.douyin.com/abc/")


def test_columns_are_found_by_name_and_a_mapping_wins() -> None:
    cols = detect_columns(FIELDS)
    assert (cols.name, cols.link, cols.attachment) == ("素材名称", "视频链接", "附件")
    assert dict(cols.performance) == {
        "impressions": "展现", "clicks": "点击", "spend": "消耗", "conversions": "激活人数",
    }  # fmt: skip
    english = [{"field_name": "Name", "type": TEXT}, {"field_name": "URL", "type": TEXT}]
    assert (detect_columns(english).name, detect_columns(english).link) == ("Name", "URL")
    mapped = detect_columns([*FIELDS, {"field_name": "转化数", "type": NUMBER}], {"conversions": "转化数"})
    assert mapped.performance["conversions"] == "转化数"


def test_a_table_without_a_name_or_link_column_says_which_columns_it_has() -> None:
    with pytest.raises(InvalidRequest, match=r"找不到视频链接列.*表格的列：素材名称、展现"):
        detect_columns([{"field_name": "素材名称", "type": TEXT}, {"field_name": "展现", "type": NUMBER}])
    with pytest.raises(InvalidRequest, match="找不到名称列"):
        detect_columns([{"field_name": "视频链接", "type": URL}])
    with pytest.raises(InvalidRequest, match=r"source\.columns\.link: 表格里没有“地址”列"):
        detect_columns(FIELDS, {"link": "地址"})


def _api(fake: FakeFeishu) -> BitableApi:
    return BitableApi(FeishuClient(fake.settings(), sleep=lambda _s: None))


def test_a_1200_row_table_is_read_completely_in_the_views_order(fake: FakeFeishu, base: FakeBitable) -> None:
    rows = [
        {"素材名称": _text(f"素材 {i}"), "视频链接": _url(f"https://cdn.example.com/{i}.mp4")}
        for i in range(1200)
    ]
    app, table, view = base.add_table("大表", FIELDS, rows, view_order=list(reversed(range(1200))))

    source = read_bitable_source(_api(fake), f"https://acme.feishu.cn/base/{app}?table={table}&view={view}")

    assert [r.name for r in source.rows] == [f"素材 {i}" for i in reversed(range(1200))]
    assert source.rows[0].url == "https://cdn.example.com/1199.mp4" and source.title == "大表"
    pages = fake.calls_to("POST", "/open-apis/bitable/v1/apps/:app_token/tables/:table_id/records/search")
    assert len(pages) == 3 and all(c.query["page_size"] == "500" for c in pages)


def test_a_table_not_shared_with_the_app_says_how_to_share_it(fake: FakeFeishu, base: FakeBitable) -> None:
    app, table, _ = base.add_table("私有表", FIELDS, [], shared=False)
    with pytest.raises(NotShared, match="添加文档应用") as info:
        read_bitable_source(_api(fake), f"https://acme.feishu.cn/base/{app}?table={table}")
    assert info.value.feishu_code == 1254302


def test_a_wiki_link_is_resolved_to_its_base(fake: FakeFeishu, base: FakeBitable) -> None:
    row = {"素材名称": _text("A"), "视频链接": _url("https://cdn.example.com/a.mp4")}
    app, table, _ = base.add_table("知识库里的表", FIELDS, [row])
    wiki = base.add_wiki_node(app)
    source = read_bitable_source(_api(fake), f"https://acme.feishu.cn/wiki/{wiki}?table={table}")
    assert source.app_token == app and [r.name for r in source.rows] == ["A"]


@pytest.fixture
def team_table(base: FakeBitable, bikes: Path) -> tuple[str, str, bytes]:
    """10 rows: sample links, a broken link, a row without a link, an empty row, an attachment video."""
    clip = bikes.read_bytes()
    app, table, _ = base.add_table("投放素材 12 月", FIELDS, [])
    token = base.add_media(app, clip, "bikes.mp4")
    rows: list[dict[str, Any]] = [
        {"素材名称": _text(f"素材 {i}"), "视频链接": _url(f"https://cdn.example.com/{i}.mp4"),
         "展现": 1000 * i, "点击": 10 * i, "消耗": 12.5, "激活人数": i}
        for i in range(1, 7)
    ]  # fmt: skip
    rows.append({"素材名称": _text("坏链接"), "视频链接": _text("见群文件 v3.mp4"), "展现": 5})
    rows.append({"素材名称": _text("没链接"), "点击": 3})
    rows.append({})
    rows.append(
        {
            "素材名称": _text("附件视频"),
            "附件": [{"file_token": token, "name": "bikes.mp4", "size": len(clip)}],
        }
    )
    base.apps[app].tables[table].records = [
        {"record_id": f"rec{i:03d}", "fields": r} for i, r in enumerate(rows)
    ]
    return f"https://acme.feishu.cn/base/{app}?table={table}", token, clip


def _prepare(settings: Settings, request: dict[str, Any]) -> dict[str, Any]:
    ws = TaskWorkspace(settings.workspace, "t_table")
    ws.dir.mkdir(parents=True, exist_ok=True)
    ws.request.write_text(json.dumps(request), encoding="utf-8")
    return prepare.handler({"task_id": "t_table"}, StepContext(settings=settings))


def test_prepare_turns_the_rows_into_videos_and_rows_without_a_link_into_failures(
    settings: Settings, fake: FakeFeishu, team_table: tuple[str, str, bytes]
) -> None:
    link, token, _ = team_table
    request = {"source": {"bitable": link, "fields_from_table": True}, "requester": {"open_id": "ou_me"}}
    out = _prepare(fake.settings(settings), request)

    ws = TaskWorkspace(settings.workspace, "t_table")
    manifest = load_manifest(ws)
    assert manifest.title == "投放素材 12 月" and manifest.requester == "ou_me"
    names = [v.name for v in manifest.videos]
    assert names == [
        *(f"素材 {i}" for i in range(1, 7)),
        "坏链接",
        "没链接",
        "附件视频",
    ]  # the empty row skipped
    first = manifest.videos[0]
    assert first.url == "https://cdn.example.com/1.mp4"
    assert first.performance == {"impressions": 1000, "clicks": 10, "spend": 12.5, "conversions": 1}
    broken, missing, attached = manifest.videos[6:]
    assert broken.rejected == "“见群文件 v3.mp4”不是 http(s) 链接"
    assert missing.rejected == "这一行没有视频链接（视频链接、附件为空）"
    assert attached.attachment is not None and attached.attachment.file_token == token
    assert out["video_ids"] == [v.video_id for v in manifest.videos if v.rejected is None]
    assert [f.name for f in manifest.options.analysis.fields] == ["卖点"]  # the table's own column

    snap = snapshot(ws)
    assert snap.total == 9 and {v.name for v in snap.failed} == {"坏链接", "没链接"}
    failure = read_json(ws.video_dir(broken.video_id) / "failure.json")
    assert failure["code"] == "NoVideoLink"


def test_a_rerun_of_prepare_keeps_the_first_reading(
    settings: Settings, fake: FakeFeishu, base: FakeBitable, team_table: tuple[str, str, bytes]
) -> None:
    link, _, _ = team_table
    first = _prepare(fake.settings(settings), {"source": {"bitable": link}})
    for app in base.apps.values():
        for table in app.tables.values():
            table.records.clear()  # the user empties the table meanwhile
    assert _prepare(fake.settings(settings), {"source": {"bitable": link}}) == first


def test_an_attachment_video_is_streamed_from_drive(
    settings: Settings, fake: FakeFeishu, base: FakeBitable, team_table: tuple[str, str, bytes]
) -> None:
    link, _, clip = team_table
    ids = _prepare(fake.settings(settings), {"source": {"bitable": link}})["video_ids"]
    manifest = load_manifest(TaskWorkspace(settings.workspace, "t_table"))
    attached = next(v for v in manifest.videos if v.attachment is not None)
    assert attached.video_id in ids

    fake.revoke_tokens()  # the token the SDK cached during Prepare is no longer accepted
    fetch_step.handler(
        {"task_id": "t_table", "video_id": attached.video_id}, StepContext(settings=fake.settings(settings))
    )

    record = read_json(
        TaskWorkspace(settings.workspace, "t_table").video_dir(attached.video_id) / "fetch.json"
    )
    assert record["sha256"] == hashlib.sha256(clip).hexdigest() and record["source"] == "附件：bikes.mp4"
    refused, download = fake.calls_to("GET", "/open-apis/drive/v1/medias/:file_token/download")
    assert refused.headers["authorization"] != download.headers["authorization"]  # asked for a new token
    assert (
        download.headers["authorization"].startswith("Bearer t-") and "bitablePerm" in download.query["extra"]
    )

    for app in base.apps.values():
        app.shared = False  # the owner removes the app
    ws = TaskWorkspace(settings.workspace, "t_table")
    (ws.video_dir(attached.video_id) / "fetch.json").unlink()
    with pytest.raises(DownloadFailed, match="添加文档应用"):
        fetch_step.run(
            fetch_step.VideoRef(task_id="t_table", video_id=attached.video_id),
            StepContext(settings=fake.settings(settings)),
        )


def test_a_source_request_needs_the_feishu_app(
    settings: Settings, team_table: tuple[str, str, bytes]
) -> None:
    with pytest.raises(InvalidRequest, match="FEISHU_APP_ID"):
        _prepare(settings, {"source": {"bitable": team_table[0]}})


def test_the_schema_takes_videos_or_a_source_not_both() -> None:
    from steps import validate_request

    validate_request({"source": {"bitable": "https://acme.feishu.cn/base/bascnAbCdEf12?table=tbl1"}})
    example = Path(__file__).resolve().parents[2] / "examples" / "batch-bitable.json"
    validate_request(json.loads(example.read_text(encoding="utf-8")))
    assert is_bitable_link(json.loads(example.read_text(encoding="utf-8"))["source"]["bitable"])
    for bad in (
        {},
        {"videos": [{"name": "a", "url": "https://x.test/a.mp4"}], "source": {"bitable": "https://a"}},
    ):
        with pytest.raises(InvalidRequest, match='names a "source"'):
            validate_request(bad)


def test_a_big_table_is_split_and_rows_without_a_link_are_in_no_slice(
    settings: Settings, fake: FakeFeishu, base: FakeBitable
) -> None:
    rows = [
        {"素材名称": _text(f"素材 {i}"), "视频链接": _url(f"https://cdn.example.com/{i}.mp4")}
        for i in range(150)
    ]
    rows[3] = {"素材名称": _text("没链接")}
    rows[120] = {"素材名称": _text("也没链接")}
    app, table, _ = base.add_table("大批量", FIELDS, rows)
    parent = _prepare(
        fake.settings(settings), {"source": {"bitable": f"https://acme.feishu.cn/base/{app}?table={table}"}}
    )
    assert parent["mode"] == "split" and parent["slices"] == [0, 1]

    shares = [
        prepare.handler({"task_id": "t_table", "slice": n}, StepContext(settings=settings))["video_ids"]
        for n in (0, 1)
    ]
    manifest = load_manifest(TaskWorkspace(settings.workspace, "t_table"))
    rejected = {v.video_id for v in manifest.videos if v.rejected}
    assert len(rejected) == 2 and not rejected & {*shares[0], *shares[1]}
    assert len(shares[0]) + len(shares[1]) == 148


def test_a_bitable_output_nobody_could_open_is_refused_before_any_work(
    settings: Settings, fake: FakeFeishu
) -> None:
    videos = [{"name": "a", "url": "https://cdn.example.com/a.mp4"}]
    request: dict[str, Any] = {"videos": videos, "options": {"outputs": ["json", "bitable"]}}
    with pytest.raises(InvalidRequest, match="FEISHU_APP_ID"):
        _prepare(settings, request)
    with pytest.raises(InvalidRequest, match=r"requester\.open_id"):
        _prepare(fake.settings(settings), request)
    assert _prepare(fake.settings(settings, feishu_folder_token="fldcnTeam"), request)["video_ids"]
    assert _prepare(fake.settings(settings), {**request, "requester": {"open_id": "ou_me"}})["video_ids"]
