"""Audio extraction to 16-bit PCM WAV with PyAV (decode + swresample, one demux pass, no subprocess)."""

from __future__ import annotations

import os
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import CorruptVideo
from .probe import map_av_errors, open_input

__all__ = ["WavInfo", "extract_audio", "is_cut_off", "read_pcm", "read_wav_info", "video_end_s"]

_LAYOUTS = {1: "mono", 2: "stereo"}
# Audio that ends this much before the stream's declared end means the file was cut off.
_TRUNCATION_SLACK_S = 1.0
_TRUNCATION_RATIO = 0.9


@dataclass(frozen=True)
class WavInfo:
    """Format and length of a PCM WAV file."""

    sample_rate: int
    channels: int
    duration_s: float


def read_wav_info(path: Path) -> WavInfo | None:
    """The format of a complete WAV file, or None when it is missing or unreadable."""
    try:
        with wave.open(str(path), "rb") as wav:
            frames = wav.getnframes()
            rate = wav.getframerate()
            return WavInfo(rate, wav.getnchannels(), frames / rate if rate else 0.0)
    except (OSError, EOFError, wave.Error):
        return None


def is_cut_off(decoded_s: float, declared_s: float | None) -> bool:
    """True when a stream decoded to ``decoded_s`` stops well before its declared length."""
    if not declared_s:
        return False
    short = declared_s - decoded_s
    return short > _TRUNCATION_SLACK_S and decoded_s < declared_s * _TRUNCATION_RATIO


def extract_audio(
    src: Path,
    dest: Path,
    *,
    sample_rate: int = 16000,
    channels: int = 1,
    declared_s: float | None = None,
) -> WavInfo:
    """Decode the first audio stream of ``src`` into a 16-bit PCM WAV at ``dest``.

    Channels are down- or up-mixed by swresample (5.1 → mono keeps dialogue). The WAV is written
    under a temporary name and renamed, so ``dest`` exists only when complete.

    Raises:
        CorruptVideo: the audio cannot be decoded, or it stops well before ``declared_s``
            (a file cut off while downloading).
    """
    if channels not in _LAYOUTS:
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        frames = _decode_to_wav(src, tmp, sample_rate, channels)
        duration = frames / sample_rate
        if is_cut_off(duration, declared_s):
            raise CorruptVideo(
                f"the file is cut off: its audio stops at {duration:.1f} s of {declared_s:.1f} s "
                "(the file was not downloaded completely)"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return WavInfo(sample_rate, channels, duration)


def _decode_to_wav(src: Path, out: Path, sample_rate: int, channels: int) -> int:
    """Decode, resample and write; returns the number of sample frames written."""
    written = 0
    with open_input(src) as container, map_av_errors(src), wave.open(str(out), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(
            format="s16", layout=_LAYOUTS[channels], rate=sample_rate, frame_size=sample_rate
        )
        for frame in container.decode(stream):
            for chunk in resampler.resample(frame):
                wav.writeframesraw(chunk.to_ndarray().tobytes())
                written += chunk.samples
        for chunk in resampler.resample(None):
            wav.writeframesraw(chunk.to_ndarray().tobytes())
            written += chunk.samples
    return written


def video_end_s(src: Path) -> float:
    """Where the video stream's packets actually end (demux only, no decoding): a truncation check."""
    end = 0.0
    with open_input(src) as container, map_av_errors(src):
        stream = container.streams.video[0]
        base = stream.time_base
        start = stream.start_time or 0
        for packet in container.demux(stream):
            if packet.pts is not None and base is not None:
                end = max(end, float((packet.pts - start + (packet.duration or 0)) * base))
    return end


def read_pcm(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """The audio of ``path`` as mono float32 samples in [-1, 1] at ``sample_rate``.

    A 16-bit WAV already in that format is read directly; anything else is resampled by PyAV.
    """
    info = read_wav_info(path)
    if info is not None and (info.sample_rate, info.channels) == (sample_rate, 1):
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() == 2:
                raw = wav.readframes(wav.getnframes())
                return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    chunks: list[np.ndarray] = []
    with open_input(path) as container, map_av_errors(path):
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate, frame_size=sample_rate)
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(chunk.to_ndarray().reshape(-1) for chunk in resampler.resample(frame))
        chunks.extend(chunk.to_ndarray().reshape(-1) for chunk in resampler.resample(None))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)
