"""Media step: probe the fetched file and extract its audio track as a PCM WAV.

Reads ``fetch.json``, writes ``probe.json`` (:class:`ProbeRecord`) and ``audio.wav`` into the video
folder. A video without an audio track is not a failure: ``has_audio`` is false and no WAV is
written. Damaged, truncated, zero-byte and audio-only files fail with typed errors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ._artifacts import ARTIFACT_FILES, FetchRecord, ProbeRecord, load_artifact, save_artifact
from ._logging import get_logger
from ._manifest import AudioOptions, load_manifest
from ._media import MediaInfo, extract_audio, is_cut_off, probe, read_wav_info, video_end_s
from ._runtime import StepContext, VideoRef, step
from .errors import CorruptVideo, InvalidStepInput, TooLong

__all__ = ["AUDIO_FILE", "handler", "run"]

AUDIO_FILE = "audio.wav"
log = get_logger(__name__)


def _source(video_dir: Path, video_id: str) -> Path:
    fetched = load_artifact(video_dir, FetchRecord)
    if fetched is None:
        raise InvalidStepInput(f"media: video {video_id} has no fetch.json (the Fetch step did not finish)")
    return video_dir / fetched.path


def _reusable(video_dir: Path, src: Path, audio: AudioOptions) -> ProbeRecord | None:
    """The existing probe record when it is newer than the source and its WAV matches ``audio``."""
    record = load_artifact(video_dir, ProbeRecord)
    if record is None:
        return None
    probe_file = video_dir / ARTIFACT_FILES[ProbeRecord]
    if not src.is_file() or probe_file.stat().st_mtime < src.stat().st_mtime:
        return None
    if not record.has_audio:
        return record
    wav = read_wav_info(video_dir / record.audio_path) if record.audio_path else None
    if wav is None or (wav.sample_rate, wav.channels) != (audio.sample_rate, audio.channels):
        return None
    return record


def _record(info: MediaInfo, audio: AudioOptions | None) -> ProbeRecord:
    return ProbeRecord(
        duration_s=info.duration_s,
        width=info.width,
        height=info.height,
        fps=info.fps,
        codec=info.codec,
        rotation=info.rotation,
        has_audio=info.has_audio,
        audio_path=AUDIO_FILE if audio else None,
        audio_sample_rate=audio.sample_rate if audio else None,
        audio_channels=audio.channels if audio else None,
    )


def _extract_or_check(src: Path, video_dir: Path, info: MediaInfo, audio: AudioOptions) -> MediaInfo:
    """Extract the WAV when there is audio; otherwise check the video stream is complete."""
    if info.has_audio:
        wav = extract_audio(
            src,
            video_dir / AUDIO_FILE,
            sample_rate=audio.sample_rate,
            channels=audio.channels,
            declared_s=info.audio_duration_s,
        )
        log.info("audio.extracted", seconds=round(wav.duration_s, 3), sample_rate=wav.sample_rate)
        if wav.duration_s > 0:
            return info
        info = dataclasses.replace(info, has_audio=False)  # a track without a single sample
    end = video_end_s(src)
    if is_cut_off(end, info.duration_s):
        raise CorruptVideo(
            f"the file is cut off: its video stops at {end:.1f} s of {info.duration_s:.1f} s "
            "(the file was not downloaded completely)"
        )
    (video_dir / AUDIO_FILE).unlink(missing_ok=True)
    log.info("media.no_audio")
    return info


def run(inp: VideoRef, ctx: StepContext) -> VideoRef:
    """Probe the video of ``inp`` and extract its audio (idempotent)."""
    ws = ctx.workspace(inp.task_id)
    video_dir = ws.video_dir(inp.video_id)
    options = load_manifest(ws).options
    src = _source(video_dir, inp.video_id)
    if _reusable(video_dir, src, options.audio) is not None:
        log.info("media.reused")
        return inp
    info = probe(src)
    limit = options.limits.max_duration_s
    if info.duration_s > limit:
        raise TooLong(f"the video is {info.duration_s:.0f} s long; the limit is {limit:.0f} s")
    info = _extract_or_check(src, video_dir, info, options.audio)
    record = _record(info, options.audio if info.has_audio else None)
    save_artifact(video_dir, record)
    log.info("media.probed", duration_s=info.duration_s, width=info.width, height=info.height)
    return inp


handler = step("media", VideoRef, stage="media")(run)
