"""Shots step: shot boundaries, one sharp keyframe per shot, extra screenshots, a contact sheet.

Reads ``fetch.json`` (and ``probe.json`` when Media wrote it), measures the video's frames at
analysis resolution, and writes ``shots.json`` (:class:`ShotsRecord`), ``keyframes/shot_NNN.jpg``,
``screenshots/t_<ms>.jpg``, ``contact_sheet.jpg``, ``frame_scores.npz`` and ``subtitle_band.npz``
(the picture's lower band twice a second, for the OCR step) into the video folder.
The frame-difference detectors measure only where the stream shows a cut can be (the coarse
scan, :mod:`._shots.coarse`) and fall back to every frame where it cannot tell; ``transnet`` runs
TransNetV2 over every frame. ``shots.json`` records which path ran. A re-run with the same inputs
returns at once; a re-run with another detector or threshold replays the saved frame scores
instead of decoding again, when they decide that detector's cuts exactly.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ._artifacts import (
    FetchRecord,
    ProbeRecord,
    Screenshot,
    Shot,
    ShotScan,
    ShotsRecord,
    load_artifact,
    save_artifact,
)
from ._logging import get_logger
from ._manifest import ShotOptions, load_manifest
from ._media.frames import ANALYSIS_WIDTH, DecodedFrame, grab_frames, open_video
from ._ocr.bands import BANDS_FILE, BandSampler
from ._runtime import StepContext, VideoRef, step
from ._shots import (
    TILE_WIDTH,
    Analysis,
    FrameScores,
    analyze,
    choose_keyframes,
    default_threshold,
    detect_cuts,
    duplicate_of,
    make_rule,
    render_contact_sheet,
    replayable,
    sample_times,
    spans_from_cuts,
)
from ._shots.coarse import coarse_analyze, plan_for
from ._workspace import atomic_write_bytes, atomic_write_json, read_json
from .errors import InvalidStepInput

__all__ = ["CONTACT_SHEET", "SCORES_FILE", "ShotsOutput", "handler", "run"]

STEP_VERSION = 4  # 3: the hybrid default, TransNetV2, the coarse scan; 4: the subtitle band
CONTACT_SHEET = "contact_sheet.jpg"
SCORES_FILE = "frame_scores.npz"
_INPUTS_FILE = ".shots_inputs.json"
_JPEG_QUALITY = 90
log = get_logger(__name__)


class ShotsOutput(VideoRef):
    """The Shots step's output: the video reference and how many shots it has."""

    shot_count: int


def _jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=_JPEG_QUALITY)
    return buf.getvalue()


