from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from steps import FetchRecord, Settings, StepContext, TaskWorkspace, load_artifact, load_progress, prepare
from steps import fetch as fetch_step
from steps._sniff import sniff
from steps.errors import (
    BlockedAddress,
    DownloadFailed,
    EmptyFile,
    NetworkError,
    NotAVideo,
    PermanentError,
    RateLimited,
    SourceNotFound,
    TooLarge,
    UnsupportedLink,
)
from tests.httpserver import FakeInternet, LocalHTTPServer, Reply
from tests.media import MadeVideo


@pytest.fixture(autouse=True)
def internet(monkeypatch: pytest.MonkeyPatch) -> FakeInternet:
    """Safety net and stage: no test opens a connection off this machine; fake sites lead to local servers."""
    return FakeInternet().install(monkeypatch)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Loopback allowed, 2 retries with a tiny backoff, short timeouts: failures stay fast."""
    return replace(
        settings, fetch_retries=2, fetch_backoff_s=0.01, fetch_connect_timeout_s=2, fetch_read_timeout_s=0.5
    )


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def clip(silent_video: MadeVideo) -> bytes:
    return silent_video.path.read_bytes()


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def task(settings: Settings, *entries: dict[str, Any], **options: Any) -> list[str]:
    """Prepare a task over ``entries``; returns the video ids."""
    ws = TaskWorkspace(settings.workspace, "t1")
    ws.dir.mkdir(parents=True, exist_ok=True)
    videos = [{"name": f"v{i}", **e} for i, e in enumerate(entries)]
    ws.request.write_text(json.dumps({"videos": videos, "options": options}), encoding="utf-8")
    out = prepare.handler({"task_id": "t1"}, StepContext(settings=settings))
    return list(out["video_ids"])


def fetch(settings: Settings, video_id: str) -> dict[str, Any]:
    return fetch_step.handler({"task_id": "t1", "video_id": video_id}, StepContext(settings=settings))


def vdir(settings: Settings, video_id: str) -> Path:
    return TaskWorkspace(settings.workspace, "t1").video_dir(video_id)


def files_in(folder: Path) -> list[Path]:
    """What a folder holds; nothing if it was never made."""
    return list(folder.iterdir()) if folder.exists() else []


def fetch_fails(settings: Settings, url: str, **options: Any) -> tuple[Exception, Path]:
    """Fetch ``url`` expecting an error; returns it and the video folder (checked to hold no file)."""
    (vid,) = task(settings, {"url": url}, **options)
    with pytest.raises(Exception) as info:
        fetch(settings, vid)
    folder = vdir(settings, vid)
    assert files_in(folder) == [], "a failed fetch must leave no (partial) file behind"
    _, states = load_progress(TaskWorkspace(settings.workspace, "t1"))
    (state,) = [s for s in states if s["video_id"] == vid]
    # a permanent fault ends the stage; a transient one leaves it running (the flow retries it)
    expected = "failed" if isinstance(info.value, PermanentError) else "running"
    assert state["stages"]["fetch"] == expected
    assert state["error"]["code"] == getattr(info.value, "code", None)
    return info.value, folder


# --- downloads that work -----------------------------------------------------------------------


def test_download_stores_file_sha256_and_record(fast: Settings, server: LocalHTTPServer, clip: bytes) -> None:
    (vid,) = task(fast, {"url": server.file("/media/clip.mp4", clip)})
    out = fetch(fast, vid)

    assert out == {"task_id": "t1", "video_id": vid}
    folder = vdir(fast, vid)
    assert (folder / "source.mp4").read_bytes() == clip
    rec = load_artifact(folder, FetchRecord)
    assert rec is not None
    assert rec.sha256 == hashlib.sha256(clip).hexdigest() and rec.bytes == len(clip)
    assert rec.content_type == "video/mp4" and rec.resolved_url == server.url("/media/clip.mp4")
    assert sorted(p.name for p in folder.iterdir()) == ["fetch.json", "source.mp4"]
    _, states = load_progress(TaskWorkspace(fast.workspace, "t1"))
    assert states[0]["stages"]["fetch"] == "ok"


def test_fetch_is_idempotent_and_repairs_a_damaged_file(
    fast: Settings, server: LocalHTTPServer, clip: bytes
) -> None:
    (vid,) = task(fast, {"url": server.file("/clip.mp4", clip)})
    fetch(fast, vid)
    fetch(fast, vid)
    assert server.hits["/clip.mp4"] == 1  # the second run reused the stored file

    stored = vdir(fast, vid) / "source.mp4"
    stored.write_bytes(clip[:1000])  # truncated behind our back
    fetch(fast, vid)
    assert server.hits["/clip.mp4"] == 2 and stored.read_bytes() == clip


def test_redirects_are_followed(fast: Settings, server: LocalHTTPServer, clip: bytes) -> None:
    server.file("/files/final.mp4", clip)
    server.redirect("/b", "/files/final.mp4", 301)
    (vid,) = task(fast, {"url": server.redirect("/a", server.url("/b"))})
    fetch(fast, vid)
    rec = load_artifact(vdir(fast, vid), FetchRecord)
    assert rec is not None and rec.resolved_url == server.url("/files/final.mp4")
    assert rec.source == server.url("/a")


def test_local_path_is_copied(fast: Settings, silent_video: MadeVideo) -> None:
    (vid,) = task(fast, {"path": str(silent_video.path)})
    fetch(fast, vid)
    rec = load_artifact(vdir(fast, vid), FetchRecord)
    assert rec is not None and rec.path == "source.mp4" and rec.source == str(silent_video.path)
    assert rec.sha256 == hashlib.sha256(silent_video.path.read_bytes()).hexdigest()
    assert silent_video.path.exists()  # the original is left alone


def test_local_path_errors(fast: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    image = tmp_path / "photo.mp4"
    image.write_bytes(jpeg())
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    ids = task(fast, {"path": str(missing)}, {"path": str(image)}, {"path": str(empty)})
    with pytest.raises(SourceNotFound, match="文件不存在"):
        fetch(fast, ids[0])
    with pytest.raises(NotAVideo, match=r"photo\.mp4 is a JPEG image, not a video file"):
        fetch(fast, ids[1])
    with pytest.raises(EmptyFile):
        fetch(fast, ids[2])


# --- retries -----------------------------------------------------------------------------------


def test_server_error_then_ok_is_retried(fast: Settings, server: LocalHTTPServer, clip: bytes) -> None:
    url = server.route("/flaky.mp4", Reply(500), Reply(503), Reply(200, clip))
    (vid,) = task(fast, {"url": url})
    fetch(fast, vid)
    assert server.hits["/flaky.mp4"] == 3
    assert (vdir(fast, vid) / "source.mp4").read_bytes() == clip


def test_server_error_forever_is_a_network_error(fast: Settings, server: LocalHTTPServer) -> None:
    err, _ = fetch_fails(fast, server.route("/down.mp4", Reply(500)))
    assert isinstance(err, NetworkError)
    assert "3 次尝试都没有成功" in str(err) and "HTTP 500" in str(err)
    assert server.hits["/down.mp4"] == 3  # 1 try + fetch_retries=2


def test_rate_limited_honours_retry_after(fast: Settings, server: LocalHTTPServer) -> None:
    err, _ = fetch_fails(fast, server.route("/busy.mp4", Reply(429, headers={"Retry-After": "0.3"})))
    assert isinstance(err, RateLimited) and err.code == "Transient.RateLimited"
    arrivals = [seen.at for seen in server.requests["/busy.mp4"]]
    assert len(arrivals) == 3  # 1 try + fetch_retries=2, each after the wait the server asked for
    assert all(later - earlier >= 0.3 for earlier, later in itertools.pairwise(arrivals))


def test_slow_server_times_out(fast: Settings, server: LocalHTTPServer, clip: bytes) -> None:
    impatient = replace(fast, fetch_read_timeout_s=0.2)
    err, _ = fetch_fails(impatient, server.route("/slow.mp4", Reply(200, clip, delay_s=1.0)))
    assert isinstance(err, NetworkError) and "服务器没有及时响应" in str(err)


def test_body_shorter_than_content_length_is_retried(
    fast: Settings, server: LocalHTTPServer, clip: bytes
) -> None:
    url = server.route("/cut.mp4", Reply(200, clip[:5000], declared_length=len(clip)), Reply(200, clip))
    (vid,) = task(fast, {"url": url})
    fetch(fast, vid)
    assert server.hits["/cut.mp4"] == 2
    assert (vdir(fast, vid) / "source.mp4").read_bytes() == clip


# --- permanent failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"), [(404, SourceNotFound), (410, SourceNotFound), (403, DownloadFailed)]
)
def test_client_errors_are_not_retried(
    fast: Settings, server: LocalHTTPServer, status: int, error: type[Exception]
) -> None:
    err, _ = fetch_fails(fast, server.route("/x.mp4", Reply(status)))
    assert isinstance(err, error) and f"HTTP {status}" in str(err)
    assert server.hits["/x.mp4"] == 1


def test_html_served_as_mp4(fast: Settings, server: LocalHTTPServer) -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Login</title></head><body>Please sign in</body></html>"
    err, _ = fetch_fails(fast, server.file("/video.mp4", page, "video/mp4"))
    assert isinstance(err, NotAVideo)
    assert str(err) == "the link is a web page (HTML), not a video file (served as video/mp4)"


def test_jpeg_served_as_mp4(fast: Settings, server: LocalHTTPServer) -> None:
    err, _ = fetch_fails(fast, server.file("/video.mp4", jpeg(), "video/mp4"))
    assert isinstance(err, NotAVideo) and "a JPEG image, not a video file" in str(err)


def test_zero_bytes(fast: Settings, server: LocalHTTPServer) -> None:
    err, _ = fetch_fails(fast, server.file("/empty.mp4", b""))
    assert isinstance(err, EmptyFile)


def test_oversize_by_content_length(fast: Settings, server: LocalHTTPServer, clip: bytes) -> None:
    big = clip + b"\0" * (1024 * 1024)
    err, _ = fetch_fails(fast, server.file("/big.mp4", big), limits={"max_video_mb": 0.5})
    assert isinstance(err, TooLarge) and "超过 0.5 MB 上限" in str(err)


def test_oversize_while_streaming_without_content_length(
    fast: Settings, server: LocalHTTPServer, clip: bytes
) -> None:
    big = clip + b"\0" * (1024 * 1024)
    url = server.file("/big.mp4", big, content_length=False, chunk=16 * 1024)
    err, _ = fetch_fails(fast, url, limits={"max_video_mb": 0.5})
    assert isinstance(err, TooLarge) and str(err) == "文件太大：超过 0.5 MB 上限（已停止下载）"


def test_redirect_loop_is_cut(fast: Settings, server: LocalHTTPServer) -> None:
    server.redirect("/loop-b", "/loop-a")
    err, _ = fetch_fails(fast, server.redirect("/loop-a", "/loop-b"))
    assert isinstance(err, DownloadFailed) and "重定向次数过多" in str(err)
    assert server.hits["/loop-a"] + server.hits["/loop-b"] == 6


# --- address checks (no traffic ever leaves the loopback interface) ------------------------------


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://10.0.0.1/x.mp4", "内网地址"),
        ("http://169.254.169.254/latest/meta-data/", "云元数据地址"),
        ("http://100.100.100.200/latest/meta-data/", "云元数据地址"),
        ("http://[fd00:ec2::254]/", "云元数据地址"),
        ("http://100.64.1.1/", "运营商级 NAT"),
        ("http://0.0.0.0:8080/", "未指定地址"),
    ],
)
def test_redirect_to_an_internal_address_is_refused(
    fast: Settings, server: LocalHTTPServer, target: str, reason: str
) -> None:
    err, _ = fetch_fails(fast, server.redirect("/go", target))
    assert isinstance(err, BlockedAddress) and reason in str(err)
    assert server.hits["/go"] == 1  # refused at once, not retried


def test_loopback_is_refused_unless_allowed(settings: Settings, server: LocalHTTPServer, clip: bytes) -> None:
    strict = replace(settings, allow_loopback=False)
    err, _ = fetch_fails(strict, server.file("/clip.mp4", clip))
    assert isinstance(err, BlockedAddress) and "回环地址" in str(err)
    assert server.hits["/clip.mp4"] == 0  # refused before connecting


def test_localhost_name_is_resolved_and_checked(
    settings: Settings, server: LocalHTTPServer, clip: bytes
) -> None:
    server.file("/clip.mp4", clip)
    strict = replace(settings, allow_loopback=False)
    err, _ = fetch_fails(strict, f"http://localhost:{server.port}/clip.mp4")
    assert isinstance(err, BlockedAddress) and "localhost" in str(err)
    assert server.hits["/clip.mp4"] == 0


# --- links that are not files ------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://files.example.com/a.mp4", "file:///etc/passwd", "rtmp://live.test/x"])
def test_other_schemes_are_unsupported(fast: Settings, url: str) -> None:
    err, _ = fetch_fails(fast, url)
    assert isinstance(err, UnsupportedLink) and "只能下载 http 和 https 链接" in str(err)


def test_video_site_page_that_cannot_be_resolved_fails_fast(fast: Settings) -> None:
    started = time.monotonic()
    err, _ = fetch_fails(fast, "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert isinstance(err, UnsupportedLink)
    assert str(err).startswith("无法从这个 YouTube 页面解析出视频：")
    assert time.monotonic() - started < 5


def test_generic_extractor_is_never_used(
    fast: Settings, server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listed site is read by its own extractor only: the generic one would crawl whatever a page embeds.
    monkeypatch.setitem(fetch_step.VIDEO_SITES, "127.0.0.1", "Test Tube")
    server.file("/media/clip.mp4", b"\0" * 1000)
    page = (
        b'<html><head><title>A clip</title></head><body><video src="/media/clip.mp4"></video></body></html>'
    )
    err, _ = fetch_fails(fast, server.file("/watch", page, "text/html"))
    assert isinstance(err, UnsupportedLink) and "No suitable extractor" in str(err)
    assert err.message.startswith("无法从这个 Test Tube 页面解析出视频：")
    assert server.hits["/media/clip.mp4"] == 0


def test_plain_web_page_link_is_not_a_video(fast: Settings, server: LocalHTTPServer) -> None:
    err, _ = fetch_fails(fast, server.file("/article", b"<html><body>news</body></html>", "text/html"))
    assert isinstance(err, NotAVideo) and str(err).startswith("the link is a web page")


# --- content sniffing on real files ------------------------------------------------------------


@pytest.fixture(scope="session")
def containers(silent_video: MadeVideo, media_dir: Path) -> dict[str, Path]:
    """The same short clip in every container Fetch accepts, made with ffmpeg."""
    src = str(silent_video.path)
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=0.5"]
    recipes = {
        "mov": ["-i", src, "-c", "copy", "-t", "1"],
        "mkv": ["-i", src, "-c", "copy", "-t", "1"],
        "ts": ["-i", src, "-c", "copy", "-t", "1"],
        "avi": ["-i", src, "-c", "copy", "-t", "1"],
        "flv": ["-i", src, "-c", "copy", "-t", "1"],
        "webm": ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=0.5", "-c:v", "libvpx"],
        "mpg": ["-i", src, "-c:v", "mpeg2video", "-t", "0.5"],
        "m4a": [*tone, "-c:a", "aac"],
        "mp3": [*tone, "-c:a", "libmp3lame"],
        "wav": tone,
    }
    out = {"mp4": silent_video.path}
    for kind, args in recipes.items():
        path = media_dir / f"sniff.{kind}"
        if not path.exists():
            subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args, str(path)], check=True)
        out[kind] = path
    return out


@pytest.mark.parametrize(
    "kind", ["mp4", "mov", "mkv", "webm", "ts", "avi", "flv", "mpg", "m4a", "mp3", "wav"]
)
def test_sniff_recognises_real_containers(containers: dict[str, Path], kind: str) -> None:
    assert sniff(containers[kind].read_bytes()[:512]) == kind


def test_sniff_names_what_is_not_a_video() -> None:
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    cases = {
        jpeg(): "a JPEG image",
        png.getvalue(): "a PNG image",
        b"%PDF-1.7\n%\xe2\xe3": "a PDF document",
        b'{"error": "expired"}': "JSON data",
        b"Access denied\n": "plain text",
        b"#EXTM3U\n#EXT-X-VERSION:3\n": "an HLS playlist",
        bytes(range(200, 256)): "unrecognised binary data",
    }
    for head, what in cases.items():
        with pytest.raises(NotAVideo, match=what):
            sniff(head)


def test_local_webm_keeps_its_extension(fast: Settings, containers: dict[str, Path]) -> None:
    (vid,) = task(fast, {"path": str(containers["webm"])})
    fetch(fast, vid)
    assert (vdir(fast, vid) / "source.webm").read_bytes() == containers["webm"].read_bytes()


# --- yt-dlp's own requests pass the same guard -----------------------------------------------------

XHS_NOTE = "6411cf99000000001300b6d9"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://127.0.0.1:{port}/admin", "回环地址"),
        ("http://localhost:{port}/admin", "回环地址"),
        ("http://169.254.169.254/latest/meta-data/", "云元数据地址"),
        ("http://intranet.corp.example/admin", "内网地址"),
    ],
)
def test_video_site_page_cannot_redirect_ytdlp_to_an_internal_address(
    settings: Settings, internet: FakeInternet, target: str, reason: str
) -> None:
    # A listed video site (the real Xiaohongshu extractor of yt-dlp) answers its page with a redirect
    # into the network the process runs in. yt-dlp must not follow it on its own.
    strict = replace(settings, allow_loopback=False, fetch_retries=0)
    internet.dns("intranet.corp.example", "10.20.30.40")
    with LocalHTTPServer() as site, LocalHTTPServer() as internal:
        internal.file("/admin", b"secret")
        target = target.format(port=internal.port)
        base = internet.site("www.xiaohongshu.com", site)
        site.redirect(f"/explore/{XHS_NOTE}", target)
        err, _ = fetch_fails(strict, f"{base}/explore/{XHS_NOTE}")
        assert internal.hits["/admin"] == 0
    assert isinstance(err, BlockedAddress) and reason in str(err)
    assert not internet.tried("169.254.169.254") and not internet.tried("10.20.30.40")


def xhs_page(note: str, media_url: str) -> bytes:
    """A Xiaohongshu note page as yt-dlp's XiaoHongShu extractor reads it."""
    state = {
        "note": {
            "noteDetailMap": {
                note: {
                    "note": {
                        "title": "一条笔记",
                        "video": {"media": {"stream": {"h264": [{"masterUrl": media_url}]}}},
                    }
                }
            }
        }
    }
    return f"<html><script>window.__INITIAL_STATE__={json.dumps(state)}</script></html>".encode()


def test_video_site_page_resolved_by_its_extractor_then_downloaded(
    fast: Settings, internet: FakeInternet, clip: bytes
) -> None:
    # The real Xiaohongshu extractor reads the page through the guarded client; the media file comes
    # from another host (a CDN) through our download, with the headers yt-dlp asks for.
    strict = replace(fast, allow_loopback=False)
    with LocalHTTPServer() as site, LocalHTTPServer() as cdn:
        base = internet.site("www.xiaohongshu.com", site)
        media = internet.site("sns-video-bd.xhscdn.com", cdn, address="93.184.215.40") + "/stream/clip.mp4"
        site.file(f"/explore/{XHS_NOTE}", xhs_page(XHS_NOTE, media), "text/html")
        cdn.file("/stream/clip.mp4", clip)
        (vid,) = task(strict, {"url": f"{base}/explore/{XHS_NOTE}"})
        fetch(strict, vid)
        (seen,) = cdn.requests["/stream/clip.mp4"]
    rec = load_artifact(vdir(strict, vid), FetchRecord)
    assert rec is not None and rec.resolved_url == media
    assert (vdir(strict, vid) / "source.mp4").read_bytes() == clip
    assert seen.headers["user-agent"].startswith("Mozilla/") and seen.headers["sec-fetch-mode"] == "navigate"


