"""yt-dlp's requests go through the guarded client (steps/_ytdlp.py), driven through yt-dlp's own urlopen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from yt_dlp.networking import Request
from yt_dlp.networking.exceptions import HTTPError, TransportError

from steps import _ytdlp
from steps._guard import AddressPolicy, Deadline
from steps._ytdlp import GuardedYoutubeDL, GuardRefused
from steps.errors import BlockedAddress, TooLarge
from tests.httpserver import FakeInternet, LocalHTTPServer, Reply


@pytest.fixture(autouse=True)
def internet(monkeypatch: pytest.MonkeyPatch) -> FakeInternet:
    return FakeInternet().install(monkeypatch)


@pytest.fixture
def ydl() -> Iterator[GuardedYoutubeDL]:
    params = {"quiet": True, "no_warnings": True, "proxy": "", "cachedir": False}
    with GuardedYoutubeDL(params, policy=AddressPolicy(), deadline=Deadline.after(30, "测试时限")) as y:
        yield y


def test_page_request_goes_through_the_guard(ydl: GuardedYoutubeDL, internet: FakeInternet) -> None:
    with LocalHTTPServer() as site:
        base = internet.site("www.bilibili.com", site)
        site.file("/video/BV1", b"<html>page</html>", "text/html")
        with ydl.urlopen(
            Request(f"{base}/video/BV1", headers={"Referer": "https://www.bilibili.com/"})
        ) as resp:
            assert resp.read() == b"<html>page</html>" and resp.status == 200
        (seen,) = site.requests["/video/BV1"]
    assert seen.headers["referer"] == "https://www.bilibili.com/"
    assert seen.headers["user-agent"].startswith("Mozilla/")  # yt-dlp's own headers still apply


def test_redirect_to_loopback_is_refused_before_connecting(
    ydl: GuardedYoutubeDL, internet: FakeInternet
) -> None:
    with LocalHTTPServer() as site, LocalHTTPServer() as inside:
        base = internet.site("www.bilibili.com", site)
        site.redirect("/video/BV1", inside.url("/admin"))
        with pytest.raises(GuardRefused) as info:
            ydl.urlopen(f"{base}/video/BV1")
        assert inside.hits["/admin"] == 0
    assert isinstance(info.value.error, BlockedAddress)
    assert not internet.tried("127.0.0.1")


def test_request_headers_stay_with_their_origin(ydl: GuardedYoutubeDL, internet: FakeInternet) -> None:
    with LocalHTTPServer() as site, LocalHTTPServer() as cdn:
        base = internet.site("api.bilibili.com", site)
        other = internet.site("upos.example-cdn.net", cdn, address="93.184.215.30")
        site.redirect("/x/playurl", f"{other}/v.json")
        cdn.file("/v.json", b"{}", "application/json")
        headers = {"Referer": "https://www.bilibili.com/", "Authorization": "Bearer t0ken"}
        with ydl.urlopen(Request(f"{base}/x/playurl", headers=headers)) as resp:
            assert resp.read() == b"{}"
        (first,) = site.requests["/x/playurl"]
        (then,) = cdn.requests["/v.json"]
    assert first.headers["authorization"] == "Bearer t0ken"
    assert "authorization" not in then.headers and "referer" not in then.headers
    assert then.headers["user-agent"] == first.headers["user-agent"]  # yt-dlp's defaults go everywhere


def test_cookies_live_in_ytdlp_jar(ydl: GuardedYoutubeDL, internet: FakeInternet) -> None:
    with LocalHTTPServer() as site:
        base = internet.site("www.bilibili.com", site)
        site.route("/login", Reply(200, b"ok", {"Set-Cookie": "SESSDATA=abc; Path=/"}))
        site.file("/video/BV1", b"page", "text/html")
        ydl.urlopen(f"{base}/login").read()
        ydl.urlopen(f"{base}/video/BV1").read()
        (seen,) = site.requests["/video/BV1"]
    assert seen.headers["cookie"] == "SESSDATA=abc"
    assert [c.name for c in ydl.cookiejar] == ["SESSDATA"]


def test_error_status_reaches_ytdlp_with_its_body(ydl: GuardedYoutubeDL, internet: FakeInternet) -> None:
    with LocalHTTPServer() as site:
        base = internet.site("www.bilibili.com", site)
        site.route("/gone", Reply(404, b'{"code": -404}'))
        with pytest.raises(HTTPError) as info:
            ydl.urlopen(f"{base}/gone")
    assert info.value.status == 404 and info.value.response.read() == b'{"code": -404}'


def test_page_size_is_capped(internet: FakeInternet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ytdlp, "MAX_PAGE_BYTES", 64 * 1024)
    params = {"quiet": True, "no_warnings": True, "proxy": ""}
    with (
        LocalHTTPServer() as site,
        GuardedYoutubeDL(params, policy=AddressPolicy(), deadline=Deadline()) as small,
    ):
        base = internet.site("www.bilibili.com", site)
        site.file("/huge", b"x" * (200 * 1024), "text/html", content_length=False, chunk=8 * 1024)
        with pytest.raises(TransportError) as info:  # yt-dlp wraps what its response raises
            small.urlopen(f"{base}/huge").read()
    assert isinstance(info.value.__cause__, TooLarge) and "视频页面太大" in str(info.value.__cause__)
