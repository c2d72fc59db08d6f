"""Assemble ``results.json`` from the task workspace and copy the media it points to into ``out/``.

Every path in a :class:`Results` document is relative to the output folder, and every file it names
lives under ``out/media/<video_id>/``, so the output folder stands on its own once Finish deletes the
per-video working folders.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .._ai.fields import FieldSpec
from .._ai.summary import BatchSummary, compute_numbers
from .._artifacts import (
    AiStatus,
    AiUsage,
    AnalysisRecord,
    ErrorInfo,
    FetchRecord,
    ProbeRecord,
    Screenshot,
    ScreenTextRecord,
    ShotsRecord,
    TranscriptRecord,
    VideoResult,
    load_artifact,
)
from .._logging import get_logger
from .._manifest import Manifest, VideoEntry
from .._workspace import TaskWorkspace, atomic_copy, inside, read_json
from ..errors import DuplicateVideo, Incomplete

__all__ = ["SCHEMA_ID", "Counts", "Results", "collect_results", "results_schema"]

SCHEMA_ID = "https://github.com/video-insight/video-insight/blob/main/docs/results.schema.json"
log = get_logger(__name__)


class Counts(BaseModel):
    """How many videos the task had, and how many of them succeeded or failed."""

    model_config = ConfigDict(extra="forbid")

    total: int
    ok: int
    failed: int


class Results(BaseModel):
    """``results.json``: the machine-readable twin of the reports, videos in request order."""

    model_config = ConfigDict(extra="forbid", title="video-insight results")

    task_id: str
    title: str
    created_at: datetime = Field(description="When the task was accepted (ISO 8601, UTC).")
    finished_at: datetime = Field(description="When the outputs were written (ISO 8601, UTC).")
    counts: Counts
    summary: BatchSummary | None = Field(
        default=None, description="The batch summary: numbers computed by the code, prose by the model."
    )
    analysis_usage: AiUsage | None = Field(
        default=None, description="What the task's model calls consumed: every video's and the summary's."
    )
    analysis_fields: list[FieldSpec] = Field(
        default_factory=list, description="The AI analysis fields of the request, in column order."
    )
    videos: list[VideoResult]


def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (committed as ``docs/results.schema.json``)."""
    schema = Results.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def collect_results(
    ws: TaskWorkspace,
    manifest: Manifest,
    *,
    finished_at: datetime | None = None,
    copy_media: bool = True,
    with_summary: bool = True,
) -> Results:
    """Read every video's artifacts, copy their media into ``ws.out/media`` and build the results.

    ``copy_media=False`` copies nothing (the media paths still name where Publish puts them);
    ``with_summary=False`` leaves the batch summary out (it is made from these results).
    """
    names = {v.video_id: v.name for v in manifest.videos}
    videos = [_video_result(ws, entry, names, copy_media) for entry in manifest.videos]
    ok = sum(v.status == "ok" for v in videos)
    fields = list(manifest.options.analysis.fields)
    summary = _summary(ws, videos, fields) if with_summary else None
    usage: AiUsage | None = None
    for part in [*(v.analysis_usage for v in videos), summary.usage if summary else None]:
        if part is not None:
            usage = part if usage is None else usage.plus(part)
    return Results(
        task_id=manifest.task_id,
        title=manifest.title or f"视频分析 {manifest.task_id}",
        created_at=datetime.fromtimestamp(manifest.created_at, tz=timezone.utc),
        finished_at=finished_at or datetime.now(tz=timezone.utc),
        counts=Counts(total=len(videos), ok=ok, failed=len(videos) - ok),
        summary=summary,
        analysis_usage=usage,
        analysis_fields=fields,
        videos=videos,
    )


def _summary(ws: TaskWorkspace, videos: list[VideoResult], fields: list[FieldSpec]) -> BatchSummary:
    """The summary Summarize wrote; without one, the computed numbers and why the prose is missing."""
    try:
        return BatchSummary.model_validate(read_json(ws.summary))
    except (OSError, ValueError) as exc:
        log.warning("publish.summary_missing", task_id=ws.task_id, error=str(exc))
    status = AiStatus(state="failed", message="批次总结没有生成（总结步骤没有完成），这里只有程序算出的数字")
    return BatchSummary(numbers=compute_numbers(videos, fields), status=status)


