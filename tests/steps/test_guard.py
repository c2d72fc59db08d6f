"""The address guard and the hand-followed redirects under every download (steps/_guard.py)."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from steps._guard import AddressPolicy, Deadline, GuardedTransport, make_client, send_following_redirects
from steps._net import DownloadOptions, download
from steps._sniff import sniff
from steps.errors import BlockedAddress, UnsupportedLink
from tests.httpserver import FakeInternet, LocalHTTPServer

# A tiny MPEG-TS packet run: enough for the sniffer to call it a video.
TS = b"".join(b"\x47" + bytes(187) for _ in range(8))


@pytest.fixture(autouse=True)
def internet(monkeypatch: pytest.MonkeyPatch) -> FakeInternet:
    return FakeInternet().install(monkeypatch)


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as srv:
        yield srv


def get(url: str, dest: Path, *, loopback: bool = False, **options: object) -> Path:
    opts = DownloadOptions(max_bytes=10**6, allow_loopback=loopback, retries=0, **options)  # type: ignore[arg-type]
    return download(url, dest, opts, sniff).temp_path


# --- which addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.1.1", "100.64.0.1", "224.0.0.1",
     "255.255.255.255", "::", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "2002:a00:1::1", "64:ff9b::a00:1",
     "2001:0:4136:e378:8000:63bf:80ff:fffe", "192.0.2.1", "240.0.0.1"],
)  # fmt: skip
def test_policy_refuses_internal_addresses(address: str) -> None:
    assert AddressPolicy().blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_policy_allows_public_addresses(address: str) -> None:
    assert AddressPolicy().blocked_reason(ipaddress.ip_address(address)) is None


def test_allow_loopback_allows_loopback_only() -> None:
    policy = AddressPolicy(allow_loopback=True)
    assert policy.blocked_reason(ipaddress.ip_address("127.0.0.2")) is None
    assert policy.blocked_reason(ipaddress.ip_address("::1")) is None
    assert policy.blocked_reason(ipaddress.ip_address("10.0.0.1")) is not None
    assert policy.blocked_reason(ipaddress.ip_address("169.254.169.254")) is not None


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # decimal 127.0.0.1
        "0x7f000001",  # hex
        "127.1",  # short form
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
        "[::ffff:7f00:1]",
        "www.youtube.com@127.0.0.1",  # userinfo that looks like a host
        "localhost",
    ],
)
def test_every_spelling_of_loopback_is_refused_before_connecting(
    tmp_path: Path, server: LocalHTTPServer, internet: FakeInternet, host: str
) -> None:
    server.file("/clip.ts", TS)
    with pytest.raises(BlockedAddress, match="回环地址"):
        get(f"http://{host}:{server.port}/clip.ts", tmp_path)
    assert server.hits["/clip.ts"] == 0 and internet.attempts == []
    assert list(tmp_path.iterdir()) == []


def test_octal_spelling_is_not_even_parsed(
    tmp_path: Path, server: LocalHTTPServer, internet: FakeInternet
) -> None:
    with pytest.raises(UnsupportedLink, match="链接无效"):
        get(f"http://0177.0.0.1:{server.port}/clip.ts", tmp_path)
    assert internet.attempts == []


@pytest.mark.parametrize(
    "host",
    ["[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::1]", "[::ffff:169.254.169.254]", "169.254.169.254"],
)
def test_metadata_address_hidden_in_ipv6_is_refused(
    tmp_path: Path, internet: FakeInternet, host: str
) -> None:
    with pytest.raises(BlockedAddress, match="云元数据地址"):
        get(f"http://{host}/latest/meta-data/", tmp_path, loopback=True)
    assert internet.attempts == []


def test_a_name_is_resolved_once_and_connected_to_as_checked(
    tmp_path: Path, server: LocalHTTPServer, internet: FakeInternet
) -> None:
    # DNS rebinding: the first answer is public, every later one internal. The guard connects to the
    # address it checked, so the second answer is never used.
    server.file("/clip.ts", TS)
    internet.site("cdn.example.net", server, address="93.184.215.20")
    internet.dns("cdn.example.net", "93.184.215.20", "10.9.8.7")
    get("http://cdn.example.net/clip.ts", tmp_path)
    assert internet.attempts == [("93.184.215.20", 80)]
    with pytest.raises(BlockedAddress, match=re.escape("cdn.example.net 解析到内网地址 10.9.8.7")):
        get("http://cdn.example.net/clip.ts", tmp_path)  # the next lookup answers inside: refused
    assert not internet.tried("10.9.8.7")


# --- redirects, hop by hop ------------------------------------------------------------------------


def test_a_redirect_into_the_network_is_refused(
    tmp_path: Path, server: LocalHTTPServer, internet: FakeInternet
) -> None:
    internet.dns("intranet.corp.example", "10.20.30.40")
    base = internet.site("videos.example.com", server)
    server.redirect("/go", "http://intranet.corp.example/admin")
    with pytest.raises(BlockedAddress, match=re.escape("intranet.corp.example 解析到内网地址 10.20.30.40")):
        get(f"{base}/go", tmp_path)
    assert server.hits["/go"] == 1 and not internet.tried("10.20.30.40")


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "gopher://example.com/x", "ftp://example.com/a.mp4"]
)
def test_a_redirect_to_another_scheme_is_refused(
    tmp_path: Path, server: LocalHTTPServer, location: str
) -> None:
    server.redirect("/go", location)
    with pytest.raises(UnsupportedLink, match="只能下载 http 和 https 链接"):
        get(server.url("/go"), tmp_path, loopback=True)


def test_site_headers_go_to_the_site_only_never_across_a_redirect(tmp_path: Path) -> None:
    # The headers a site hands us with a media URL (cookies, referer) must not reach another origin.
    secrets = {"Cookie": "session=s3cret", "Referer": "https://site.example/watch", "X-Token": "t0ken"}
    with LocalHTTPServer() as site, LocalHTTPServer() as elsewhere:
        elsewhere.file("/clip.ts", TS)
        site.redirect("/same", "/media")  # same origin: headers still belong here
        site.redirect("/media", elsewhere.url("/clip.ts"))  # another port is another origin
        get(site.url("/same"), tmp_path, loopback=True, headers=secrets)
        for hop in ("/same", "/media"):
            (seen,) = site.requests[hop]
            assert {k: seen.headers.get(k.lower()) for k in secrets} == secrets
        (seen,) = elsewhere.requests["/clip.ts"]
    assert not {k.lower() for k in secrets} & set(seen.headers)
    assert seen.headers["user-agent"].startswith("video-insight/")


@pytest.mark.parametrize(
    ("status", "method", "body"), [(303, "GET", b""), (302, "GET", b""), (307, "POST", b"a=1")]
)
def test_redirect_changes_method_as_browsers_do(
    server: LocalHTTPServer, status: int, method: str, body: bytes
) -> None:
    server.redirect("/post", "/after", status)
    server.file("/after", b"done", "text/plain")
    with make_client(AddressPolicy(allow_loopback=True), 2, 2) as client:
        sent = send_following_redirects(client, "POST", server.url("/post"), content=b"a=1")
        with contextlib.closing(sent) as resp:
            assert resp.read() == b"done"
    (first,) = server.requests["/post"]
    (then,) = server.requests["/after"]
    assert (first.method, first.body) == ("POST", b"a=1") and (then.method, then.body) == (method, body)


# --- the transport ----------------------------------------------------------------------------------


def test_transport_maps_connection_errors_to_httpx() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = GuardedTransport(AddressPolicy(allow_loopback=True))
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/")


def test_transport_stops_at_the_deadline(server: LocalHTTPServer) -> None:
    server.file("/slow", b"x" * 100, "text/plain", delay_s=5.0)
    transport = GuardedTransport(AddressPolicy(allow_loopback=True), Deadline.after(0.2, "测试时限"))
    # Without the deadline the answer would come after 5 s, well within the client's 30 s timeout.
    with httpx.Client(transport=transport, timeout=30) as client, pytest.raises(httpx.ReadTimeout):
        client.get(server.url("/slow"))