def test_video_site_page_without_a_video_is_an_unsupported_link(
    fast: Settings, internet: FakeInternet
) -> None:
    with LocalHTTPServer() as site:
        base = internet.site("www.xiaohongshu.com", site)
        site.file(f"/explore/{XHS_NOTE}", b"<html><body>nothing to see</body></html>", "text/html")
        err, _ = fetch_fails(replace(fast, allow_loopback=False), f"{base}/explore/{XHS_NOTE}")
    assert isinstance(err, UnsupportedLink)
    assert str(err).startswith("无法从这个 Xiaohongshu 页面解析出视频：[XiaoHongShu]")


def test_video_site_host_that_resolves_inside_is_refused(fast: Settings, internet: FakeInternet) -> None:
    strict = replace(fast, allow_loopback=False)
    internet.dns("www.xiaohongshu.com", "192.168.3.4")
    err, _ = fetch_fails(strict, f"http://www.xiaohongshu.com/explore/{XHS_NOTE}")
    assert isinstance(err, BlockedAddress) and "www.xiaohongshu.com 解析到内网地址 192.168.3.4" in str(err)
    assert internet.attempts == []


# --- time limits: a whole fetch has a deadline and a minimum rate ----------------------------------


def trickle(body: bytes, per_chunk: int = 1) -> Reply:
    """A server that sends ``per_chunk`` bytes every 10 ms: alive, but never done in time."""
    return Reply(200, body, {"Content-Type": "video/mp4"}, chunk=per_chunk, chunk_delay_s=0.01)


