"""Fetch: bring one video into its workspace folder as ``source.<ext>`` and write ``fetch.json``.

Sources: a file uploaded in a Feishu chat (streamed through the message-resource API), a file
attached to a Bitable row (streamed from the drive media API with the app's token, the same caps), a
direct http(s) link (streamed to disk through :mod:`steps._net`: public addresses only, size cap,
deadline, minimum rate, retries), a page of a video site (resolved to a media URL by yt-dlp, whose
every request passes the same guard, then the same safe download), or an absolute local path (CLI).
The first bytes are sniffed: an HTML page or an image served as ``.mp4`` is a ``NotAVideo`` error
that says what the content really is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from pathlib import Path

from ._artifacts import FetchRecord, load_artifact, save_artifact
from ._guard import AddressPolicy, Deadline, check_url, redact
from ._logging import get_logger
from ._manifest import Manifest, VideoEntry, load_manifest
from ._net import CHUNK, DownloadOptions, HashingWriter, MiB, download
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
STEP_MARGIN_S = 10.0  # stop this long before the step's own deadline, to record the failure

# Hosts (and their subdomains) whose links are pages, not files: resolved through yt-dlp, with only
# the real site extractors. The generic one would turn any page into a crawl of whatever it embeds.
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


def _deadline(settings: Settings, step_deadline: float | None) -> Deadline:
    """When this fetch must be over: ``fetch_max_s`` from now, or before the step's deadline if sooner."""
    own = Deadline()
    if settings.fetch_max_s > 0:
        own = Deadline.after(settings.fetch_max_s, f"下载时限 {settings.fetch_max_s:g} 秒")
    if step_deadline is None:
        return own
    margin = min(STEP_MARGIN_S, 0.1 * max(0.0, step_deadline - time.monotonic()))
    return own.earliest(Deadline(step_deadline - margin, "本步骤（Fetch）的时限"))


def _fetch_local(entry: VideoEntry, vdir: Path, manifest: Manifest) -> FetchRecord:
    """Copy a local file into the video folder after the same checks as a download."""
    path = Path(str(entry.path))
    max_bytes = int(manifest.options.limits.max_video_mb * MiB)
    if not path.exists():
        raise SourceNotFound(f"文件不存在：{path}")
    if not path.is_file():
        raise SourceNotFound(f"不是文件：{path}")
    size = path.stat().st_size
    if size == 0:
        raise EmptyFile(f"文件是空的（0 字节）：{path}")
    if size > max_bytes:
        raise TooLarge(f"文件太大：{size / MiB:.1f} MB，超过 {max_bytes / MiB:g} MB 上限", bytes=size)
    try:
        with (
            open(path, "rb") as src,
            HashingWriter(vdir, max_bytes, lambda h: sniff(h, what=path.name)) as writer,
        ):
            for chunk in iter(lambda: src.read(CHUNK), b""):
                writer.write(chunk)
            temp, kind = writer.finish()
    except PermissionError as exc:
        raise DownloadFailed(f"无法读取 {path}：没有权限") from exc
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


def _fetch_url(entry: VideoEntry, vdir: Path, manifest: Manifest, ctx: StepContext) -> FetchRecord:
    url = str(entry.url)
    parsed = check_url(url)
    settings = ctx.settings
    opts = _download_options(ctx, int(manifest.options.limits.max_video_mb * MiB))
    target = url
    site = video_site(parsed.host)
    if site is not None:
        from ._ytdlp import resolve_page  # imports yt-dlp: only when a page needs it

        resolved = resolve_page(
            url,
            site,
            policy=AddressPolicy(settings.allow_loopback),
            deadline=opts.deadline,
            timeout_s=settings.fetch_connect_timeout_s,
            extractors=YTDLP_EXTRACTORS,
        )
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


