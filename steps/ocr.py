"""OCR step: the text on the pictures — headlines (花字) and burned-in subtitles — read offline.

Reads ``shots.json`` and its keyframes and screenshots, and the subtitle band the Shots pass
sampled (``subtitle_band.npz``; the stored video is decoded again only without it); writes
``screen_text.json`` (:class:`ScreenTextRecord`) and ``subtitles_ocr.srt``: the lines of every
keyframe and screenshot with their kind, the video's distinct lines in order of first appearance,
and the subtitles read from the picture's lower band about twice a second. A picture without text
has no lines; nothing is invented. A re-run over the same video and shots returns at once. The
flow catches a failure here: the video goes on without on-screen text.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ._artifacts import (
    ARTIFACT_FILES,
    FetchRecord,
    ScreenTextRecord,
    ShotsRecord,
    load_artifact,
    save_artifact,
)
from ._asr.subtitles import to_srt
from ._logging import get_logger
from ._manifest import OcrOptions, load_manifest
from ._ocr import (
    ENGINE,
    MODEL,
    SubtitleTrack,
    TextKind,
    TextReader,
    distinct_lines,
    read_pictures,
    read_subtitle_track,
    text_reader,
)
from ._ocr.bands import BANDS_FILE, decode_bands, load_bands
from ._runtime import StepContext, VideoRef, step
from ._settings import Settings
from ._workspace import atomic_write_bytes, atomic_write_json, inside, read_json
from .errors import InvalidStepInput

__all__ = ["SRT_FILE", "STEP_VERSION", "handler", "initialize", "run"]

STEP_VERSION = 2  # 2: the subtitle band from the Shots pass
SRT_FILE = "subtitles_ocr.srt"
_INPUTS_FILE = ".ocr_inputs.json"
log = get_logger(__name__)


def _inputs_key(fetched: FetchRecord, shots: ShotsRecord, opts: OcrOptions) -> str:
    raw = json.dumps(
        [STEP_VERSION, ENGINE, MODEL, fetched.sha256, shots.model_dump(mode="json"), opts.model_dump()],
        sort_keys=True,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def _stored_key(video_dir: Path) -> str | None:
    try:
        return str(read_json(video_dir / _INPUTS_FILE)["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(inp: VideoRef, ctx: StepContext) -> VideoRef:
    """Read the text on the keyframes, the screenshots and the subtitle band of one video."""
    video_dir = ctx.workspace(inp.task_id).video_dir(inp.video_id)
    fetched, shots = load_artifact(video_dir, FetchRecord), load_artifact(video_dir, ShotsRecord)
    if fetched is None or shots is None:
        missing = "fetch.json" if fetched is None else "shots.json"
        raise InvalidStepInput(f"ocr: video {inp.video_id} has no {missing} (an earlier step did not finish)")
    opts = load_manifest(ctx.workspace(inp.task_id)).options.ocr
    if not opts.enabled:  # the request asked for no on-screen text: none is left from an earlier run
        for name in (ARTIFACT_FILES[ScreenTextRecord], SRT_FILE, _INPUTS_FILE):
            (video_dir / name).unlink(missing_ok=True)
        log.info("ocr.disabled")
        return inp
    key = _inputs_key(fetched, shots, opts)
    if load_artifact(video_dir, ScreenTextRecord) is not None and _stored_key(video_dir) == key:
        log.info("ocr.reused")
        return inp
    record = _read(video_dir, fetched, shots, subtitles=opts.subtitles)
    save_artifact(video_dir, record)
    atomic_write_json(video_dir / _INPUTS_FILE, {"key": key})
    return inp


def _track(video_dir: Path, fetched: FetchRecord, reader: TextReader) -> SubtitleTrack:
    bands = load_bands(video_dir / BANDS_FILE, fetched.sha256)
    if bands is None:  # the Shots step did not sample the band (an older version, or a replay)
        log.info("ocr.decoding_band", reason=f"no {BANDS_FILE} for this video")
        bands = decode_bands(inside(video_dir, fetched.path))
    track = read_subtitle_track(bands, reader)
    atomic_write_bytes(video_dir / SRT_FILE, to_srt(track.cues).encode("utf-8"))
    return track


def _read(video_dir: Path, fetched: FetchRecord, shots: ShotsRecord, *, subtitles: bool) -> ScreenTextRecord:
    started = time.perf_counter()
    reader = text_reader()
    pictures = [inside(video_dir, s.keyframe) for s in shots.shots]
    pictures += [inside(video_dir, s.path) for s in shots.screenshots]
    texts = read_pictures(pictures, reader)
    n = len(shots.shots)
    if subtitles:
        track = _track(video_dir, fetched, reader)
    else:
        track = SubtitleTrack()
        (video_dir / SRT_FILE).unlink(missing_ok=True)
    timed: list[tuple[float, str, TextKind]] = []
    times = [s.keyframe_s if s.keyframe_s is not None else s.start_s for s in shots.shots]
    times += [s.time_s for s in shots.screenshots]
    for t, lines in zip(times, texts.lines, strict=True):
        timed += [(t, line.text, line.kind) for line in lines]
    timed += [(cue.start_s, cue.text, "subtitle") for cue in track.cues]
    seconds = round(time.perf_counter() - started, 3)
    record = ScreenTextRecord(
        engine=ENGINE,
        model=MODEL,
        shots=texts.lines[:n],
        screenshots=texts.lines[n:],
        lines=distinct_lines(timed),
        cues=track.cues,
        srt=SRT_FILE if subtitles else None,
        frames_read=texts.read + track.read,
        frames_skipped=texts.skipped + track.skipped,
        seconds=seconds,
    )
    log.info(
        "ocr.done",
        lines=len(record.lines),
        cues=len(track.cues),
        pictures=len(pictures),
        samples=track.samples,
        frames_read=record.frames_read,
        frames_skipped=record.frames_skipped,
        seconds=seconds,
    )
    return record


handler = step("ocr", VideoRef, stage="ocr")(run)


def initialize(settings: Settings) -> None:
    """Warm-up (Function Compute's initializer): load the text reader once."""
    text_reader()
