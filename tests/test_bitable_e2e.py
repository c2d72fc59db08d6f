"""A team's Bitable in, a Base out: ``video-insight run`` on a ``source.bitable`` batch, fake Feishu."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# lark-oapi imported first in a worker thread makes an event loop there that nobody closes
# (lark_oapi/ws/client.py): import it here, in the main thread.
import lark_oapi  # noqa: F401
import pytest

from steps import TaskWorkspace, snapshot
from tests.fakefeishu import FakeFeishu
from tests.fakefeishu_bitable import install_bitable
from tests.httpserver import LocalHTTPServer, Reply
from video_insight.cli import main

FIELDS = [
    {"field_name": "素材名称", "type": 1},
    {"field_name": "视频链接", "type": 15},
    {"field_name": "视频文件", "type": 17},
    {"field_name": "展现", "type": 2},
    {"field_name": "点击", "type": 2},
]


def _row(name: str, link: str | None = None, **cells: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"素材名称": [{"type": "text", "text": name}]} if name else {}
    if link is not None:
        row["视频链接"] = {"link": link, "text": link}
    return {**row, **cells}


@pytest.mark.slow
def test_a_bitable_batch_comes_back_as_a_base_owned_by_the_requester(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bikes: Path, silent_video: Any
) -> None:
    monkeypatch.setenv("VI_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("VI_FETCH_BACKOFF_S", "0.01")
    with FakeFeishu() as fake, LocalHTTPServer() as srv:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        base = install_bitable(fake)
        app, table, view = base.add_table("双十二素材", FIELDS, [])
        upload = base.add_media(app, silent_video.path.read_bytes(), "silent.mp4")
        bikes_url = srv.file("/ads/bikes.mp4", bikes.read_bytes())
        rows = [
            _row("bikes", bikes_url, 展现=12000, 点击=300),
            _row("silent", srv.file("/ads/silent.mp4", silent_video.path.read_bytes())),
            _row("gone", srv.route("/ads/gone.mp4", Reply(404, b"not found"))),
            _row("群文件", None, 视频链接=[{"type": "text", "text": "见群文件"}]),
            _row("没链接", None, 展现=5),
            {},
            _row("附件视频", None, 视频文件=[{"file_token": upload, "name": "silent.mp4", "size": 1}]),
            _row("bikes 再来一次", bikes_url + "#dup"),
            _row("", bikes_url + "?v=2"),
            _row("bikes 第三次", bikes_url + "?v=3", 展现=100, 点击=1),
        ]
        base.apps[app].tables[table].records = [
            {"record_id": f"rec{i}", "fields": r} for i, r in enumerate(rows)
        ]
        batch = tmp_path / "batch.json"
        request = {
            "task_id": "t_bitable_e2e",
            "source": {"bitable": f"https://acme.feishu.cn/base/{app}?table={table}&view={view}"},
            "requester": {"open_id": "ou_asker"},
            "options": {
                "asr": {"engine": "none"},
                "outputs": ["json", "xlsx", "bitable"],
                "max_concurrency": 3,
            },
        }
        batch.write_text(json.dumps(request), encoding="utf-8")
        code = main(["--workspace", str(tmp_path / "ws"), "run", str(batch), "--out", str(tmp_path / "out")])

        assert code == 0
        [made] = base.created()
        assert made.owner == ("openid", "ou_asker") and made.members == {("app", ""): "full_access"}
        assert made.name.startswith("双十二素材 ")
        videos = base.table(made.app_token, "视频分析").rows()
        status = {r["名称"]: (r["状态"], r.get("失败原因", "")) for r in videos}
        assert len(videos) == 9  # the empty row is skipped
        for name in ("bikes", "silent", "附件视频", "第 9 行", "bikes 第三次"):
            assert status[name][0] == "成功", status[name]
        assert "SourceNotFound" in status["gone"][1]
        assert "NoVideoLink" in status["群文件"][1] and "NoVideoLink" in status["没链接"][1]
        assert "DuplicateVideo" in status["bikes 再来一次"][1]
        by_name = {r["名称"]: r for r in videos}
        assert by_name["bikes"]["曝光"] == 12000 and by_name["bikes"]["点击率 CTR"] == 0.025
        assert by_name["附件视频"]["九宫格"][0]["file_token"] in base.media
        shots = base.table(made.app_token, "分镜").rows()
        assert {r["视频"] for r in shots} >= {"bikes", "silent", "附件视频"}
        assert all(r["关键帧"][0]["file_token"] in base.media for r in shots)
        snap = snapshot(TaskWorkspace(tmp_path / "ws", "t_bitable_e2e"))
        assert snap.outputs["bitable"] == made.url  # what the card and the final message link to
        assert snap.total == 8 and len(snap.failed) == 3  # duplicates are not counted in the total