def test_trickling_server_is_cut_by_the_minimum_rate(
    fast: Settings, server: LocalHTTPServer, clip: bytes
) -> None:
    limited = replace(
        fast, fetch_min_bytes_per_s=1024, fetch_rate_window_s=0.3, fetch_read_timeout_s=5, fetch_max_s=20
    )
    err, _ = fetch_fails(limited, server.route("/drip.mp4", trickle(clip)))
    assert isinstance(err, DownloadFailed) and err.details["limit"] == "min_rate"
    assert re.fullmatch(r"下载太慢：最近 \d+\.\d 秒平均 0\.\d\d KB/s，低于下限 1 KB/s", str(err))
    assert server.hits["/drip.mp4"] == 1  # a server this slow is not asked again


def test_trickling_server_is_cut_by_the_fetch_deadline(
    fast: Settings, server: LocalHTTPServer, clip: bytes
) -> None:
    # 6.4 KB/s passes any rate floor here, but the whole fetch may take 0.5 s only.
    limited = replace(fast, fetch_max_s=0.5, fetch_min_bytes_per_s=0, fetch_read_timeout_s=5)
    err, _ = fetch_fails(limited, server.route("/drip.mp4", trickle(clip, per_chunk=64)))
    assert isinstance(err, DownloadFailed) and err.details["limit"] == "deadline"
    assert str(err).startswith("下载超时：超过下载时限 0.5 秒，下载未完成")
    assert server.hits["/drip.mp4"] == 1