def _inputs_key(fetched: FetchRecord, opts: ShotOptions) -> str:
    raw = json.dumps([STEP_VERSION, fetched.sha256, opts.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _screenshot_name(t: float) -> str:
    return f"screenshots/t_{round(t * 1000)}.jpg"


def _wanted_screenshots(opts: ShotOptions, duration_s: float) -> list[float]:
    wanted: list[float] = []
    for t in sorted(set(opts.screenshot_times_s)):
        if t < 0 or t >= duration_s:
            log.info(
                "shots.screenshot_skipped", time_s=t, duration_s=round(duration_s, 3), reason="outside video"
            )
        else:
            wanted.append(t)
    return wanted


def _write_keyframes(video_dir: Path, images: Sequence[np.ndarray]) -> tuple[list[str], int]:
    """Write one JPEG per shot; near-duplicates reuse the earlier file. Returns paths, duplicates."""
    dup = duplicate_of(images)
    paths: list[str] = []
    for i, image in enumerate(images):
        j = dup[i]
        if j is not None:
            paths.append(paths[j])
            continue
        name = f"keyframes/shot_{i + 1:03d}.jpg"
        atomic_write_bytes(video_dir / name, _jpeg(image))
        paths.append(name)
    keep = {video_dir / p for p in paths}
    for stale in (video_dir / "keyframes").glob("*.jpg"):
        if stale not in keep:
            stale.unlink(missing_ok=True)
    return paths, sum(d is not None for d in dup)


def run(inp: VideoRef, ctx: StepContext) -> ShotsOutput:
    """Detect shots and write keyframes, screenshots and the contact sheet for one video."""
    ws = ctx.workspace(inp.task_id)
    video_dir = ws.video_dir(inp.video_id)
    fetched = load_artifact(video_dir, FetchRecord)
    if fetched is None:
        raise InvalidStepInput(
            f"shots: video {inp.video_id} has no fetch.json (the Fetch step did not finish)"
        )
    options = load_manifest(ws).options
    opts = options.shots
    band = options.ocr.enabled and options.ocr.subtitles  # the OCR step will read the subtitle band
    key = _inputs_key(fetched, opts)
    record = load_artifact(video_dir, ShotsRecord)
    if record is not None and _stored_key(video_dir) == key:
        log.info("shots.reused", shots=len(record.shots))
        return ShotsOutput(task_id=inp.task_id, video_id=inp.video_id, shot_count=len(record.shots))
    record = _detect_and_write(video_dir, video_dir / fetched.path, fetched.sha256, opts, band=band)
    save_artifact(video_dir, record)
    atomic_write_json(video_dir / _INPUTS_FILE, {"key": key})
    return ShotsOutput(task_id=inp.task_id, video_id=inp.video_id, shot_count=len(record.shots))


def _stored_key(video_dir: Path) -> str | None:
    try:
        return str(read_json(video_dir / _INPUTS_FILE)["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _Frames:
    """Contact-sheet tiles: rendered during the analysis pass, else grabbed afterwards."""

    def __init__(self, src: Path, fps: float) -> None:
        self.src = src
        self.fps = fps
        self.rendered: dict[float, np.ndarray] = {}
        self.keyframes_s: list[float] = []

    def index(self, t: float) -> int:
        return max(0, round(t * self.fps))

    def at(self, wanted_s: Sequence[float]) -> list[np.ndarray]:
        missing = [t for t in wanted_s if t not in self.rendered]
        if missing:
            grabbed = grab_frames(self.src, missing, keyframes_s=self.keyframes_s)
            self.rendered.update(zip(missing, grabbed, strict=True))
        return [self.rendered[t] for t in wanted_s]


def _pass_or_replay(
    video_dir: Path,
    src: Path,
    sha256: str,
    opts: ShotOptions,
    fps: float,
    tiles_s: Sequence[float],
    *,
    band: bool = True,
) -> tuple[FrameScores, list[int], _Frames]:
    """Cuts and frame scores: replayed from ``frame_scores.npz`` when it decides them exactly,
    else measured by one scan (which also samples the subtitle band when ``band``)."""
    frames = _Frames(src, fps)
    min_frames = max(1, round(opts.min_shot_s * fps))
    cached = FrameScores.load(video_dir / SCORES_FILE)
    if (
        cached is not None
        and cached.source_sha256 == sha256
        and cached.width == ANALYSIS_WIDTH
        and replayable(cached, opts.detector, opts.threshold, min_frames)
    ):
        log.info("shots.scores_replayed", frames=len(cached.times_s), scan=cached.scan.path)
        scores = cached
    else:
        renders: dict[int, int | None] = {frames.index(t): TILE_WIDTH for t in tiles_s}
        bands = BandSampler()
        analysis = _scan(src, opts, min_frames, renders, bands.offer if band else None)
        scores = analysis.scores
        scores.source_sha256 = sha256
        scores.save(video_dir / SCORES_FILE)
        end_s = float(scores.times_s[-1]) + 1.0 / fps if len(scores.times_s) else 0.0
        if band:
            bands.samples(round(end_s, 3), sha256).save(video_dir / BANDS_FILE)
        frames.rendered = {t: analysis.renders[frames.index(t)] for t in tiles_s}
    cuts = detect_cuts(scores, detector=opts.detector, threshold=opts.threshold, min_shot_frames=min_frames)
    frames.keyframes_s = scores.keyframes_s.tolist()
    return scores, cuts, frames


def _scan(
    src: Path,
    opts: ShotOptions,
    min_frames: int,
    renders: dict[int, int | None],
    tap: Callable[[DecodedFrame], None] | None,
) -> Analysis:
    """One scan of the video: TransNetV2 over every frame, or the coarse scan when it can run.
    ``tap`` sees the frames decoded (the OCR step's subtitle band is sampled from them)."""
    with open_video(src) as video:
        if opts.detector == "transnet":
            reason = "TransNetV2 sees every frame"
            return analyze(video, renders=renders, transnet=True, reason=reason, tap=tap)
        plan, index = plan_for(video, make_rule(opts.detector, opts.threshold, min_frames), renders)
        if plan.path == "coarse" and index is not None:
            return coarse_analyze(video, index, plan, renders=renders, detector=opts.detector, tap=tap)
        return analyze(video, renders=renders, reason=plan.reason, tap=tap, index=index)


def _facts(video_dir: Path, src: Path) -> tuple[float, float]:
    """``(fps, duration_s)`` from ``probe.json``, or from the file when Media has not run."""
    probe = load_artifact(video_dir, ProbeRecord)
    if probe is not None and probe.fps > 0 and probe.duration_s > 0:
        return probe.fps, probe.duration_s
    with open_video(src) as video:
        return float(video.frame_rate), video.duration


def _detect_and_write(
    video_dir: Path, src: Path, sha256: str, opts: ShotOptions, *, band: bool = True
) -> ShotsRecord:
    fps, duration = _facts(video_dir, src)
    shot_times = _wanted_screenshots(opts, duration)
    sheet_times = sample_times(duration)
    # Tiles come from the fast analysis pass (no deblocking: invisible at tile size); keyframes
    # and screenshots, shown at full size, from one accurate grabbing pass afterwards.
    scores, cuts, frames = _pass_or_replay(video_dir, src, sha256, opts, fps, sheet_times, band=band)
    times = scores.times_s
    n = len(times)
    end_s = float(times[-1]) + 1.0 / fps
    spans = spans_from_cuts(cuts, n)
    picks = choose_keyframes(spans, scores.sharpness)
    grabbed = grab_frames(
        src, [*(float(times[i]) for i in picks), *shot_times], keyframes_s=scores.keyframes_s.tolist()
    )
    paths, dropped = _write_keyframes(video_dir, grabbed[: len(picks)])
    shots = [
        Shot(
            index=k + 1,
            start_s=round(float(times[s.start]), 3),
            end_s=round(float(times[s.end]) if s.end < n else end_s, 3),
            keyframe=paths[k],
            keyframe_s=round(float(times[picks[k]]), 3),
        )
        for k, s in enumerate(spans)
    ]
    screenshots = [Screenshot(time_s=round(t, 3), path=_screenshot_name(t)) for t in shot_times]
    for shot, image in zip(screenshots, grabbed[len(picks) :], strict=True):
        atomic_write_bytes(video_dir / shot.path, _jpeg(image))
    atomic_write_bytes(video_dir / CONTACT_SHEET, render_contact_sheet(frames.at(sheet_times), sheet_times))
    scan = scores.scan
    log.info(
        "shots.detected",
        shots=len(shots),
        dropped_duplicates=dropped,
        frames=n,
        detector=opts.detector,
        scan=scan.path,
        frames_decoded=scan.frames_decoded,
    )
    return ShotsRecord(
        detector=opts.detector,
        threshold=opts.threshold if opts.threshold is not None else default_threshold(opts.detector),
        shots=shots,
        screenshots=screenshots,
        contact_sheet=CONTACT_SHEET,
        dropped_duplicates=dropped,
        scan=ShotScan(
            path=scan.path,
            reason=scan.reason,
            frames_decoded=scan.frames_decoded,
            frame_count=scan.frame_count,
        ),
    )


handler = step("shots", VideoRef, stage="shots")(run)
