"""Fetch: bring one video into its workspace folder as ``source.<ext>`` and write ``fetch.json``.

Sources: a direct http(s) link (streamed to disk through :mod:`steps._net`: public addresses only,
size cap, retries), a page of a video site (resolved to a media URL by yt-dlp, then the same safe
download), or an absolute local path (CLI). The first bytes are sniffed: an HTML page or an image
served as ``.mp4`` is a ``NotAVideo`` error that says what the content really is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore

from ._artifacts import FetchRecord, load_artifact, save_artifact
from ._logging import get_logger
from ._manifest import Manifest, VideoEntry, load_manifest
from ._net import CHUNK, AddressPolicy, DownloadOptions, HashingWriter, MiB, check_url, download, redact
from ._runtime import StepContext, VideoRef, step
from ._settings import Settings
from ._sniff import sniff
from .errors import (
    DownloadFailed,
    EmptyFile,
    SourceNotFound,
    TooLarge,
    UnsupportedLink,
)

__all__ = ["VIDEO_SITES", "YTDLP_EXTRACTORS", "handler", "run", "sniff", "video_site"]

log = get_logger(__name__)
_PORTS = {"http": 80, "https": 443}

# Hosts (and their subdomains) whose links are pages, not files: resolved through yt-dlp.
# Only the real site extractors: the generic one follows arbitrary pages and redirects with yt-dlp's
# own HTTP client, which the address guard does not cover.
YTDLP_EXTRACTORS = ("default", "-generic")
VIDEO_SITES = {
    "bilibili.com": "Bilibili",
    "b23.tv": "Bilibili",
    "youtube.com": "YouTube",
    "youtu.be": "YouTube",
    "douyin.com": "Douyin",
    "iesdouyin.com": "Douyin",
    "tiktok.com": "TikTok",
    "kuaishou.com": "Kuaishou",
    "ixigua.com": "Xigua Video",
    "v.qq.com": "Tencent Video",
    "weibo.com": "Weibo",
    "xiaohongshu.com": "Xiaohongshu",
    "xhslink.com": "Xiaohongshu",
    "vimeo.com": "Vimeo",
    "x.com": "X",
    "twitter.com": "X",
}


def video_site(host: str) -> str | None:
    """The video site ``host`` belongs to (``www.bilibili.com`` → ``Bilibili``), if it is one."""
    host = host.lower().rstrip(".")
    return next((name for d, name in VIDEO_SITES.items() if host == d or host.endswith("." + d)), None)


class _YtdlpLog:
    """Routes yt-dlp's own messages to our debug log instead of stderr."""

    def debug(self, msg: str) -> None:
        log.debug("ytdlp.message", message=msg[:500])

    info = warning = error = debug


@contextlib.contextmanager
def map_ytdlp_errors(site: str) -> Iterator[None]:
    """Turn any yt-dlp failure into a clear ``UnsupportedLink``."""
    from yt_dlp.utils import YoutubeDLError

    try:
        yield
    except (YoutubeDLError, OSError, ValueError, KeyError) as exc:
        reason = str(exc).replace("ERROR: ", "").strip() or type(exc).__name__
        reason = re.sub(r"https?://\S+", lambda m: redact(m.group(0)), reason)  # no tokens in messages
        raise UnsupportedLink(f"could not resolve this {site} page to a video: {reason[:300]}") from exc


