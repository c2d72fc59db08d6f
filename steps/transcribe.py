"""Transcribe step: speech to timed text with FunASR or Whisper, plus ``.srt`` and ``.vtt`` files.

Reads ``probe.json`` and the WAV the Media step extracted; writes ``transcript.json``
(:class:`TranscriptRecord`), ``transcript.srt`` and ``transcript.vtt``. A video without audio, or
the ``none`` engine, yields no transcript and is not a failure. Audio without speech, or in a
language the engine cannot transcribe, yields an empty transcript that says why.
"""

from __future__ import annotations

import time
from pathlib import Path

from ._artifacts import ARTIFACT_FILES, ProbeRecord, TranscriptRecord, load_artifact, save_artifact
from ._asr import TranscriptionEngine, choose_engine, warm_up, write_subtitles
from ._logging import get_logger
from ._manifest import load_manifest
from ._runtime import StepContext, VideoRef, step
from ._settings import Settings
from ._speech import transcript_text
from .errors import InvalidStepInput

__all__ = ["SRT_FILE", "VTT_FILE", "handler", "initialize", "run"]

SRT_FILE = "transcript.srt"
VTT_FILE = "transcript.vtt"
_JSON_FILE = ARTIFACT_FILES[TranscriptRecord]
log = get_logger(__name__)


def _clear(video_dir: Path) -> None:
    for name in (_JSON_FILE, SRT_FILE, VTT_FILE):
        (video_dir / name).unlink(missing_ok=True)


def _reusable(video_dir: Path, engine: TranscriptionEngine, wav: Path) -> bool:
    record = load_artifact(video_dir, TranscriptRecord)
    if record is None or (record.engine, record.model) != (engine.name, engine.model):
        return False
    if not all((video_dir / name).is_file() for name in (record.srt, record.vtt)):
        return False
    return (video_dir / _JSON_FILE).stat().st_mtime >= wav.stat().st_mtime


def run(inp: VideoRef, ctx: StepContext) -> VideoRef:
    """Transcribe the audio of ``inp`` with the engine its options choose (idempotent)."""
    ws = ctx.workspace(inp.task_id)
    video_dir = ws.video_dir(inp.video_id)
    asr = load_manifest(ws).options.asr
    probe = load_artifact(video_dir, ProbeRecord)
    if probe is None:
        raise InvalidStepInput(
            f"transcribe: video {inp.video_id} has no probe.json (the Media step did not finish)"
        )
    if not probe.has_audio or not probe.audio_path:
        _clear(video_dir)
        log.info("transcribe.no_audio")
        return inp
    choice = choose_engine(ctx.settings, asr.engine, asr.model, asr.language)
    if choice.engine is None:
        _clear(video_dir)
        log.info("transcribe.disabled")
        return inp
    engine = choice.engine
    wav = video_dir / probe.audio_path
    if _reusable(video_dir, engine, wav):
        log.info("transcribe.reused", engine=engine.name, model=engine.model)
        return inp
    started = time.perf_counter()
    heard = engine.transcribe(wav)
    segments = heard.segments
    write_subtitles(segments, video_dir / SRT_FILE, video_dir / VTT_FILE, heard.language)
    record = TranscriptRecord(
        engine=engine.name,
        model=engine.model,
        language=heard.language,
        language_probability=heard.language_probability,
        text=transcript_text(segments, heard.language),
        segments=segments,
        speech_s=round(sum(seg.end_s - seg.start_s for seg in segments), 3),
        srt=SRT_FILE,
        vtt=VTT_FILE,
        note=choice.note,
        empty_reason=heard.empty_reason,
    )
    save_artifact(video_dir, record)
    seconds = time.perf_counter() - started
    log.info(
        "transcribe.done",
        engine=engine.name,
        model=engine.model,
        language=heard.language,
        language_probability=heard.language_probability,
        empty_reason=heard.empty_reason,
        segments=len(segments),
        seconds=round(seconds, 3),
        rtf=round(seconds / probe.duration_s, 3) if probe.duration_s else None,
    )
    return inp


handler = step("transcribe", VideoRef, stage="transcribe")(run)


def initialize(settings: Settings) -> None:
    """Warm-up (Function Compute's initializer): load the configured speech model once."""
    warm_up(settings)
