"""Guarded connections: only to public addresses, never past a deadline.

Every TCP connection of a download, and of yt-dlp while it reads a video page, goes through
:class:`GuardedBackend`. It resolves the host itself, refuses the connection when *any* resolved
address is private, loopback, link-local, reserved, multicast, CGNAT or a cloud metadata address
(also when hidden inside IPv4-mapped, 6to4, Teredo or NAT64 IPv6 addresses), and then connects to
the addresses it checked, so DNS cannot answer differently between the check and the connection.
The URL's host still goes into the ``Host`` header and TLS SNI. Every read, write and connect is
also cut short at the transfer's :class:`Deadline`.

:class:`GuardedTransport` is an ``httpx.BaseTransport`` over ``httpcore.ConnectionPool`` with that
backend: httpx's public transport hook, no proxies, no environment.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from ._logging import get_logger
from .errors import BlockedAddress, DownloadFailed, UnsupportedLink

__all__ = [
    "USER_AGENT",
    "AddressPolicy",
    "Deadline",
    "GuardedBackend",
    "GuardedTransport",
    "check_url",
    "make_client",
    "redact",
    "send_following_redirects",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
USER_AGENT = "video-insight/0.1 (+https://github.com/video-insight/video-insight)"
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, Alibaba ECS (also link-local)
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6 metadata
}
MAX_REDIRECTS = 5
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
log = get_logger(__name__)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address tunnelled inside an IPv6 one (6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses a download may connect to: public ones (and loopback in tests)."""

    allow_loopback: bool = False

    def blocked_reason(self, ip: IPAddress) -> str | None:
        """Why ``ip`` is refused (what kind of address it is, in Chinese), or None when it may be used."""
        if ip in _METADATA:
            return "云元数据地址"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            return self.blocked_reason(ip.ipv4_mapped)  # ::ffff:a.b.c.d is plain IPv4 on the wire
        inner = _embedded_ipv4(ip)
        if inner is not None and (reason := self.blocked_reason(inner)):
            return reason
        if ip.is_loopback:
            return None if self.allow_loopback else "回环地址"
        checks = (
            (ip.is_multicast, "组播地址"),
            (ip.is_unspecified, "未指定地址"),
            (ip.is_link_local, "链路本地地址"),
            (ip in _CGNAT, "运营商级 NAT 地址（100.64.0.0/10）"),
            (ip.is_private, "内网地址"),
            (ip.is_reserved or not ip.is_global, "保留地址"),
        )
        return next((why for hit, why in checks if hit), None)

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and check every address; raises ``BlockedAddress`` if any is refused."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"could not resolve host {host!r}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
        for text in addresses:
            reason = self.blocked_reason(ipaddress.ip_address(text))
            if reason:
                raise BlockedAddress(
                    f"拒绝访问：{host} 解析到{reason} {text}，只允许访问公网地址",
                    host=host,
                    address=text,
                )
        return addresses