@dataclass(frozen=True)
class Resolved:
    """A direct media URL and the headers the site wants sent with it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


def resolve_page(url: str, site: str, settings: Settings) -> Resolved:
    """Ask yt-dlp for a single-file http(s) media URL behind a video-site page."""
    import yt_dlp

    opts: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "skip_download": True,
        "cachedir": False,
        "socket_timeout": settings.fetch_connect_timeout_s,
        "retries": 0,
        "extractor_retries": 0,
        "format": "best[protocol=https]/best[protocol=http]",
        "allowed_extractors": list(YTDLP_EXTRACTORS),
        "logger": _YtdlpLog(),
    }
    with map_ytdlp_errors(site), yt_dlp.YoutubeDL(opts) as ydl:
        info = ydl.extract_info(url, download=False)
    if not isinstance(info, dict) or info.get("_type") == "playlist" or not info.get("url"):
        raise UnsupportedLink(f"could not resolve this {site} page to a single video file")
    headers = {str(k): str(v) for k, v in (info.get("http_headers") or {}).items()}
    return Resolved(str(info["url"]), headers)


def _fetch_local(entry: VideoEntry, vdir: Path, manifest: Manifest) -> FetchRecord:
    """Copy a local file into the video folder after the same checks as a download."""
    path = Path(str(entry.path))
    max_bytes = int(manifest.options.limits.max_video_mb * MiB)
    if not path.exists():
        raise SourceNotFound(f"no such file: {path}")
    if not path.is_file():
        raise SourceNotFound(f"not a file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise EmptyFile(f"the file is empty (0 bytes): {path}")
    if size > max_bytes:
        raise TooLarge(f"the file is {size / MiB:.1f} MB, over the {max_bytes / MiB:g} MB limit", bytes=size)
    try:
        with (
            open(path, "rb") as src,
            HashingWriter(vdir, max_bytes, lambda h: sniff(h, what=path.name)) as writer,
        ):
            for chunk in iter(lambda: src.read(CHUNK), b""):
                writer.write(chunk)
            temp, kind = writer.finish()
    except PermissionError as exc:
        raise DownloadFailed(f"cannot read {path}: permission denied") from exc
    name = _store(temp, vdir, kind)
    return FetchRecord(source=entry.source, path=name, sha256=writer.sha.hexdigest(), bytes=writer.size)


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            sha.update(chunk)
    return sha.hexdigest()


def _reusable(vdir: Path, entry: VideoEntry) -> FetchRecord | None:
    """The earlier fetch of this source, if its file is intact (size and sha256 match)."""
    rec = load_artifact(vdir, FetchRecord)
    if rec is None or rec.source != entry.source:
        return None
    stored = vdir / rec.path
    if stored.is_file() and stored.stat().st_size == rec.bytes and _sha256_file(stored) == rec.sha256:
        return rec
    return None


def _store(temp: Path, vdir: Path, kind: str) -> str:
    """Move the finished temp file to ``source.<kind>``, removing sources of earlier fetches."""
    name = f"source.{kind}"
    for old in vdir.glob("source.*"):
        if old.name != name:
            old.unlink(missing_ok=True)
    os.replace(temp, vdir / name)
    return name


def _fetch_url(entry: VideoEntry, vdir: Path, manifest: Manifest, settings: Settings) -> FetchRecord:
    url = str(entry.url)
    parsed = check_url(url)
    opts = DownloadOptions(
        max_bytes=int(manifest.options.limits.max_video_mb * MiB),
        allow_loopback=settings.allow_loopback,
        connect_timeout_s=settings.fetch_connect_timeout_s,
        read_timeout_s=settings.fetch_read_timeout_s,
        retries=settings.fetch_retries,
        backoff_s=settings.fetch_backoff_s,
    )
    target = url
    site = video_site(parsed.host)
    if site is not None:
        try:  # yt-dlp connects on its own: refuse a page host that resolves to an internal address
            AddressPolicy(settings.allow_loopback).resolve(parsed.host, parsed.port or _PORTS[parsed.scheme])
        except httpcore.ConnectError as exc:
            raise UnsupportedLink(f"could not resolve this {site} page to a video: {exc}") from exc
        resolved = resolve_page(url, site, settings)
        target = resolved.url
        opts = dataclasses.replace(opts, headers=resolved.headers)
        log.info("fetch.page_resolved", site=site, media=redact(target))
    got = download(target, vdir, opts, sniff)
    path = _store(got.temp_path, vdir, got.kind)
    return FetchRecord(
        source=entry.source,
        path=path,
        sha256=got.sha256,
        bytes=got.bytes,
        content_type=got.content_type,
        resolved_url=redact(got.final_url),
    )


def run(inp: VideoRef, ctx: StepContext) -> VideoRef:
    """Fetch the video ``inp.video_id`` of task ``inp.task_id`` into its folder (idempotent)."""
    ws = ctx.workspace(inp.task_id)
    manifest = load_manifest(ws)
    entry = manifest.video(inp.video_id)
    vdir = ws.video_dir(inp.video_id)
    if (done := _reusable(vdir, entry)) is not None:
        log.info("fetch.reused", path=done.path, bytes=done.bytes)
        return inp
    if entry.url is not None:
        record = _fetch_url(entry, vdir, manifest, ctx.settings)
    elif ctx.settings.allow_local_paths:
        record = _fetch_local(entry, vdir, manifest)
    else:
        raise UnsupportedLink("local files are accepted only by the command line; send a link instead")
    save_artifact(vdir, record)
    log.info("fetch.stored", path=record.path, bytes=record.bytes, kind=record.path.rsplit(".", 1)[-1])
    return inp


handler = step("fetch", VideoRef, stage="fetch")(run)
