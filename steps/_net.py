"""Safe HTTP downloads: streamed to disk with a size cap, a deadline, a minimum rate and retries.

Connections go through :mod:`steps._guard` (public addresses only, every redirect hop checked, the
site's headers never sent to another origin). Transient failures (network errors, HTTP 5xx, 408,
429) are retried with exponential backoff and jitter by tenacity, honouring ``Retry-After``, and
never past the deadline: a wait that would end after it ends the download instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import tenacity

from ._guard import AddressPolicy, Deadline, make_client, redact, send_following_redirects
from ._logging import get_logger
from ._retry import StopBeforeDeadline, retry_after_s
from ._sniff import HEAD_BYTES
from .errors import (
    DownloadFailed,
    EmptyFile,
    NetworkError,
    RateLimited,
    SourceNotFound,
    TooLarge,
    TransientError,
)

__all__ = [
    "CHUNK",
    "DownloadOptions",
    "Downloaded",
    "HashingWriter",
    "MiB",
    "RateFloor",
    "deadline_error",
    "download",
]

MiB = 1024 * 1024
CHUNK = 256 * 1024
MAX_BACKOFF_S = 30.0
log = get_logger(__name__)


def _amount(count: int) -> str:
    return f"{count / MiB:.1f} MB" if count >= MiB else f"{count / 1024:.1f} KB"


def deadline_error(deadline: Deadline, received: int = 0) -> DownloadFailed:
    """The error for a download that ran out of time: says which limit it was."""
    got = f"（已收到 {_amount(received)}）" if received else ""
    return DownloadFailed(f"下载超时：超过{deadline.limit}，下载未完成{got}", limit="deadline")


class RateFloor:
    """Ends a transfer slower than ``min_bytes_per_s`` over a whole window of ``window_s`` seconds.

    The first window is the grace period of a new transfer; a rate of 0 turns the check off.
    """

    def __init__(self, min_bytes_per_s: float, window_s: float) -> None:
        self.min_bytes_per_s = min_bytes_per_s
        self.window_s = window_s
        self._start = time.monotonic()
        self._bytes = 0

    def add(self, count: int) -> None:
        """Count ``count`` more bytes; raises ``DownloadFailed`` if the window closed too slow."""
        self._bytes += count
        now = time.monotonic()
        elapsed = now - self._start
        if self.min_bytes_per_s <= 0 or elapsed < self.window_s:
            return
        rate = self._bytes / elapsed
        if rate < self.min_bytes_per_s:
            raise DownloadFailed(
                f"下载太慢：最近 {elapsed:.1f} 秒平均 {rate / 1024:.2f} KB/s，"
                f"低于下限 {self.min_bytes_per_s / 1024:g} KB/s",
                limit="min_rate",
            )
        self._start, self._bytes = now, 0


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
            raise TooLarge(f"文件太大：超过 {self.max_bytes / MiB:g} MB 上限（已停止下载）")
        if self.kind is None:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
            if len(self._head) >= HEAD_BYTES:
                self.kind = self.inspect(self._head)
        self.sha.update(chunk)
        self._fh.write(chunk)

    def finish(self) -> tuple[Path, str]:
        """End of stream: check it (empty file, a short file's kind); returns the temp path and kind."""
        if self.size == 0:
            raise EmptyFile("文件是空的（0 字节）")
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
    """How one download behaves; built from Settings, the task's limits and the step's deadline."""

    max_bytes: int
    allow_loopback: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0
    deadline: Deadline = field(default_factory=Deadline)
    min_bytes_per_s: float = 0.0
    rate_window_s: float = 30.0
    headers: Mapping[str, str] | None = None  # the site's headers: sent to its origin only


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


def _check_status(resp: httpx.Response) -> None:
    code = resp.status_code
    if 200 <= code < 300:
        return
    what = f"HTTP {code} {resp.reason_phrase}".strip()
    if code in (404, 410):
        raise SourceNotFound(f"文件不存在：服务器返回 {what}", status=code)
    if code == 429:
        raise _Retry(f"服务器要求放慢请求（{what}）", RateLimited, retry_after_s(resp.headers))
    if code >= 500 or code == 408:
        raise _Retry(f"服务器出错（{what}）", NetworkError, retry_after_s(resp.headers))
    if code in (401, 403):
        raise DownloadFailed(f"服务器拒绝访问（{what}），链接可能已过期", status=code)
    raise DownloadFailed(f"服务器拒绝下载（{what}）", status=code)


def _save(
    resp: httpx.Response, dest_dir: Path, opts: DownloadOptions, inspect: Callable[..., str]
) -> Downloaded:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > opts.max_bytes:
        raise TooLarge(
            f"文件太大：{int(declared) / MiB:.1f} MB，超过 {opts.max_bytes / MiB:g} MB 上限",
            bytes=int(declared),
        )
    content_type = resp.headers.get("content-type")
    floor = RateFloor(opts.min_bytes_per_s, opts.rate_window_s)
    with HashingWriter(dest_dir, opts.max_bytes, lambda head: inspect(head, content_type)) as writer:
        try:
            for chunk in resp.iter_bytes():  # as the network delivers: limits are checked per read
                writer.write(chunk)
                floor.add(len(chunk))
        except httpx.TimeoutException as exc:
            if opts.deadline.expired:
                raise deadline_error(opts.deadline, writer.size) from exc
            raise
        path, kind = writer.finish()
    return Downloaded(path, writer.sha.hexdigest(), writer.size, kind, content_type, str(resp.url))


def _attempt(
    client: httpx.Client, url: str, dest_dir: Path, opts: DownloadOptions, inspect: Callable[..., str]
) -> Downloaded:
    try:
        site_headers = dict(opts.headers or {})
        with contextlib.closing(
            send_following_redirects(client, "GET", url, site_headers=site_headers)
        ) as resp:
            _check_status(resp)
            return _save(resp, dest_dir, opts, inspect)
    except httpx.TimeoutException as exc:
        if opts.deadline.expired:
            raise deadline_error(opts.deadline) from exc
        raise _Retry(f"服务器没有及时响应（{type(exc).__name__}）") from exc
    except httpx.TransportError as exc:
        raise _Retry(f"连接失败（{exc or type(exc).__name__}）") from exc
    except httpx.DecodingError as exc:
        raise DownloadFailed(f"服务器发来的内容无法解码：{exc}") from exc


def _retrying(url: str, opts: DownloadOptions) -> tenacity.Retrying:
    """Retry transient failures: exponential backoff, jitter, ``Retry-After``, never past the deadline."""
    attempts = max(1, opts.retries + 1)
    backoff = tenacity.wait_exponential_jitter(
        multiplier=opts.backoff_s, max=MAX_BACKOFF_S, jitter=opts.backoff_s / 4
    )

    def last(state: tenacity.RetryCallState) -> _Retry:
        assert state.outcome is not None  # called after an attempt
        exc = state.outcome.exception()
        assert isinstance(exc, _Retry)  # only _Retry is retried
        return exc

    def wait(state: tenacity.RetryCallState) -> float:
        return max(backoff(state), min(last(state).after_s, MAX_BACKOFF_S))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        delay = round(state.upcoming_sleep, 3)
        log.warning("fetch.retry", attempt=state.attempt_number, delay_s=delay, reason=last(state).reason)

    def give_up(state: tenacity.RetryCallState) -> None:
        exc = last(state)
        if state.attempt_number < attempts:  # stopped by the deadline
            raise DownloadFailed(
                f"下载超时：{opts.deadline.limit}内来不及再重试（还要等 {state.upcoming_sleep:.1f} 秒），"
                f"已停止；最后一次失败：{exc.reason}",
                limit="deadline",
            ) from exc
        raise exc.error(f"下载失败：{attempts} 次尝试都没有成功，{exc.reason}", url=redact(url)) from exc

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_Retry),
        stop=tenacity.stop_after_attempt(attempts) | StopBeforeDeadline(opts.deadline),
        wait=wait,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
    )


def download(
    url: str,
    dest_dir: Path,
    opts: DownloadOptions,
    inspect: Callable[[bytes, str | None], str],
    client: httpx.Client | None = None,
) -> Downloaded:
    """Download ``url`` into a temp file in ``dest_dir``, retrying transient failures with backoff.

    ``inspect(head, content_type)`` sees the first bytes and returns the container kind or raises.
    Raises ``NetworkError``/``RateLimited`` when every attempt failed for a transient reason, and
    ``DownloadFailed`` when the deadline passed or the transfer was slower than the minimum rate.
    """
    owned = client is None
    client = client or make_client(
        AddressPolicy(opts.allow_loopback), opts.connect_timeout_s, opts.read_timeout_s, opts.deadline
    )
    try:
        result: Downloaded = _retrying(url, opts)(_attempt, client, url, dest_dir, opts, inspect)
        return result
    finally:
        if owned:
            client.close()
