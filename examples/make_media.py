"""Make the sample videos in ``examples/media/`` (run by hand; the outputs are committed).

Usage::

    python examples/make_media.py            # writes examples/media/*.mp4

Needs the system ``ffmpeg`` and ``espeak-ng``. Each clip is a short "ad": a few shots separated by
hard cuts (each shot is a differently coloured moving gradient with a title), English speech (espeak-ng
speaks only English well; the offline recogniser also handles Chinese), one clip without an audio track, and
``broken.mp4``, a truncated copy of a clip that no decoder can open (to show failure reporting).

Output is deterministic for a given ffmpeg/espeak-ng build: fixed seeds, one encoder thread,
bit-exact flags and no metadata.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BROKEN", "CLIPS", "Clip", "Shot", "make_all", "make_clip"]

MEDIA_DIR = Path(__file__).resolve().parent / "media"
SIZE = (426, 240)
FPS = 25
LEAD_S = 0.15  # silence before each spoken line, inside its shot
TAIL_S = 0.25  # silence after it, before the cut
BROKEN = "broken.mp4"
BROKEN_BYTES = 12_000  # the moov box is at the end of the file, so this prefix cannot be decoded
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    "C:/Windows/Fonts/arialbd.ttf",
)


@dataclass(frozen=True)
class Shot:
    """One shot: a gradient between two colours with a title, optionally a spoken line."""

    title: str
    colors: tuple[str, str]
    line: str | None = None
    min_s: float = 2.0


@dataclass(frozen=True)
class Clip:
    """One sample video."""

    name: str
    shots: tuple[Shot, ...]
    audio: bool = True


CLIPS = (
    Clip(
        "lumen_bottle.mp4",
        (
            Shot("LUMEN", ("0x0B1E3F", "0x38BDF8"), "Meet the new Lumen bottle."),
            Shot("24 h cold", ("0x064E3B", "0xA7F3D0"), "Keeps drinks cold for twenty four hours."),
            Shot("Leak proof", ("0x7C2D12", "0xFDBA74"), "Light, tough, and leak proof."),
            Shot("Free shipping", ("0x4C1D95", "0xF0ABFC"), "Order today and get free shipping."),
        ),
    ),
    Clip(
        "stride_shoes.mp4",
        (
            Shot("Running late?", ("0x111827", "0xF87171"), "Running late again?"),
            Shot("STRIDE", ("0x1E3A8A", "0xFACC15"), "Stride shoes lace up in one second."),
            Shot("Soft foam", ("0x14532D", "0x86EFAC"), "Soft foam for long city days."),
            Shot("30 days", ("0x831843", "0xFBCFE8"), "Try them for thirty days, with free returns."),
            Shot("stride.example", ("0x0F172A", "0x94A3B8"), None, 1.2),
        ),
    ),
    Clip(
        "harbor_coffee_silent.mp4",
        (
            Shot("Harbor Coffee", ("0x3F2A1D", "0xD6A26B"), None, 2.0),
            Shot("Roasted this morning", ("0x1F2937", "0xF59E0B"), None, 2.2),
            Shot("Open 7 to 7", ("0x0C4A6E", "0xE0F2FE"), None, 1.8),
        ),
        audio=False,
    ),
)


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")


def _font() -> str | None:
    for candidate in FONTS:
        if Path(candidate).is_file():
            return candidate
    return None


def _speak(text: str, path: Path) -> float:
    """Speak ``text`` into ``path`` (WAV) and return its duration in seconds."""
    _run(["espeak-ng", "-v", "en-us", "-s", "175", "-w", str(path), text])
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def _frames(seconds: float) -> int:
    return max(1, round(seconds * FPS))


def _video_source(shot: Shot, index: int, frames: int, work: Path, font: str | None) -> str:
    w, h = SIZE
    c0, c1 = shot.colors
    src = (
        f"gradients=s={w}x{h}:r={FPS}:c0={c0}:c1={c1}:x0=0:y0=0:x1={w}:y1={h}"
        f":seed={index + 1}:speed=0.03:d={frames / FPS:.3f}"
    )
    if font is None:
        return src
    title = work / f"title{index}.txt"
    title.write_text(shot.title, encoding="utf-8")
    text = (
        f",drawtext=fontfile={font}:textfile={title}:expansion=none:fontsize=34:fontcolor=white"
        ":box=1:boxcolor=black@0.35:boxborderw=8:x=(w-text_w)/2:y=h*0.36"
    )
    if shot.line:
        caption = work / f"caption{index}.txt"
        caption.write_text(shot.line, encoding="utf-8")
        text += (
            f",drawtext=fontfile={font}:textfile={caption}:expansion=none:fontsize=15:fontcolor=white"
            ":box=1:boxcolor=black@0.5:boxborderw=4:x=(w-text_w)/2:y=h-text_h-14"
        )
    return src + text


def _audio_filter(index: int, shot_no: int, seconds: float, spoken: bool) -> str:
    """Pad (and delay) one shot's audio input to exactly the shot's length."""
    delay = int(LEAD_S * 1000) if spoken else 0
    return (
        f"[{index}:a]aformat=sample_rates=22050:channel_layouts=mono,adelay={delay}:all=1,"
        f"apad,atrim=end={seconds:.3f},asetpts=PTS-STARTPTS[a{shot_no}]"
    )


def make_clip(clip: Clip, dest: Path, work: Path) -> list[float]:
    """Encode ``clip`` to ``dest`` (H.264 CRF 30, AAC 48 kb/s mono); returns the shot lengths."""
    font = _font()
    inputs: list[str] = []
    streams: list[str] = []  # concat inputs, in order: [v0][a0][v1][a1]... or [v0][v1]...
    filters: list[str] = []
    lengths: list[float] = []
    for i, shot in enumerate(clip.shots):
        speech_s = _speak(shot.line, work / f"line{i}.wav") if shot.line and clip.audio else 0.0
        frames = _frames(max(shot.min_s, LEAD_S + speech_s + TAIL_S if speech_s else 0.0))
        seconds = frames / FPS
        lengths.append(seconds)
        inputs += ["-f", "lavfi", "-i", _video_source(shot, i, frames, work, font) + ",format=yuv420p"]
        streams.append(f"[{_count_inputs(inputs) - 1}:v]")
        if clip.audio:
            if speech_s:
                inputs += ["-i", str(work / f"line{i}.wav")]
            else:
                inputs += ["-f", "lavfi", "-i", f"anullsrc=r=22050:cl=mono:d={seconds:.3f}"]
            filters.append(_audio_filter(_count_inputs(inputs) - 1, i, seconds, bool(speech_s)))
            streams.append(f"[a{i}]")
    n = len(clip.shots)
    if clip.audio:
        filters.append(f"{''.join(streams)}concat=n={n}:v=1:a=1[v][a]")
        maps = ["-map", "[v]", "-map", "[a]", "-c:a", "aac", "-b:a", "48k", "-ac", "1", "-ar", "44100"]
        maps += ["-flags:a", "+bitexact"]
    else:
        filters.append(f"{''.join(streams)}concat=n={n}:v=1:a=0[v]")
        maps = ["-map", "[v]"]
    cmd = ["ffmpeg", "-y", "-loglevel", "error", *inputs, "-filter_complex", ";".join(filters), *maps]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-pix_fmt", "yuv420p", "-threads", "1"]
    cmd += ["-g", "250", "-r", str(FPS), "-map_metadata", "-1", "-fflags", "+bitexact"]
    cmd += ["-flags:v", "+bitexact", str(dest)]
    _run(cmd)
    return lengths


def _count_inputs(args: list[str]) -> int:
    return sum(1 for a in args if a == "-i")


def make_all(dest_dir: Path = MEDIA_DIR) -> dict[str, list[float]]:
    """Write every clip and ``broken.mp4`` into ``dest_dir``; returns shot lengths per clip."""
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (needed to make the sample media)")
    dest_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vi-examples-") as tmp:
        for clip in CLIPS:
            work = Path(tmp) / clip.name
            work.mkdir()
            made[clip.name] = make_clip(clip, dest_dir / clip.name, work)
    data = (dest_dir / CLIPS[0].name).read_bytes()
    (dest_dir / BROKEN).write_bytes(data[:BROKEN_BYTES])
    return made


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MEDIA_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    made = make_all(args.out)
    for name, lengths in made.items():
        size = (args.out / name).stat().st_size
        shots = ", ".join(f"{s:.2f}" for s in lengths)
        print(f"{name}: {sum(lengths):.2f} s, shots [{shots}] s, {size / 1024:.0f} KiB")
    print(f"{BROKEN}: first {BROKEN_BYTES} bytes of {CLIPS[0].name} (undecodable on purpose)")


if __name__ == "__main__":
    main()
