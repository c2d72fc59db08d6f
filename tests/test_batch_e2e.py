"""A batch where half the videos are bad finishes: the good ones analysed, the bad ones reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.httpserver import LocalHTTPServer, Reply
from video_insight.cli import main


@pytest.mark.slow
def test_half_bad_batch_finishes_with_reasons(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    speech_video,
    silent_video,
    bikes: Path,
) -> None:
    monkeypatch.setenv("VI_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("VI_FETCH_BACKOFF_S", "0.01")
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    data = speech_video.path.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    with LocalHTTPServer() as srv:
        good_url = srv.file("/ads/speech.mp4", data)
        bikes_url = srv.file("/ads/bikes.mp4", bikes.read_bytes())
        videos = [
            {"name": "speech", "url": good_url},
            {"name": "bikes", "url": bikes_url},
            {"name": "silent", "path": str(silent_video.path)},
            {"name": "gone", "url": srv.route("/ads/gone.mp4", Reply(404, b"not found"))},
            {
                "name": "web page",
                "url": srv.route(
                    "/ads/page.mp4",
                    Reply(200, b"<!doctype html><html><body>hi</body></html>", {"Content-Type": "video/mp4"}),
                ),
            },
            {
                "name": "huge",
                "url": srv.file("/ads/huge.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\0" * 3_000_000),
            },
            {"name": "sneaky", "url": srv.redirect("/ads/sneaky.mp4", "http://169.254.169.254/latest/")},
            {"name": "empty", "path": str(zero)},
            {"name": "cut off", "path": str(truncated)},
            {"name": "speech again", "url": good_url + "#dup"},
        ]
        batch = tmp_path / "batch.json"
        batch.write_text(
            json.dumps({"videos": videos, "options": {"limits": {"max_video_mb": 2}, "max_concurrency": 4}}),
            encoding="utf-8",
        )
        out = tmp_path / "out"
        code = main(["--workspace", str(tmp_path / "ws"), "run", str(batch), "--out", str(out)])
        stdout = capsys.readouterr().out
    assert code == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    by_name = {v["name"]: v for v in results["videos"]}
    assert [v["name"] for v in results["videos"]] == [v["name"] for v in videos]
    for name in ("speech", "bikes", "silent"):
        assert by_name[name]["status"] == "ok", by_name[name]["error"]
    assert "free shipping" in by_name["speech"]["transcript"]["text"].lower()
    assert len(by_name["bikes"]["shots"]) == 6
    expected = {
        "gone": "SourceNotFound",
        "web page": "NotAVideo",
        "huge": "TooLarge",
        "sneaky": "BlockedAddress",
        "empty": "EmptyFile",
        "cut off": "CorruptVideo",
        "speech again": "DuplicateVideo",
    }
    for name, code_ in expected.items():
        assert by_name[name]["status"] == "failed"
        assert by_name[name]["error"]["code"] == code_, (name, by_name[name]["error"])
        assert by_name[name]["error"]["message"]
    assert results["counts"] == {"total": 10, "ok": 3, "failed": 7}
    assert "3 of 10 videos analysed, 7 failed" in stdout
    assert srv.hits["/ads/speech.mp4"] == 1  # the duplicate was not downloaded again
