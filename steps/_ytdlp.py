"""yt-dlp on a leash: it reads video pages only through the guarded client, and never downloads.

Left alone, yt-dlp opens its own connections (requests or urllib), resolves DNS and follows
redirects by itself, so a video page that answers ``302 Location: http://127.0.0.1/…`` would make
the process call into its own network. :class:`GuardedYoutubeDL` gives yt-dlp exactly one request
handler, :class:`GuardedRH`, which sends every request (page, API call, each redirect hop) through
:mod:`steps._guard`: the same address checks, deadline and size cap as a download. yt-dlp only
extracts the media URL; :func:`steps._net.download` fetches the file.

Importing this module imports yt-dlp (slow): import it where a page is resolved.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import yt_dlp
from yt_dlp.networking.common import RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, RequestError, TransportError
from yt_dlp.utils import YoutubeDLError

from ._guard import AddressPolicy, Deadline, make_client, redact, send_following_redirects
from ._logging import get_logger
from ._net import MiB, deadline_error
from .errors import TooLarge, UnsupportedLink, VideoInsightError

__all__ = [
    "MAX_PAGE_BYTES",
    "GuardRefused",
    "GuardedRH",
    "GuardedYoutubeDL",
    "Resolved",
    "map_ytdlp_errors",
    "resolve_page",
]

MAX_PAGE_BYTES = 32 * MiB  # a page, an API answer or a player script; never a video
log = get_logger(__name__)


class GuardRefused(TransportError):
    """Our guard refused a request of yt-dlp (blocked address, too large, too many redirects)."""

    def __init__(self, error: VideoInsightError) -> None:
        super().__init__(str(error), cause=error)
        self.error = error


class _Body(io.RawIOBase):
    """An httpx response body as the file yt-dlp reads, cut off after ``limit`` bytes."""

    def __init__(self, response: httpx.Response, limit: int) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_bytes()
        self._pending = b""
        self._left = limit
        self._limit = limit

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return super().read(-1 if size is None else size) or b""  # yt-dlp reads "all" as read(None)

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._response.close()
                return 0
            self._left -= len(chunk)
            if self._left < 0:
                raise TooLarge(f"视频页面太大：超过 {self._limit / MiB:g} MB（已停止读取）")
            self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        self._response.close()
        super().close()


class _PageResponse(Response):  # type: ignore[misc]  # yt-dlp is untyped
    def __init__(self, response: httpx.Response, limit: int) -> None:
        body = _Body(response, limit)
        reason = response.reason_phrase or None
        super().__init__(
            fp=body, url=str(response.url), headers={}, status=response.status_code, reason=reason
        )
        for name, value in response.headers.multi_items():  # repeated headers (Set-Cookie) stay apart
            self.headers.add_header(name, value)


class GuardedRH(RequestHandler):  # type: ignore[misc]  # yt-dlp is untyped
    """A yt-dlp request handler that sends every request through our guarded httpx client.

    Redirects are followed by hand (each hop checked); a request's own headers go only to its
    origin; cookies live in yt-dlp's jar. No proxies, no impersonation, no legacy TLS.
    """

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()
    _SUPPORTED_FEATURES = ()
    RH_NAME = "video-insight"

    def __init__(self, *, policy: AddressPolicy, deadline: Deadline, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_bytes = max_bytes
        self._client = make_client(policy, self.timeout, self.timeout, deadline)
        self._client.cookies = self.cookiejar  # wraps yt-dlp's jar: one place for cookies

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        extensions.pop("timeout", None)
        extensions.pop("keep_header_casing", None)  # httpx sends header names as given
        if extensions.get("cookiejar") in (None, self.cookiejar):
            extensions.pop("cookiejar", None)  # another jar stays in: unsupported

    def _send(self, request: Any) -> Response:
        data = request.data
        if data is not None and not isinstance(data, bytes):
            data = data.read() if hasattr(data, "read") else b"".join(data)
        try:
            response = send_following_redirects(
                self._client,
                request.method,
                request.url,
                headers=dict(self.headers),
                site_headers=dict(request.headers),
                content=data,
                timeout=httpx.Timeout(self._calculate_timeout(request)),
            )
        except VideoInsightError as exc:
            raise GuardRefused(exc) from exc
        except httpx.TransportError as exc:
            raise TransportError(cause=exc) from exc
        except httpx.HTTPError as exc:
            raise RequestError(cause=exc) from exc
        page = _PageResponse(response, self._max_bytes)
        if not 200 <= page.status < 300:
            raise HTTPError(page)
        return page

    def close(self) -> None:
        self._client.close()


class GuardedYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]  # yt-dlp is untyped
    """A ``YoutubeDL`` whose only request handler is :class:`GuardedRH`."""

    def __init__(self, params: dict[str, Any], *, policy: AddressPolicy, deadline: Deadline) -> None:
        self._guarded_rh = functools.partial(
            GuardedRH, policy=policy, deadline=deadline, max_bytes=MAX_PAGE_BYTES
        )
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        """yt-dlp's seam for its request handlers: ours replaces all of them (requests, urllib, …)."""
        return super().build_request_director([self._guarded_rh], [])


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything that led to it, through Python's and yt-dlp's ways of chaining."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        nested = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        todo += [current.__cause__, current.__context__, getattr(current, "cause", None), nested]


class _YtdlpLog:
    """Routes yt-dlp's own messages to our debug log instead of stderr."""

    def debug(self, msg: str) -> None:
        log.debug("ytdlp.message", message=msg[:500])

    info = warning = error = debug


@contextlib.contextmanager
def map_ytdlp_errors(site: str, deadline: Deadline) -> Iterator[None]:
    """Turn a yt-dlp failure into our error: the guard's own, the deadline's, or ``UnsupportedLink``."""
    try:
        yield
    except (YoutubeDLError, OSError, ValueError, KeyError) as exc:
        ours = next((e for e in _causes(exc) if isinstance(e, VideoInsightError)), None)
        if ours is not None:
            raise ours from None  # already chained to what yt-dlp made of it
        if deadline.expired:
            raise deadline_error(deadline) from exc
        reason = str(exc).replace("ERROR: ", "").strip() or type(exc).__name__
        reason = re.sub(r"https?://\S+", lambda m: redact(m.group(0)), reason)  # no tokens in messages
        raise UnsupportedLink(f"无法从这个 {site} 页面解析出视频：{reason[:300]}") from exc


@dataclass(frozen=True)
class Resolved:
    """A direct media URL and the headers the site wants sent with it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


def resolve_page(
    url: str,
    site: str,
    *,
    policy: AddressPolicy,
    deadline: Deadline,
    timeout_s: float,
    extractors: Sequence[str],
) -> Resolved:
    """Ask yt-dlp (only the ``extractors`` allowed) for a single-file http(s) media URL behind a page."""
    opts: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "skip_download": True,
        "cachedir": False,
        "proxy": "",  # no proxy from the environment: our handler connects directly, guarded
        "socket_timeout": timeout_s,
        "retries": 0,
        "extractor_retries": 0,
        "format": "best[protocol=https]/best[protocol=http]",
        "allowed_extractors": list(extractors),
        "logger": _YtdlpLog(),
    }
    with map_ytdlp_errors(site, deadline), GuardedYoutubeDL(opts, policy=policy, deadline=deadline) as ydl:
        info = ydl.extract_info(url, download=False)
    if not isinstance(info, dict) or info.get("_type") == "playlist" or not info.get("url"):
        raise UnsupportedLink(f"无法从这个 {site} 页面解析出单个视频文件")
    headers = {str(k): str(v) for k, v in (info.get("http_headers") or {}).items()}
    return Resolved(str(info["url"]), headers)
