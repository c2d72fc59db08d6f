"""Safe HTTP downloads: public addresses only, redirects re-checked, streamed to disk with a size cap.

Every TCP connection goes through :class:`GuardedBackend`, which resolves the host itself, refuses
the connection when *any* resolved address is private, loopback, link-local, reserved, multicast,
CGNAT or a cloud metadata address, and then connects to the addresses it checked (so DNS cannot
answer differently between the check and the connection). The URL's host still goes into the
``Host`` header and TLS SNI. Redirects are followed by hand (at most 5), each one a new check.
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import os
import random
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpcore
import httpx

from ._logging import get_logger
from ._sniff import HEAD_BYTES
from .errors import (
    BlockedAddress,
    DownloadFailed,
    EmptyFile,
    NetworkError,
    RateLimited,
    SourceNotFound,
    TooLarge,
    TransientError,
    UnsupportedLink,
)

__all__ = [
    "AddressPolicy",
    "DownloadOptions",
    "Downloaded",
    "GuardedBackend",
    "GuardedTransport",
    "HashingWriter",
    "check_url",
    "download",
    "make_client",
    "redact",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MiB = 1024 * 1024
MAX_REDIRECTS = 5
CHUNK = 256 * 1024
MAX_BACKOFF_S = 30.0
USER_AGENT = "video-insight/0.1 (+https://github.com/video-insight/video-insight)"
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, Alibaba ECS (also link-local)
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6 metadata
}
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
        """Why ``ip`` is refused, or None when it may be used."""
        if ip in _METADATA:
            return "a cloud metadata address"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            return self.blocked_reason(ip.ipv4_mapped)  # ::ffff:a.b.c.d is plain IPv4 on the wire
        inner = _embedded_ipv4(ip)
        if inner is not None and (reason := self.blocked_reason(inner)):
            return reason
        if ip.is_loopback:
            return None if self.allow_loopback else "a loopback address"
        checks = (
            (ip.is_multicast, "a multicast address"),
            (ip.is_unspecified, "an unspecified address"),
            (ip.is_link_local, "a link-local address"),
            (ip in _CGNAT, "a carrier-grade NAT (100.64.0.0/10) address"),
            (ip.is_private, "a private network address"),
            (ip.is_reserved or not ip.is_global, "a reserved address"),
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
                    f"refusing to download from {host}: it resolves to {text}, {reason}; "
                    "only public internet addresses are allowed",
                    host=host,
                    address=text,
                )
        return addresses


class GuardedBackend(httpcore.SyncBackend):
    """An httpcore network backend that connects only to addresses the policy allows."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

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
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address to connect to for {host!r}")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with :class:`GuardedBackend` underneath (no proxies from the environment)."""

    def __init__(self, policy: AddressPolicy) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx has no public hook for the network backend: replace the pool it built with the same
        # pool over the guarded backend. tests/steps/test_fetch.py fails if this stops taking effect.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=10,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy),
        )