def test_the_step_deadline_ends_a_stalled_download(
    fast: Settings, server: LocalHTTPServer, clip: bytes
) -> None:
    # The server answers after 30 s, within the 60 s read timeout; the step's deadline comes first.
    patient = replace(fast, fetch_read_timeout_s=60, fetch_max_s=600)
    (vid,) = task(patient, {"url": server.route("/stall.mp4", Reply(200, clip, delay_s=30))})
    ctx = StepContext(settings=patient, deadline=time.monotonic() + 1.0)
    with pytest.raises(DownloadFailed) as info:
        fetch_step.handler({"task_id": "t1", "video_id": vid}, ctx)
    assert str(info.value) == "下载超时：超过本步骤（Fetch）的时限，下载未完成"
    assert files_in(vdir(patient, vid)) == []


def test_retries_never_wait_past_the_deadline(fast: Settings, server: LocalHTTPServer) -> None:
    limited = replace(fast, fetch_max_s=3.0, fetch_retries=3)
    started = time.monotonic()
    err, _ = fetch_fails(limited, server.route("/busy.mp4", Reply(503, headers={"Retry-After": "20"})))
    assert time.monotonic() - started < 10  # did not wait the 20 s the server asked for
    assert isinstance(err, DownloadFailed) and err.details["limit"] == "deadline"
    assert str(err).startswith(
        "下载超时：下载时限 3 秒内来不及再重试（还要等 20.0 秒），已停止；最后一次失败：服务器出错（HTTP 503"
    )
    assert server.hits["/busy.mp4"] == 1


def test_the_deadline_covers_reading_the_video_page(fast: Settings, internet: FakeInternet) -> None:
    limited = replace(fast, allow_loopback=False, fetch_max_s=0.5, fetch_read_timeout_s=5)
    with LocalHTTPServer() as site:
        base = internet.site("www.xiaohongshu.com", site)
        page = xhs_page(XHS_NOTE, "http://sns-video-bd.xhscdn.com/x.mp4") + b" " * 4096  # 2.6 s at this pace
        site.route(
            f"/explore/{XHS_NOTE}",
            Reply(200, page, {"Content-Type": "text/html"}, chunk=16, chunk_delay_s=0.01),
        )
        err, _ = fetch_fails(limited, f"{base}/explore/{XHS_NOTE}")
    assert isinstance(err, DownloadFailed) and str(err) == "下载超时：超过下载时限 0.5 秒，下载未完成"
