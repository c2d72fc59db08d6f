"""Test videos for shot detection: hard cuts in high motion, gradual transitions, GOP layouts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakefeishu import FakeFeishu
from tests.fakefeishu_bitable import FakeBitable, install_bitable
from tests.media import MOTION_SOURCES, MadeVideo, make_video, reencode

# name → how it is made; all 320x180 at 25 fps except the vertical one
_SHOT_VIDEOS = {
    # five hard cuts between shots that move fast everywhere, x264's defaults (B-frames)
    "motion": dict(shot_frames=(60, 45, 70, 50, 65, 55), sources=MOTION_SOURCES, encoding="medium"),
    # the same shots without B-frames and with keyframes every 250 frames only
    "motion_ultrafast": dict(shot_frames=(60, 45, 70, 50, 65, 55), sources=MOTION_SOURCES),
    # dissolves and fades through black between calm shots
    "transitions": dict(
        shot_frames=(50, 60, 70, 50, 60, 50),
        encoding="medium",
        transitions=(("cut", 0), ("fade", 12), ("fadeblack", 20), ("cut", 0), ("fade", 25)),
    ),
    # ... and between fast-moving shots
    "transitions_motion": dict(
        shot_frames=(50, 60, 70, 50, 60),
        sources=MOTION_SOURCES,
        encoding="medium",
        transitions=(("fade", 12), ("cut", 0), ("fadeblack", 20), ("fade", 25)),
    ),
    # shots shorter than a GOP
    "fast_cuts": dict(shot_frames=(16, 18, 15, 20, 17, 16), encoding="medium"),
    # one long fast-moving shot: no cut at all
    "motion_no_cut": dict(shot_frames=(120,), sources=MOTION_SOURCES, encoding="medium"),
    # a phone video's shape
    "vertical": dict(shot_frames=(25, 25, 25), size=(1080, 1920), encoding="medium"),
}


@pytest.fixture(scope="session")
def shot_videos(media_dir: Path) -> dict[str, MadeVideo]:
    """Every shot test video by name, plus ``motion_gop2s`` (``motion`` re-encoded by a platform
    with a keyframe every 2 s and none at scene cuts) and ``motion_capped`` (the same at 400 kbit/s:
    each keyframe brings new compression artefacts, which change the colours but not the layout)."""
    videos: dict[str, MadeVideo] = {}
    for name, how in _SHOT_VIDEOS.items():
        options = {"size": (320, 180), "audio": False, **how}
        videos[name] = make_video(media_dir / f"shots_{name}.mp4", **options)  # type: ignore[arg-type]
    videos["motion_gop2s"] = reencode(videos["motion"], media_dir / "shots_motion_gop2s.mp4", "gop2s")
    capped = media_dir / "shots_motion_capped.mp4"
    videos["motion_capped"] = reencode(videos["motion"], capped, "gop2s", max_kbps=400)
    return videos


@pytest.fixture
def fake() -> Iterator[FakeFeishu]:
    """A fake Feishu platform the real lark-oapi SDK talks to (tests/fakefeishu.py)."""
    with FakeFeishu() as server:
        yield server


@pytest.fixture
def base(fake: FakeFeishu) -> FakeBitable:
    """The fake platform's Bitable, drive and wiki routes."""
    return install_bitable(fake)