def make_client(policy: AddressPolicy, connect_timeout_s: float, read_timeout_s: float) -> httpx.Client:
    """An httpx client that never follows redirects or proxies on its own and connects only via policy."""
    return httpx.Client(
        transport=GuardedTransport(policy),
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


def _origin(url: str) -> tuple[str, str, int | None]:
    u = httpx.URL(url)
    return (u.scheme, u.host, u.port)


def check_url(url: str) -> httpx.URL:
    """Parse ``url``; only absolute http(s) URLs with a host pass (``UnsupportedLink`` otherwise)."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsupportedLink(f"not a valid link: {redact(url)} ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "no scheme"
        raise UnsupportedLink(f"only http and https links can be downloaded, not {scheme}: {redact(url)}")
    if not parsed.host:
        raise UnsupportedLink(f"the link has no host: {redact(url)}")
    return parsed


class HashingWriter:
    """Streams bytes into a temp file in ``directory``: sha256, byte count, size cap, first-bytes check.

    ``inspect(head)`` is called once with the first ``HEAD_BYTES`` (or all of a shorter file) and
    returns a label (the container kind) or raises. On any error the temp file is removed.
    """

    def __init__(self, directory: Path, max_bytes: int, inspect: Callable[[bytes], str]) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.inspect = inspect
        self.sha = hashlib.sha256()
        self.size = 0
        self.kind: str | None = None
        self._head = b""
        self._fh: Any = None
        self.path: Path | None = None

    def __enter__(self) -> HashingWriter:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".download.", suffix=".tmp")
        self._fh = os.fdopen(fd, "wb")
        self.path = Path(name)
        return self

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise TooLarge(
                f"the file is larger than the {self.max_bytes / MiB:g} MB limit (download stopped)"
            )
        if self.kind is None:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
            if len(self._head) >= HEAD_BYTES:
                self.kind = self.inspect(self._head)
        self.sha.update(chunk)
        self._fh.write(chunk)

    def finish(self) -> tuple[Path, str]:
        """End of stream: check it (empty file, a short file's kind); returns the temp path and kind."""
        if self.size == 0:
            raise EmptyFile("the file is empty (0 bytes)")
        if self.kind is None:
            self.kind = self.inspect(self._head)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        assert self.path is not None  # set by __enter__
        return self.path, self.kind

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._fh.closed:
            self._fh.close()
        if et is not None and self.path is not None:
            self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class DownloadOptions:
    """How one download behaves; built from Settings and the task's limits."""

    max_bytes: int
    allow_loopback: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Downloaded:
    """A finished download: a temp file in the target folder, for the caller to rename."""

    temp_path: Path
    sha256: str
    bytes: int
    kind: str
    content_type: str | None
    final_url: str


class _Retry(Exception):
    """A transient failure of one attempt."""

    def __init__(self, reason: str, error: type[TransientError] = NetworkError, after_s: float = 0.0):
        super().__init__(reason)
        self.reason, self.error, self.after_s = reason, error, after_s


def _retry_after(resp: httpx.Response) -> float:
    """Seconds the server asked us to wait (``Retry-After``: seconds or an HTTP date); 0 if none."""
    raw = resp.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(raw or 0))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0


def _check_status(resp: httpx.Response) -> None:
    code = resp.status_code
    if 200 <= code < 300:
        return
    what = f"HTTP {code} {resp.reason_phrase}".strip()
    if code in (404, 410):
        raise SourceNotFound(f"the server says the file does not exist ({what})", status=code)
    if code == 429:
        raise _Retry(f"the server asked to slow down ({what})", RateLimited, _retry_after(resp))
    if code >= 500 or code == 408:
        raise _Retry(f"the server failed ({what})", NetworkError, _retry_after(resp))
    if code in (401, 403):
        raise DownloadFailed(f"the server refused access ({what}); the link may have expired", status=code)
    raise DownloadFailed(f"the server refused the download ({what})", status=code)


def _save(
    resp: httpx.Response, dest_dir: Path, opts: DownloadOptions, inspect: Callable[..., str]
) -> Downloaded:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > opts.max_bytes:
        raise TooLarge(
            f"the file is {int(declared) / MiB:.1f} MB, over the {opts.max_bytes / MiB:g} MB limit",
            bytes=int(declared),
        )
    content_type = resp.headers.get("content-type")
    with HashingWriter(dest_dir, opts.max_bytes, lambda head: inspect(head, content_type)) as writer:
        for chunk in resp.iter_bytes(CHUNK):
            writer.write(chunk)
        path, kind = writer.finish()
    return Downloaded(path, writer.sha.hexdigest(), writer.size, kind, content_type, str(resp.url))


def _attempt(
    client: httpx.Client, url: str, dest_dir: Path, opts: DownloadOptions, inspect: Callable[..., str]
) -> Downloaded:
    current = url
    origin = _origin(url)
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(current)
        # a site's headers (cookies, referer) go to that site only, never to where it redirects
        headers = dict(opts.headers or {}) if _origin(current) == origin else {}
        try:
            with client.stream("GET", current, headers=headers) as resp:
                location = resp.headers.get("location")
                if resp.is_redirect and location:
                    current = str(resp.url.join(location))
                    log.info("fetch.redirect", status=resp.status_code, to=redact(current))
                    continue
                _check_status(resp)
                return _save(resp, dest_dir, opts, inspect)
        except httpx.TimeoutException as exc:
            raise _Retry(f"the server did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retry(f"the connection failed ({exc or type(exc).__name__})") from exc
        except httpx.DecodingError as exc:
            raise DownloadFailed(f"the server sent a body that cannot be decoded: {exc}") from exc
    raise DownloadFailed(f"too many redirects (more than {MAX_REDIRECTS}) from {redact(url)}")


def download(
    url: str,
    dest_dir: Path,
    opts: DownloadOptions,
    inspect: Callable[[bytes, str | None], str],
    client: httpx.Client | None = None,
) -> Downloaded:
    """Download ``url`` into a temp file in ``dest_dir``, retrying transient failures with backoff.

    ``inspect(head, content_type)`` sees the first bytes and returns the container kind or raises.
    Raises ``NetworkError``/``RateLimited`` when every attempt failed for a transient reason.
    """
    attempts = max(1, opts.retries + 1)
    owned = client is None
    client = client or make_client(
        AddressPolicy(opts.allow_loopback), opts.connect_timeout_s, opts.read_timeout_s
    )
    attempt = 1
    try:
        while True:
            try:
                return _attempt(client, url, dest_dir, opts, inspect)
            except _Retry as exc:
                if attempt >= attempts:
                    raise exc.error(
                        f"download failed after {attempts} attempts: {exc.reason}", url=redact(url)
                    ) from exc
                delay = min(MAX_BACKOFF_S, opts.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
                delay = max(delay, min(exc.after_s, MAX_BACKOFF_S))
                log.warning("fetch.retry", attempt=attempt, delay_s=round(delay, 3), reason=exc.reason)
                time.sleep(delay)
                attempt += 1
    finally:
        if owned:
            client.close()
