"""Files users upload in a chat, streamed to disk through the message-resource API.

lark-oapi reads a whole resource into memory; a video may be 100 MB, so this module sends the same
request with httpx and streams the body into a :class:`~steps._net.HashingWriter` (size cap, sha256,
first-bytes check). The tenant token comes from the SDK's cache; a refused token is dropped and
asked for again once; rate limits, 5xx and network errors are retried a few times from the start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from .._net import CHUNK, HashingWriter
from ..errors import NetworkError, SourceNotFound, TransientError
from ._client import TOKEN_CODES, FeishuClient, error_for

__all__ = ["FetchedFile", "download_resource"]

_NOT_FOUND = frozenset({234003, 230011, 234004})  # not in the message; message withdrawn; no such file


@dataclass(frozen=True)
class FetchedFile:
    """A finished download: the temp file (to be renamed by the caller) and what was checked."""

    temp_path: Path
    kind: str
    sha256: str
    size: int


def _refusal(what: str, resp: httpx.Response) -> Exception | None:
    """The error a JSON answer carries (None for a token Feishu no longer accepts: ask again)."""
    try:
        body = resp.json()
        code, msg = int(body.get("code") or 0), str(body.get("msg") or "")
    except (ValueError, TypeError, AttributeError):
        code, msg = 0, f"HTTP {resp.status_code}"
    if code in TOKEN_CODES:
        return None
    if code in _NOT_FOUND:
        return SourceNotFound(f"{what}失败：飞书消息里找不到这个文件（已撤回或已过期，飞书错误码 {code}）")
    return error_for(what, code or None, msg or f"HTTP {resp.status_code}", resp.status_code)


def _once(feishu: FeishuClient, url: str, kind: str, writer: HashingWriter) -> None:
    what = "下载飞书里的视频"
    for refreshed in (False, True):
        headers = {"Authorization": f"Bearer {feishu.tenant_token()}"}
        try:
            with httpx.stream(
                "GET", url, params={"type": kind}, headers=headers, timeout=feishu.timeout_s
            ) as resp:
                content_type = resp.headers.get("content-type", "")
                if resp.status_code != 200 or content_type.startswith("application/json"):
                    resp.read()
                    error = _refusal(what, resp)
                    if error is None and not refreshed:
                        feishu.drop_token()
                        continue
                    raise error or error_for(what, None, "飞书拒绝了访问令牌", resp.status_code)
                for chunk in resp.iter_bytes(CHUNK):
                    writer.write(chunk)
                return
        except httpx.HTTPError as exc:
            raise NetworkError(f"{what}失败：连不上飞书开放平台（{type(exc).__name__}）") from exc


def download_resource(
    feishu: FeishuClient,
    message_id: str,
    file_key: str,
    directory: Path,
    *,
    max_bytes: int,
    inspect: Callable[[bytes], str],
    kind: str = "file",
    sleep: Callable[[float], None] = time.sleep,
) -> FetchedFile:
    """Stream the file ``file_key`` of message ``message_id`` into a temp file in ``directory``.

    Raises:
        SourceNotFound: the message or the file is gone.
        TooLarge, EmptyFile, NotAVideo: from the writer's checks.
        NetworkError, RateLimited, FeishuError: as for every Feishu call.
    """
    path = f"/open-apis/im/v1/messages/{quote(message_id, safe='')}/resources/{quote(file_key, safe='')}"
    url = feishu.domain + path
    for attempt in range(feishu.retries + 1):
        try:
            with HashingWriter(directory, max_bytes, inspect) as writer:
                _once(feishu, url, kind, writer)
                temp, found = writer.finish()
                return FetchedFile(temp, found, writer.sha.hexdigest(), writer.size)
        except TransientError:
            if attempt == feishu.retries:
                raise
            sleep(feishu.backoff_s * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover
