"""The Shots step on real media: cut positions, sharp keyframes, screenshots, duplicates, the sheet."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scenedetect import ContentDetector

from steps import Settings, ShotsRecord, StepContext, load_artifact, load_progress
from steps._media.frames import grab_frames, open_video
from steps._shots import sharpness
from steps._shots.prefetch import prefetched
from steps._shots.score import ContentScore, i420_to_bgr
from steps.errors import CorruptVideo, InvalidStepInput
from steps.shots import CONTACT_SHEET, SCORES_FILE, handler
from tests.media import MadeVideo, make_video
from tests.steps._ws import make_task

pytestmark = pytest.mark.slow

BIKES_CUTS = (30, 76, 137, 187, 242)  # checked frame by frame: each is a hard cut to a new scene


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


def _run(settings: Settings, video: Path, options: dict | None = None) -> tuple[Path, ShotsRecord]:
    ws, (vid,) = make_task(settings, [video], options)
    out = handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
    record = load_artifact(ws.video_dir(vid), ShotsRecord)
    assert record is not None
    assert out == {"task_id": ws.task_id, "video_id": vid, "shot_count": len(record.shots)}
    return ws.video_dir(vid), record


def _assert_cuts(record: ShotsRecord, cut_frames: tuple[int, ...], fps: float) -> None:
    starts = [s.start_s for s in record.shots[1:]]
    assert len(starts) == len(cut_frames), starts
    for got, frame in zip(starts, cut_frames, strict=True):
        assert abs(got * fps - frame) <= 1.0, (starts, cut_frames)


# The "life" shot starts from random noise that settles over ~25 frames: its frame-to-frame change
# reaches ~37 there, over the content detector's default 27, while every real cut scores ~105.
@pytest.mark.parametrize(("detector", "threshold"), [("hybrid", None), ("adaptive", None), ("content", 45.0)])
def test_cuts_of_generated_video_within_one_frame(
    settings: Settings, speech_video: MadeVideo, detector: str, threshold: float | None
) -> None:
    options = {"shots": {"detector": detector, "threshold": threshold}}
    video_dir, record = _run(settings, speech_video.path, options)
    assert record.detector == detector
    assert record.threshold == (3.0 if threshold is None else threshold)
    _assert_cuts(record, speech_video.cut_frames, speech_video.fps)
    assert record.shots[0].start_s == 0.0
    assert record.shots[-1].end_s == pytest.approx(speech_video.duration_s, abs=0.001)
    for a, b in zip(record.shots, record.shots[1:], strict=False):
        assert a.end_s == b.start_s
    assert [s.index for s in record.shots] == [1, 2, 3, 4]
    assert (video_dir / SCORES_FILE).is_file()


@pytest.mark.parametrize("detector", ["hybrid", "adaptive", "content"])
def test_cuts_of_bikes_within_one_frame(settings: Settings, bikes: Path, detector: str) -> None:
    _, record = _run(settings, bikes, {"shots": {"detector": detector}})
    _assert_cuts(record, BIKES_CUTS, 25.0)
    assert record.shots[-1].end_s == pytest.approx(10.0, abs=0.001)


def test_keyframes_lie_inside_their_shots_at_full_size(settings: Settings, speech_video: MadeVideo) -> None:
    video_dir, record = _run(settings, speech_video.path)
    assert record.dropped_duplicates == 0
    for shot in record.shots:
        assert shot.keyframe == f"keyframes/shot_{shot.index:03d}.jpg"
        assert shot.keyframe_s is not None and shot.start_s <= shot.keyframe_s < shot.end_s
        with Image.open(video_dir / shot.keyframe) as img:
            assert (img.format, img.size) == ("JPEG", (320, 240))
    # each keyframe shows its own shot: it matches the frame decoded at its time, not a neighbour
    times = [s.keyframe_s for s in record.shots]
    frames = grab_frames(video_dir / "source.mp4", times)
    for shot, frame in zip(record.shots, frames, strict=True):
        with Image.open(video_dir / shot.keyframe) as img:
            diff = np.abs(np.asarray(img.convert("RGB"), dtype=np.int16) - frame).mean()
        assert diff < 6, (shot.index, diff)


def test_keyframe_is_the_sharp_part_of_a_shot_not_its_first_frame(settings: Settings, tmp_path: Path) -> None:
    # one 4 s shot: blurred for the first 60 frames, sharp for the last 40
    src = tmp_path / "blur.mp4"
    _ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25,trim=end_frame=100"),
        *("-vf", "gblur=sigma=6:enable='lt(n,60)'", "-c:v", "libx264", "-preset", "ultrafast"),
        *("-pix_fmt", "yuv420p", str(src)),
    )
    video_dir, record = _run(settings, src, {"shots": {"detector": "content"}})
    assert len(record.shots) == 1
    (shot,) = record.shots
    assert shot.keyframe_s is not None and shot.keyframe_s >= 60 / 25
    with Image.open(video_dir / shot.keyframe) as img:
        key = np.asarray(img.convert("L"))
    first = grab_frames(src, [0.0], fmt="gray")[0]
    assert sharpness(key) > 3 * sharpness(first)


def test_single_shot_video_is_one_shot_covering_it(settings: Settings, tmp_path: Path) -> None:
    made = make_video(tmp_path / "one.mp4", (60,), audio=False)
    _, record = _run(settings, made.path)
    assert [(s.index, s.start_s, s.end_s) for s in record.shots] == [(1, 0.0, 2.4)]


def test_screenshots_at_requested_times(settings: Settings, speech_video: MadeVideo) -> None:
    video_dir, record = _run(
        settings, speech_video.path, {"shots": {"screenshot_times_s": [2.5, 1.0, 100.0]}}
    )
    # 100 s is past the 8 s video: skipped, not an error
    assert [(s.time_s, s.path) for s in record.screenshots] == [
        (1.0, "screenshots/t_1000.jpg"),
        (2.5, "screenshots/t_2500.jpg"),
    ]
    expected = grab_frames(video_dir / "source.mp4", [1.0, 2.5])
    for shot, frame in zip(record.screenshots, expected, strict=True):
        with Image.open(video_dir / shot.path) as img:
            assert img.size == (320, 240)
            diff = np.abs(np.asarray(img.convert("RGB"), dtype=np.int16) - frame).mean()
        assert diff < 6


def test_contact_sheet_is_a_3x3_grid_of_the_video(settings: Settings, speech_video: MadeVideo) -> None:
    video_dir, record = _run(settings, speech_video.path)
    assert record.contact_sheet == CONTACT_SHEET
    with Image.open(video_dir / CONTACT_SHEET) as img:
        assert img.format == "JPEG"
        sheet = np.asarray(img.convert("RGB"), dtype=np.int16)
    gap, tile_w, tile_h = 4, 320, 240
    assert sheet.shape == (3 * tile_h + 4 * gap, 3 * tile_w + 4 * gap, 3)
    # tile k shows the frame at (k + 0.5) / 9 of the video (its top half: the label sits at the bottom)
    times = [speech_video.duration_s * (k + 0.5) / 9 for k in range(9)]
    for k, frame in enumerate(grab_frames(video_dir / "source.mp4", times)):
        x, y = gap + (k % 3) * (tile_w + gap), gap + (k // 3) * (tile_h + gap)
        tile = sheet[y : y + tile_h // 2, x : x + tile_w]
        assert np.abs(tile - frame[: tile_h // 2]).mean() < 8, k


def test_identical_shots_share_one_keyframe(settings: Settings, tmp_path: Path) -> None:
    # A B A: the third shot repeats the first, so its keyframe is not written twice
    src = tmp_path / "aba.mp4"
    bars, other = "smptehdbars=size=320x240:rate=25", "mandelbrot=size=320x240:rate=25"
    _ffmpeg(
        *("-f", "lavfi", "-i", f"{bars},trim=end_frame=40,setpts=PTS-STARTPTS"),
        *("-f", "lavfi", "-i", f"{other},trim=end_frame=40,setpts=PTS-STARTPTS"),
        *("-f", "lavfi", "-i", f"{bars},trim=end_frame=40,setpts=PTS-STARTPTS"),
        *("-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]", "-map", "[v]"),
        *("-c:v", "libx264", "-preset", "ultrafast", str(src)),
    )
    video_dir, record = _run(settings, src)
    assert len(record.shots) == 3
    assert record.dropped_duplicates == 1
    assert record.shots[2].keyframe == record.shots[0].keyframe == "keyframes/shot_001.jpg"
    assert record.shots[1].keyframe == "keyframes/shot_002.jpg"
    assert sorted(p.name for p in (video_dir / "keyframes").iterdir()) == ["shot_001.jpg", "shot_002.jpg"]


def test_rerun_is_idempotent_and_a_new_threshold_needs_no_decoding(
    settings: Settings, speech_video: MadeVideo
) -> None:
    options = {"shots": {"detector": "content", "threshold": 45.0}}
    ws, (vid,) = make_task(settings, [speech_video.path], options)
    event, ctx = {"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings)
    handler(event, ctx)
    video_dir = ws.video_dir(vid)
    shots_json, scores = video_dir / "shots.json", video_dir / SCORES_FILE
    first = (shots_json.stat().st_mtime_ns, scores.stat().st_mtime_ns)
    assert handler(event, ctx)["shot_count"] == 4
    assert (shots_json.stat().st_mtime_ns, scores.stat().st_mtime_ns) == first
    # a threshold no cut reaches: one shot, computed from the saved scores (no new decoding pass)
    manifest = json.loads(ws.manifest.read_text(encoding="utf-8"))
    manifest["options"]["shots"]["threshold"] = 250.0
    ws.manifest.write_text(json.dumps(manifest))
    assert handler(event, ctx)["shot_count"] == 1
    assert scores.stat().st_mtime_ns == first[1]
    record = load_artifact(video_dir, ShotsRecord)
    assert record is not None and record.threshold == 250.0
    assert [p.name for p in (video_dir / "keyframes").iterdir()] == ["shot_001.jpg"]
    _, videos = load_progress(ws)
    assert videos[0]["stages"]["shots"] == "ok"


def test_truncated_video_is_corrupt(settings: Settings, speech_video: MadeVideo, tmp_path: Path) -> None:
    broken = tmp_path / "cut.mp4"
    data = speech_video.path.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    ws, (vid,) = make_task(settings, [broken])
    with pytest.raises(CorruptVideo, match=r"cannot be decoded"):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))


def test_missing_fetch_record_is_invalid_input(settings: Settings, speech_video: MadeVideo) -> None:
    ws, (vid,) = make_task(settings, [speech_video.path])
    os.remove(ws.video_dir(vid) / "fetch.json")
    with pytest.raises(InvalidStepInput, match=r"fetch\.json"):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))


def test_grabbed_frames_equal_the_decoding_pass(bikes: Path) -> None:
    with open_video(bikes) as video:
        picks = {3, 29, 30, 31, 120, 249}
        keys: list[float] = []
        seen: dict[int, np.ndarray] = {}
        for frame in video.frames():
            if frame.key:
                keys.append(frame.time_s)
            if frame.index in picks:
                seen[frame.index] = frame.render()
    order = [249, 30, 29, 3, 120, 31]
    for grabbed_with in ((), keys):
        got = grab_frames(bikes, [i / 25 for i in order], keyframes_s=grabbed_with)
        for i, image in zip(order, got, strict=True):
            assert np.array_equal(image, seen[i]), i


def test_content_score_is_pyscenedetects_content_val(bikes: Path) -> None:
    # our OpenCV score must be the number ContentDetector computes itself, frame by frame
    reference = ContentDetector()
    ours = ContentScore()
    with open_video(bikes) as video:
        for frame in video.frames(fmt="yuv420p", fast=True):
            bgr = i420_to_bgr(frame.image)
            expected = reference._calculate_frame_score(frame.index, bgr)
            assert ours(bgr) == pytest.approx(expected, abs=1e-9), frame.index


def test_prefetch_hands_over_items_and_errors_and_stops_its_thread() -> None:
    def source(fail_at: int | None) -> Iterator[int]:
        for i in range(100):
            if i == fail_at:
                raise CorruptVideo("broken at 7")
            yield i

    assert list(prefetched(source(None), depth=4)) == list(range(100))
    with pytest.raises(CorruptVideo, match="broken at 7"):
        list(prefetched(source(7), depth=4))
    before = threading.active_count()
    with closing(prefetched(source(None), depth=2)) as items:
        assert next(items) == 0
    assert threading.active_count() == before  # the producer was stopped and joined