@dataclass(frozen=True)
class Deadline:
    """When a transfer must be over (a ``time.monotonic()`` value) and which limit set it."""

    at: float | None = None  # None: no limit
    limit: str = ""  # said to the user when the deadline is hit, e.g. "下载时限 600 秒"

    @classmethod
    def after(cls, seconds: float, limit: str) -> Deadline:
        return cls(time.monotonic() + seconds, limit)

    def earliest(self, other: Deadline) -> Deadline:
        """Whichever of the two deadlines comes first."""
        if other.at is None or (self.at is not None and self.at <= other.at):
            return self
        return other

    def remaining(self) -> float | None:
        """Seconds left (negative once passed), or None without a limit."""
        return None if self.at is None else self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def cap(self, timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
        """``timeout`` shortened to the time left; raises ``error`` once the deadline has passed."""
        left = self.remaining()
        if left is None:
            return timeout
        if left <= 0:
            raise error(f"the transfer deadline ({self.limit}) has passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends at the deadline at the latest."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        timeout = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """An httpcore network backend that connects only to addresses the policy allows, until the deadline."""

    def __init__(self, policy: AddressPolicy, deadline: Deadline | None = None) -> None:
        self.policy = policy
        self.deadline = deadline or Deadline()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self.policy.resolve(host, port):
            try:
                limit = self.deadline.cap(timeout, httpcore.ConnectTimeout)
                stream = super().connect_tcp(address, port, limit, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream, self.deadline)
        raise last or httpcore.ConnectError(f"no address to connect to for {host!r}")

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")


# httpcore's errors and the httpx errors they become (the most specific class wins).
_HTTPCORE_TO_HTTPX: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
}


@contextlib.contextmanager
def _map_httpcore_errors() -> Iterator[None]:
    """Re-raise httpcore's errors as the matching httpx ones; anything else passes unchanged."""
    try:
        yield
    except Exception as exc:
        for cls in type(exc).__mro__:
            if cls in _HTTPCORE_TO_HTTPX:
                raise _HTTPCORE_TO_HTTPX[cls](str(exc) or cls.__name__) from exc
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _map_httpcore_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            with _map_httpcore_errors():
                close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool on :class:`GuardedBackend` (no proxies, no environment)."""

    def __init__(self, policy: AddressPolicy, deadline: Deadline | None = None) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy, deadline),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]  # a SyncByteStream: an iterable of bytes
            extensions=request.extensions,
        )
        with _map_httpcore_errors():
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),  # type: ignore[arg-type]  # streamed: an iterable of bytes
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def make_client(
    policy: AddressPolicy,
    connect_timeout_s: float,
    read_timeout_s: float,
    deadline: Deadline | None = None,
) -> httpx.Client:
    """An httpx client that never follows redirects or proxies on its own and connects only via policy."""
    return httpx.Client(
        transport=GuardedTransport(policy, deadline),
        timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


def redact(url: str) -> str:
    """``url`` without credentials, query or fragment: safe to log and to store."""
    try:
        u = httpx.URL(url)
        port = f":{u.port}" if u.port else ""
        return f"{u.scheme}://{u.host}{port}{u.path}"
    except (httpx.InvalidURL, ValueError):
        return "<invalid url>"


def check_url(url: str) -> httpx.URL:
    """Parse ``url``; only absolute http(s) URLs with a host pass (``UnsupportedLink`` otherwise)."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsupportedLink(f"链接无效：{redact(url)}（{exc}）") from exc
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "no scheme"
        raise UnsupportedLink(
            f"不支持的链接：只能下载 http 和 https 链接，不支持 {scheme}：{redact(url)}"
            f"（only http and https links can be downloaded）"
        )
    if not parsed.host:
        raise UnsupportedLink(f"链接没有主机名：{redact(url)}")
    return parsed


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _redirect_method(method: str, status: int) -> str:
    """The method of the request that follows a redirect, as browsers do it."""
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


def send_following_redirects(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    site_headers: dict[str, str] | None = None,
    content: bytes | None = None,
    timeout: httpx.Timeout | None = None,
) -> httpx.Response:
    """Send a request and follow up to ``MAX_REDIRECTS`` redirects by hand; returns the final response.

    The response is streamed: close it. Every hop's URL is checked (:func:`check_url`) and its
    connection guarded by the client's transport. ``headers`` go to every hop; ``site_headers``
    (cookies, referer, tokens a site handed us) only to the origin of ``url``, never to where it
    redirects. Raises ``DownloadFailed`` after too many redirects.
    """
    current = check_url(url)
    origin = _origin(current)
    for _hop in range(MAX_REDIRECTS + 1):
        own = site_headers if _origin(current) == origin else None
        hop_headers = {**(headers or {}), **(own or {})}
        request = client.build_request(
            method, current, headers=hop_headers, content=content, timeout=timeout or client.timeout
        )
        response = client.send(request, stream=True)
        location = response.headers.get("location")
        if not (response.is_redirect and location):
            return response
        response.close()
        try:
            current = check_url(str(response.url.join(location)))
        except httpx.InvalidURL as exc:
            raise UnsupportedLink(f"重定向的链接无效：{redact(location)}（{exc}）") from exc
        log.info("fetch.redirect", status=response.status_code, to=redact(str(current)))
        method = _redirect_method(method, response.status_code)
        content = content if method not in ("GET", "HEAD") else None
    raise DownloadFailed(f"重定向次数过多（超过 {MAX_REDIRECTS} 次）：{redact(url)}")
