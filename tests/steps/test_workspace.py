"""The task workspace's paths: getters never touch the disk; steps create what they write into."""

from __future__ import annotations

from pathlib import Path

import pytest

from steps import Settings, StepContext, TaskWorkspace
from steps.errors import InvalidStepInput
from steps.shots import handler as shots_handler
from tests.steps._ws import write_manifest


def test_video_dir_is_only_a_path_and_make_video_dir_creates_it(tmp_path: Path) -> None:
    ws = TaskWorkspace(tmp_path, "t1")
    path = ws.video_dir("v1")
    assert path == tmp_path / "tasks" / "t1" / "videos" / "v1"
    assert not (tmp_path / "tasks").exists()
    assert ws.make_video_dir("v1") == path
    assert path.is_dir()
    for bad in ("../v1", "v1/x", ""):
        with pytest.raises(InvalidStepInput, match="invalid video id"):
            ws.video_dir(bad)
        with pytest.raises(InvalidStepInput, match="invalid video id"):
            ws.make_video_dir(bad)


def test_a_step_refused_for_a_video_never_fetched_creates_no_video_folder(settings: Settings) -> None:
    ws = write_manifest(settings, "t1", {"v9": "/in/v9.mp4"})
    with pytest.raises(InvalidStepInput, match=r"no fetch\.json"):
        shots_handler({"task_id": ws.task_id, "video_id": "v9"}, StepContext(settings=settings))
    assert not ws.video_dir("v9").exists()
