"""Shot accuracy on hard test media; the coarse scan places the full pass's cuts, decoding less."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from steps import Settings, ShotsRecord, StepContext, load_artifact
from steps._media.frames import open_video
from steps._media.packets import read_packet_index
from steps._ocr.bands import SAMPLE_S, BandSampler
from steps._shots import FrameScores, analyze, detect_cuts, make_rule
from steps._shots.coarse import ScanPlan, coarse_analyze, plan_for, plan_scan
from steps.shots import SCORES_FILE, handler
from tests.media import MadeVideo, make_video
from tests.steps._ws import make_task

from .test_shots import _run

pytestmark = pytest.mark.slow

ALL_VIDEOS = [
    "motion",
    "motion_ultrafast",
    "motion_gop2s",
    "motion_capped",
    "transitions",
    "transitions_motion",
    "fast_cuts",
    "motion_no_cut",
    "vertical",
]
# videos with B-frames: the only ones the scan can decode less of
SPARSE_VIDEOS = [v for v in ALL_VIDEOS if v != "motion_ultrafast"]


def _full(path: Path) -> FrameScores:
    with open_video(path) as video:
        return analyze(video).scores


def _cuts(scores: FrameScores, detector: str) -> list[int]:
    return detect_cuts(scores, detector=detector, threshold=None, min_shot_frames=12)  # type: ignore[arg-type]


def _coarse(
    path: Path, detector: str = "hybrid", plan: ScanPlan | None = None, decoders: int = 1
) -> FrameScores:
    index = read_packet_index(path)
    assert index is not None
    if plan is None:
        plan = plan_scan(index, make_rule(detector, None, 12), {}, worth=float("inf"))  # type: ignore[arg-type]
    assert plan.path == "coarse", plan.reason
    with open_video(path) as video:
        return coarse_analyze(video, index, plan, decoders=decoders).scores


@pytest.mark.parametrize("name", ["motion", "motion_ultrafast", "motion_gop2s"])
def test_hybrid_finds_every_hard_cut_between_high_motion_shots(
    shot_videos: dict[str, MadeVideo], name: str
) -> None:
    video = shot_videos[name]
    scores = _full(video.path)
    assert video.f1(_cuts(scores, "hybrid")) == 1.0
    # where AdaptiveDetector (the old default) misses cuts, and ContentDetector adds false ones
    assert video.f1(_cuts(scores, "adaptive")) < 0.8
    assert video.f1(_cuts(scores, "content")) < 1.0


@pytest.mark.parametrize("name", ALL_VIDEOS)
def test_hybrid_is_at_least_as_accurate_as_content_and_adaptive(
    shot_videos: dict[str, MadeVideo], name: str
) -> None:
    video = shot_videos[name]
    scores = _full(video.path)
    f1 = {d: video.f1(_cuts(scores, d)) for d in ("hybrid", "adaptive", "content")}
    assert f1["hybrid"] >= max(f1["adaptive"], f1["content"]), f1


def test_gradual_transitions_are_found_where_frame_differences_are_weakest(
    shot_videos: dict[str, MadeVideo],
) -> None:
    video = shot_videos["transitions"]
    cuts = _cuts(_full(video.path), "hybrid")
    assert video.f1(cuts) == 1.0, cuts  # both dissolves and the fade through black
    assert video.f1(_cuts(_full(video.path), "adaptive")) < 0.8


@pytest.mark.parametrize("name", SPARSE_VIDEOS)
@pytest.mark.parametrize("detector", ["hybrid", "adaptive"])
def test_scan_places_exactly_the_cuts_of_the_full_pass(
    shot_videos: dict[str, MadeVideo], name: str, detector: str
) -> None:
    video = shot_videos[name]
    # two decoders side by side where the video is long enough (one stretch each)
    full, sparse = _full(video.path), _coarse(video.path, detector, decoders=2)
    assert _cuts(sparse, detector) == _cuts(full, detector)
    # every frame it measured, it measured to the bit as the full pass did
    measured = ~np.isnan(sparse.content)
    assert measured.sum() > 10
    assert np.array_equal(sparse.content[measured], full.content[measured])
    assert np.array_equal(sparse.times_s, full.times_s)
    assert np.array_equal(sparse.keyframes_s, full.keyframes_s)


def test_scan_decodes_fewer_frames_where_the_stream_allows(tmp_path: Path) -> None:
    # 20 s of calm shots, three cuts, x264's defaults: B-frames and a keyframe at each cut
    made = make_video(tmp_path / "calm.mp4", (150, 120, 130, 100), audio=False, encoding="medium")
    index = read_packet_index(made.path)
    plan = plan_scan(index, make_rule("hybrid", None, 12), {})
    assert plan.path == "coarse", plan.reason
    assert "3 intra pictures" in plan.reason
    sparse = _coarse(made.path)
    assert sparse.scan.frames_decoded < 0.7 * made.n_frames
    assert np.isnan(sparse.content).mean() > 0.5
    assert _cuts(sparse, "hybrid") == list(made.cut_frames) == _cuts(_full(made.path), "hybrid")


@pytest.mark.parametrize("name", ["motion", "transitions", "fast_cuts"])
def test_thumbnails_find_the_cuts_the_packets_do_not_show(
    shot_videos: dict[str, MadeVideo], name: str
) -> None:
    # a plan with no candidates at all: only the thumbnail check (and re-decoding where frames
    # around a change were skipped) can find the cuts
    video = shot_videos[name]
    index = read_packet_index(video.path)
    assert index is not None
    real = plan_scan(index, make_rule("hybrid", None, 12), {}, worth=float("inf"))
    blind = ScanPlan(
        "coarse",
        "no candidates",
        np.zeros_like(real.wanted),
        index.ref.copy(),
        (),
        real.before,
        real.after,
        real.busy,
    )
    sparse = _coarse(video.path, plan=blind)
    assert _cuts(sparse, "hybrid") == _cuts(_full(video.path), "hybrid")
    assert re.search(r"; [1-9][0-9]* changes found by thumbnails", sparse.scan.reason), sparse.scan.reason


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


def test_full_pass_where_the_stream_gives_no_signal(
    shot_videos: dict[str, MadeVideo], tmp_path: Path
) -> None:
    rule = make_rule("hybrid", None, 12)
    # every frame a keyframe
    intra = tmp_path / "intra.mp4"
    _ffmpeg("-i", str(shot_videos["fast_cuts"].path), "-c:v", "libx264", "-g", "1", str(intra))
    assert "intra-coded" in plan_scan(read_packet_index(intra), rule, {}).reason
    # no B-frames: every picture must be decoded anyway (the stream's header says so)
    ultrafast = shot_videos["motion_ultrafast"].path
    plan = plan_scan(read_packet_index(ultrafast), rule, {})
    assert (plan.path, plan.reason) == (
        "full",
        "every picture is a reference: no frame can be left undecoded",
    )
    with open_video(ultrafast) as video:
        plan, index = plan_for(video, rule, {})
    assert (plan.path, index) == ("full", None) and "no B-frames" in plan.reason  # too short to split
    # a raw H.264 stream: no timestamps to number the frames
    raw = tmp_path / "raw.h264"
    _ffmpeg("-i", str(shot_videos["fast_cuts"].path), "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", str(raw))
    assert read_packet_index(raw) is None
    assert plan_scan(None, rule, {}).path == "full"
    # a detector that needs every frame
    index = read_packet_index(shot_videos["motion"].path)
    assert "needs every frame" in plan_scan(index, make_rule("content", None, 12), {}).reason
    assert "needs every frame" in plan_scan(index, make_rule("adaptive", 1.5, 12), {}).reason


def test_the_coarse_scan_samples_the_subtitle_band_from_the_frames_it_decodes(tmp_path: Path) -> None:
    made = make_video(tmp_path / "calm.mp4", (150, 120, 130, 100), audio=False, encoding="medium")
    index = read_packet_index(made.path)
    assert index is not None
    plan = plan_scan(index, make_rule("hybrid", None, 12), {})
    assert plan.path == "coarse", plan.reason
    sparse, every = BandSampler(), BandSampler()
    with open_video(made.path) as video:
        scores = coarse_analyze(video, index, plan, tap=sparse.offer).scores
    with open_video(made.path) as video:
        analyze(video, tap=every.offer)
    assert scores.scan.frames_decoded < made.n_frames  # B-frames were skipped, and a sample still
    assert len(sparse.times_s) == len(every.times_s) == made.n_frames // 25 * 2  # every half second
    same = 0
    for k, (t, jpeg) in enumerate(zip(sparse.times_s, sparse.jpegs, strict=True)):
        assert k * SAMPLE_S <= t < k * SAMPLE_S + 4 / 25  # ... from a reference picture nearby
        if t == every.times_s[k]:
            assert jpeg == every.jpegs[k]  # the same frame gives the same band
            same += 1
    assert same >= len(every.times_s) // 4, same


def test_step_records_which_path_ran(settings: Settings, tmp_path: Path) -> None:
    made = make_video(tmp_path / "calm.mp4", (150, 120, 130, 100), audio=False, encoding="medium")
    _, record = _run(settings, made.path)
    assert isinstance(record, ShotsRecord) and record.scan is not None
    assert (record.scan.path, record.scan.frame_count) == ("coarse", made.n_frames)
    assert record.scan.frames_decoded < made.n_frames
    assert [round(s.start_s * 25) for s in record.shots[1:]] == list(made.cut_frames)
    # keyframes come from the frames the scan measured, each inside its shot, away from the cuts
    for shot in record.shots:
        assert shot.keyframe_s is not None and shot.start_s + 0.4 <= shot.keyframe_s < shot.end_s - 0.4
    _, record = _run(settings, made.path, {"shots": {"detector": "content"}})
    assert record.scan is not None and record.scan.path == "full"
    assert record.scan.frame_count == made.n_frames <= record.scan.frames_decoded  # + where stretches meet


def test_another_detector_replays_a_scan_only_when_it_measured_enough(
    settings: Settings, tmp_path: Path
) -> None:
    made = make_video(tmp_path / "calm.mp4", (150, 120, 130, 100), audio=False, encoding="medium")
    ws, (vid,) = make_task(settings, [made.path], {"shots": {"detector": "adaptive"}})
    event, ctx = {"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings)
    scores = ws.video_dir(vid) / SCORES_FILE

    def switch(detector: str) -> tuple[str, bool]:
        saved = scores.stat().st_mtime_ns
        manifest = json.loads(ws.manifest.read_text(encoding="utf-8"))
        manifest["options"]["shots"]["detector"] = detector
        ws.manifest.write_text(json.dumps(manifest), encoding="utf-8")
        assert handler(event, ctx)["shot_count"] == 4
        record = load_artifact(ws.video_dir(vid), ShotsRecord)
        assert record is not None and record.scan is not None
        return record.scan.path, scores.stat().st_mtime_ns == saved

    handler(event, ctx)
    # an adaptive scan measured too little for the hybrid rule (which looks half a second ahead)
    assert switch("hybrid") == ("coarse", False)
    # a hybrid scan measured all that the adaptive rule needs
    assert switch("adaptive") == ("coarse", True)
    # ContentDetector needs every frame: a full pass, which any detector then replays
    assert switch("content") == ("full", False)
    assert switch("hybrid") == ("full", True)