def _fetch_feishu(entry: VideoEntry, vdir: Path, manifest: Manifest, ctx: StepContext) -> FetchRecord:
    """A video uploaded in a Feishu chat, streamed through the message-resource API."""
    from ._feishu import FeishuClient, download_resource  # lark-oapi: only for uploaded files

    assert entry.feishu_file is not None
    feishu = FeishuClient(
        ctx.settings, timeout_s=ctx.settings.fetch_read_timeout_s, retries=ctx.settings.fetch_retries
    )
    got = download_resource(
        feishu,
        entry.feishu_file.message_id,
        entry.feishu_file.file_key,
        vdir,
        max_bytes=int(manifest.options.limits.max_video_mb * MiB),
        inspect=lambda head: sniff(head, what=entry.name),
    )
    path = _store(got.temp_path, vdir, got.kind)
    return FetchRecord(source=entry.source, path=path, sha256=got.sha256, bytes=got.size)


def _download_options(ctx: StepContext, max_bytes: int, *, loopback: bool = False) -> DownloadOptions:
    """The download limits and retries from the settings, within the step's deadline."""
    settings = ctx.settings
    return DownloadOptions(
        max_bytes=max_bytes,
        allow_loopback=settings.allow_loopback or loopback,
        connect_timeout_s=settings.fetch_connect_timeout_s,
        read_timeout_s=settings.fetch_read_timeout_s,
        retries=settings.fetch_retries,
        backoff_s=settings.fetch_backoff_s,
        deadline=_deadline(settings, ctx.deadline),
        min_bytes_per_s=settings.fetch_min_bytes_per_s,
        rate_window_s=settings.fetch_rate_window_s,
    )


def _fetch_attachment(entry: VideoEntry, vdir: Path, manifest: Manifest, ctx: StepContext) -> FetchRecord:
    """Stream a Bitable attachment through the drive media API (the SDK would buffer it whole)."""
    from urllib.parse import quote, urlsplit

    from ._bitable import SHARE_HINT, BitableApi
    from ._feishu import FeishuClient

    settings = ctx.settings
    attachment = entry.attachment
    assert attachment is not None
    if not settings.feishu_configured:
        raise DownloadFailed("下载多维表格附件需要配置飞书应用凭证（FEISHU_APP_ID / FEISHU_APP_SECRET）")
    max_bytes = int(manifest.options.limits.max_video_mb * MiB)
    if attachment.size > max_bytes:
        raise TooLarge(
            f"附件太大：{attachment.size / MiB:.1f} MB，超过 {max_bytes / MiB:g} MB 上限",
            bytes=attachment.size,
        )
    api = BitableApi(FeishuClient(settings))
    url, _ = api.media_download(attachment.file_token)
    if attachment.table_id:  # the table whose permissions allow the download
        url += "?extra=" + quote(f'{{"bitablePerm":{{"tableId":"{attachment.table_id}"}}}}', safe="")
    host = urlsplit(url).hostname or ""
    # the configured Feishu domain is trusted (a local fake Feishu in tests), a user's link never is
    opts = _download_options(ctx, max_bytes, loopback=host in ("127.0.0.1", "localhost", "::1"))
    for fresh_token in (False, True):
        headers = api.media_download(attachment.file_token)[1]
        try:
            got = download(url, vdir, dataclasses.replace(opts, headers=headers), sniff)
            break
        except DownloadFailed as exc:
            status = exc.details.get("status")
            if status in (400, 401) and not fresh_token:  # a token Feishu no longer accepts: ask once more
                api.feishu.drop_token()
                continue
            if status == 403:
                raise DownloadFailed(
                    f"应用没有权限下载附件“{attachment.name}”：{SHARE_HINT}", status=403
                ) from exc
            raise
    path = _store(got.temp_path, vdir, got.kind)
    return FetchRecord(
        source=entry.source, path=path, sha256=got.sha256, bytes=got.bytes, content_type=got.content_type
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
        record = _fetch_url(entry, vdir, manifest, ctx)
    elif entry.feishu_file is not None:
        record = _fetch_feishu(entry, vdir, manifest, ctx)
    elif entry.attachment is not None:
        record = _fetch_attachment(entry, vdir, manifest, ctx)
    elif ctx.settings.allow_local_paths:
        record = _fetch_local(entry, vdir, manifest)
    else:
        raise UnsupportedLink("只有命令行可以读取本地文件，请发送链接")
    save_artifact(vdir, record)
    log.info("fetch.stored", path=record.path, bytes=record.bytes, kind=record.path.rsplit(".", 1)[-1])
    return inp


handler = step("fetch", VideoRef, stage="fetch")(run)
