"""Test videos with known burned-in text: headlines (花字) and subtitles drawn by ffmpeg's drawtext
with a CJK font (fonts-wqy-microhei, installed by ``scripts/bootstrap --test``), per shot, on
textured moving backgrounds, in four styles (white, yellow, outlined, boxed), vertical and
horizontal. Each video says what was drawn where and when (:class:`Drawn`), so tests and bench/
can score what the OCR step read against it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FONT", "STYLES", "TEXT_VIDEOS", "Drawn", "TextShot", "TextVideo", "font_file", "make_text_video"]

FONT = "WenQuanYi Micro Hei"
# Textured, moving backgrounds (no text of their own: testsrc2 draws digits)
BACKGROUNDS = (
    "mandelbrot=size={w}x{h}:rate={fps}",
    "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.3:seed=1:death_color=#C83232:life_color=#00ff00",
    "cellauto=size={w}x{h}:rate={fps}:rule=110:seed=1",
    "gradients=size={w}x{h}:rate={fps}:speed=0.05:n=5:seed=5,noise=alls=12:allf=t:all_seed=11",
    "smptehdbars=size={w}x{h}:rate={fps}",
)
STYLES = {
    "white": "fontcolor=white:shadowcolor=black@0.8:shadowx=2:shadowy=2",
    "yellow": "fontcolor=yellow:borderw=3:bordercolor=black",
    "outlined": "fontcolor=white:borderw=4:bordercolor=black",
    "boxed": "fontcolor=white:box=1:boxcolor=black@0.65:boxborderw=12",
}


@dataclass(frozen=True)
class Drawn:
    """One piece of text drawn on the video: what, when, where (``y`` as a fraction of the height),
    how large (``size`` as a fraction of the short side), in which style, and which kind it is."""

    text: str
    start_s: float
    end_s: float
    kind: str  # "overlay" | "subtitle"
    y: float
    size: float
    style: str


@dataclass(frozen=True)
class TextShot:
    seconds: float
    drawn: tuple[Drawn, ...] = ()


@dataclass(frozen=True)
class TextVideo:
    path: Path
    size: tuple[int, int]
    fps: int
    shots: tuple[TextShot, ...]

    @property
    def duration_s(self) -> float:
        return sum(s.seconds for s in self.shots)

    @property
    def drawn(self) -> list[Drawn]:
        return [d for shot in self.shots for d in shot.drawn]

    def shot_start(self, index: int) -> float:
        return sum(s.seconds for s in self.shots[:index])


def _headline(text: str, t0: float, t1: float, style: str, y: float = 0.15, size: float = 0.1) -> Drawn:
    return Drawn(text, t0, t1, "overlay", y, size, style)


def _subtitle(text: str, t0: float, t1: float, style: str = "white") -> Drawn:
    return Drawn(text, t0, t1, "subtitle", 0.84, 0.05, style)


# name → (size, shots); each shot's text is drawn inside it (times are absolute)
TEXT_VIDEOS: dict[str, tuple[tuple[int, int], tuple[TextShot, ...]]] = {
    "vertical": (
        (720, 1280),
        (
            TextShot(
                2.0,
                (_headline("限时优惠", 0, 2, "yellow"), _subtitle("今天给大家推荐一款咖啡机", 0, 2, "boxed")),
            ),
            TextShot(
                2.0,
                (
                    _headline("买一送一", 2, 4, "outlined", y=0.4, size=0.14),
                    _subtitle("第一杯现磨", 2, 3, "outlined"),
                    _subtitle("第二杯半价", 3, 4, "outlined"),
                ),
            ),
            TextShot(2.0),  # no text at all
            TextShot(
                2.0,
                (_headline("全国包邮 SALE 50%", 6, 8, "boxed"), _subtitle("下单立减20元", 6, 8, "yellow")),
            ),
        ),
    ),
    "horizontal": (
        (1280, 720),
        (
            TextShot(
                2.5,
                (
                    _headline("NEW ARRIVAL 2026", 0, 2.5, "white"),
                    _subtitle("Free shipping on orders over 99", 0, 2.5),
                ),
            ),
            TextShot(
                2.5,
                (
                    _headline("夏日特惠", 2.5, 5, "yellow", y=0.3),
                    _subtitle("第二件半价 仅限今天", 2.5, 5, "boxed"),
                ),
            ),
        ),
    ),
}


def font_file() -> str:
    """The CJK font's file, found by fontconfig."""
    out = subprocess.run(
        ["fc-match", "-f", "%{file}", FONT], check=True, capture_output=True, text=True
    ).stdout
    if "wqy" not in out.lower():
        raise RuntimeError(
            f"{FONT} is not installed (apt-get install fonts-wqy-microhei); fc-match gave {out!r}"
        )
    return out


def _drawtext(d: Drawn, font: str, text_file: Path, w: int, h: int) -> str:
    px = round(d.size * min(w, h))
    return (
        f"drawtext=fontfile={font}:textfile={text_file}:expansion=none:fontsize={px}:{STYLES[d.style]}"
        f":x=(w-text_w)/2:y={d.y:.3f}*h-text_h/2:enable='between(t,{d.start_s},{d.end_s - 0.001})'"
    )


def make_text_video(path: Path, size: tuple[int, int], shots: Sequence[TextShot], fps: int = 25) -> TextVideo:
    """An H.264 MP4 (no audio) of ``shots``, each on its own background, with its text drawn."""
    if len(shots) > len(BACKGROUNDS):
        raise ValueError(f"at most {len(BACKGROUNDS)} shots")
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    font = font_file()
    cmd = ["ffmpeg", "-y", "-loglevel", "error"]
    for i, shot in enumerate(shots):
        src = BACKGROUNDS[i].format(w=w, h=h, fps=fps)
        cmd += ["-f", "lavfi", "-i", f"{src},format=yuv420p,trim=duration={shot.seconds},setpts=PTS-STARTPTS"]
    inputs = "".join(f"[{i}:v]" for i in range(len(shots)))
    draws = []
    for k, d in enumerate(s for shot in shots for s in shot.drawn):
        text_file = path.with_suffix(f".text{k}.txt")
        text_file.write_text(d.text, encoding="utf-8")
        draws.append(_drawtext(d, font, text_file, w, h))
    graph = f"{inputs}concat=n={len(shots)}:v=1:a=0" + "".join("," + d for d in draws) + "[v]"
    # at most what a platform serves a 720p ad (a few Mbit/s): busy backgrounds stay blocky, as there
    cap = f"{max(1, round(4 * w * h / (720 * 1280)))}M"
    cmd += ["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "medium", "-crf", "23"]
    cmd += ["-maxrate", cap, "-bufsize", cap]
    cmd += ["-pix_fmt", "yuv420p", "-r", str(fps), str(path)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for k in range(len(draws)):
        path.with_suffix(f".text{k}.txt").unlink(missing_ok=True)
    return TextVideo(path, size, fps, tuple(shots))
