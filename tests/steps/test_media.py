"""The Media step on real files: probe facts, WAV extraction, and the typed errors of bad files."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from steps import ProbeRecord, Settings, StepContext, load_artifact, load_progress
from steps.errors import (
    CorruptVideo,
    EmptyFile,
    InvalidStepInput,
    NotAVideo,
    NoVideoStream,
    TooLong,
)
from steps.media import AUDIO_FILE, handler
from tests.media import MadeVideo, make_speech_wav
from tests.steps._ws import make_task

pytestmark = pytest.mark.slow


def _run(settings: Settings, video: Path, options: dict | None = None) -> tuple[Path, ProbeRecord | None]:
    ws, (vid,) = make_task(settings, [video], options)
    out = handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
    assert out == {"task_id": ws.task_id, "video_id": vid}
    video_dir = ws.video_dir(vid)
    return video_dir, load_artifact(video_dir, ProbeRecord)


def _wav(path: Path) -> tuple[int, int, float, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        frames = wav.readframes(wav.getnframes())
        rate, channels = wav.getframerate(), wav.getnchannels()
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels)
    return rate, channels, len(samples) / rate, samples


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


def test_speech_video_probe_and_wav(settings: Settings, speech_video: MadeVideo) -> None:
    video_dir, probe = _run(settings, speech_video.path)
    assert probe is not None
    assert (probe.width, probe.height, probe.fps, probe.codec) == (320, 240, 25.0, "h264")
    assert probe.duration_s == pytest.approx(8.0, abs=0.1)
    assert probe.has_audio and probe.rotation == 0
    assert (probe.audio_path, probe.audio_sample_rate, probe.audio_channels) == (AUDIO_FILE, 16000, 1)
    rate, channels, seconds, samples = _wav(video_dir / AUDIO_FILE)
    assert (rate, channels) == (16000, 1)
    assert seconds == pytest.approx(8.0, abs=0.1)
    # espeak speech starts at t=0: the first second is loud, the WAV is not silence
    assert np.abs(samples[:16000]).max() > 3000
    assert not list(video_dir.glob(".*.tmp"))


def test_rerun_reuses_the_artifacts(settings: Settings, speech_video: MadeVideo) -> None:
    ws, (vid,) = make_task(settings, [speech_video.path])
    ctx = StepContext(settings=settings)
    handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    wav = ws.video_dir(vid) / AUDIO_FILE
    stamp = wav.stat().st_mtime_ns
    handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    assert wav.stat().st_mtime_ns == stamp
    _, videos = load_progress(ws)
    assert videos[0]["stages"]["media"] == "ok"


def test_requested_rate_and_channels_are_honoured(settings: Settings, speech_video: MadeVideo) -> None:
    video_dir, probe = _run(settings, speech_video.path, {"audio": {"sample_rate": 8000, "channels": 2}})
    assert probe is not None and (probe.audio_sample_rate, probe.audio_channels) == (8000, 2)
    rate, channels, seconds, samples = _wav(video_dir / AUDIO_FILE)
    assert (rate, channels) == (8000, 2)
    assert seconds == pytest.approx(8.0, abs=0.1)
    assert np.array_equal(samples[:, 0], samples[:, 1])  # mono source upmixed


def test_bigbuckbunny_six_channels_downmixed(settings: Settings, bigbuckbunny: Path) -> None:
    video_dir, probe = _run(settings, bigbuckbunny)
    assert probe is not None
    assert (probe.width, probe.height) == (1280, 720)
    assert probe.has_audio
    rate, channels, seconds, samples = _wav(video_dir / AUDIO_FILE)
    assert (rate, channels) == (16000, 1)
    assert seconds == pytest.approx(probe.duration_s, abs=0.15)
    assert np.abs(samples).max() > 1000  # the soundtrack survived the downmix


def test_video_without_audio_is_not_a_failure(settings: Settings, silent_video: MadeVideo) -> None:
    video_dir, probe = _run(settings, silent_video.path)
    assert probe is not None
    assert probe.has_audio is False and probe.audio_path is None
    assert probe.duration_s == pytest.approx(8.0, abs=0.1)
    assert not (video_dir / AUDIO_FILE).exists()


def test_rotation_is_read(settings: Settings, silent_video: MadeVideo, tmp_path: Path) -> None:
    rotated = tmp_path / "rotated.mp4"
    _ffmpeg("-i", str(silent_video.path), "-c", "copy", "-metadata:s:v", "rotate=90", str(rotated))
    _, probe = _run(settings, rotated)
    assert probe is not None and probe.rotation == 90
    assert (probe.width, probe.height) == (320, 240)  # coded size; rotation tells how to show it


@pytest.mark.parametrize("suffix", [".m4a", ".mp3"])
def test_audio_only_file(settings: Settings, tmp_path: Path, suffix: str) -> None:
    wav = make_speech_wav("This file has no pictures.", tmp_path / "speech.wav")
    audio_only = tmp_path / f"speech{suffix}"
    _ffmpeg("-i", str(wav), str(audio_only))
    with pytest.raises(NoVideoStream, match="audio only"):
        _run(settings, audio_only)


def test_zero_byte_file(settings: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(EmptyFile, match="empty"):
        _run(settings, empty)


def test_truncated_mp4(settings: Settings, speech_video: MadeVideo, tmp_path: Path) -> None:
    data = speech_video.path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    with pytest.raises(CorruptVideo, match="cannot be decoded"):
        _run(settings, cut)


@pytest.mark.parametrize("audio", [True, False])
def test_truncated_faststart_mp4(
    settings: Settings, tmp_path: Path, speech_video: MadeVideo, audio: bool
) -> None:
    """moov at the front: the file opens, but its streams stop early."""
    fast = tmp_path / "fast.mp4"
    extra = [] if audio else ["-an"]
    _ffmpeg("-i", str(speech_video.path), *extra, "-c", "copy", "-movflags", "+faststart", str(fast))
    data = fast.read_bytes()
    cut = tmp_path / "cut-fast.mp4"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    with pytest.raises(CorruptVideo, match="cut off"):
        _run(settings, cut)


def test_text_renamed_mp4(settings: Settings, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are meeting notes, not a video\n" * 50)
    with pytest.raises(NotAVideo, match="not a video"):
        _run(settings, fake)


def test_jpeg_renamed_mp4(settings: Settings, tmp_path: Path) -> None:
    fake = tmp_path / "photo.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", "-f", "mjpeg", str(fake))
    with pytest.raises(NotAVideo, match="still image"):
        _run(settings, fake)


def test_too_long(settings: Settings, speech_video: MadeVideo) -> None:
    with pytest.raises(TooLong, match="limit is 5 s"):
        _run(settings, speech_video.path, {"limits": {"max_duration_s": 5}})


def test_failure_is_recorded_in_progress(settings: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    ws, (vid,) = make_task(settings, [empty])
    with pytest.raises(EmptyFile):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
    _, videos = load_progress(ws)
    assert videos[0]["stages"]["media"] == "failed"
    assert videos[0]["error"]["code"] == "EmptyFile"


def test_missing_fetch_record(settings: Settings, speech_video: MadeVideo) -> None:
    ws, (vid,) = make_task(settings, [speech_video.path])
    (ws.video_dir(vid) / "fetch.json").unlink()
    with pytest.raises(InvalidStepInput, match=r"fetch\.json"):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