def _video_result(
    ws: TaskWorkspace, entry: VideoEntry, names: dict[str, str], copy_media: bool
) -> VideoResult:
    base = VideoResult(
        video_id=entry.video_id,
        name=entry.name,
        source=entry.source,
        status="failed",
        performance=entry.performance,
    )
    if entry.duplicate_of is not None:
        first = names.get(entry.duplicate_of, entry.duplicate_of)
        base.error = ErrorInfo(code=DuplicateVideo.code, message=f"same link as {first}", step="prepare")
        return base
    vdir = ws.dir / "videos" / entry.video_id
    media = _MediaCopier(vdir, ws.out, entry.video_id, copy=copy_media)
    _add_artifacts(base, vdir, media)
    failure = load_artifact(vdir, ErrorInfo)
    analysis = load_artifact(vdir, AnalysisRecord)
    if failure is not None:
        base.error = failure
    elif analysis is None:
        base.error = ErrorInfo(code=Incomplete.code, message=_incomplete_message(vdir))
    else:
        base.status = "ok"
        base.metrics = analysis.metrics
        base.analysis = analysis.ai
        base.analysis_usage = analysis.ai_usage
        base.analysis_status = analysis.ai_status
    return base


def _add_artifacts(result: VideoResult, vdir: Path, media: _MediaCopier) -> None:
    fetch = load_artifact(vdir, FetchRecord)
    if fetch is not None:
        result.sha256 = fetch.sha256
    probe = load_artifact(vdir, ProbeRecord)
    if probe is not None:
        result.duration_s = probe.duration_s
        result.width, result.height, result.fps = probe.width, probe.height, probe.fps
        result.has_audio = probe.has_audio
    shots = load_artifact(vdir, ShotsRecord)
    if shots is not None:
        text = _screen_text(vdir, shots)
        result.shots = [
            s.model_copy(update={"keyframe": media.copy(s.keyframe), "on_screen_text": lines})
            for s, lines in zip(shots.shots, text.shots if text else [[]] * len(shots.shots), strict=True)
        ]
        result.screenshots = [
            Screenshot(time_s=s.time_s, path=media.copy(s.path), on_screen_text=lines)
            for s, lines in zip(
                shots.screenshots, text.screenshots if text else [[]] * len(shots.screenshots), strict=True
            )
        ]
        result.contact_sheet = media.copy(shots.contact_sheet) if shots.contact_sheet else None
        if text is not None:
            result.screen_text = text.lines
            result.subtitles_ocr = media.copy(text.srt) if text.srt else None
    transcript = load_artifact(vdir, TranscriptRecord)
    if transcript is not None:
        result.transcript = transcript.model_copy(
            update={"srt": media.copy(transcript.srt), "vtt": media.copy(transcript.vtt)}
        )


def _screen_text(vdir: Path, shots: ShotsRecord) -> ScreenTextRecord | None:
    """The OCR step's record when it was read from these shots' pictures (else None: not run, or stale)."""
    text = load_artifact(vdir, ScreenTextRecord)
    if text is None or len(text.shots) != len(shots.shots) or len(text.screenshots) != len(shots.screenshots):
        return None
    return text


def _incomplete_message(vdir: Path) -> str:
    done = [
        name
        for name, model in (
            ("fetch", FetchRecord),
            ("media", ProbeRecord),
            ("shots", ShotsRecord),
            ("transcribe", TranscriptRecord),
        )
        if load_artifact(vdir, model) is not None
    ]
    finished = ", ".join(done) if done else "none"
    return f"processing stopped before the analysis finished (steps done: {finished})"


class _MediaCopier:
    """Copies files of one video folder to ``out/media/<video_id>/`` and returns their new paths."""

    def __init__(self, video_dir: Path, out_dir: Path, video_id: str, *, copy: bool = True) -> None:
        self.video_dir = video_dir
        self.out_dir = out_dir
        self.video_id = video_id
        self.enabled = copy

    def copy(self, rel: str) -> str:
        """Copy ``rel`` (relative to the video folder); the path relative to the output folder."""
        rel_path = PurePosixPath(rel.replace("\\", "/"))
        if rel_path.is_absolute() or ".." in rel_path.parts:
            raise ValueError(f"artifact path {rel!r} of video {self.video_id} leaves its folder")
        dest_rel = f"media/{self.video_id}/{rel_path.as_posix()}"
        src, dest = inside(self.video_dir, rel_path.as_posix()), self.out_dir / dest_rel
        if not self.enabled:
            return dest_rel
        if src.is_file():
            if not _same_file(src, dest):
                atomic_copy(src, dest)
        elif not dest.is_file():
            log.warning("publish.media_missing", video_id=self.video_id, path=rel)
        return dest_rel


def _same_file(src: Path, dest: Path) -> bool:
    if not dest.is_file():
        return False
    a, b = src.stat(), dest.stat()
    return a.st_size == b.st_size and int(b.st_mtime) >= int(a.st_mtime)
