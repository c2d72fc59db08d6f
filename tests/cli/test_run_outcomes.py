"""``video-insight run`` as two users or a full disk meet it: one execution, the real outcome, resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.httpserver import LocalHTTPServer, Reply
from tests.media import MadeVideo
from tests.polling import poll
from tests.tinyfs import needs_namespaces, run_with_tmpfs
from video_insight.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "media"


def _env(ws: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "VI_WORKSPACE": str(ws), "VI_ALLOW_LOOPBACK": "true"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "video_insight", *args]


def _comparable(results_file: Path) -> dict[str, Any]:
    results = json.loads(results_file.read_text(encoding="utf-8"))
    for when in ("created_at", "finished_at"):
        results.pop(when)
    return dict(results)


def test_a_second_run_of_a_running_task_waits_for_it_and_reports_its_outcome(
    tmp_path: Path, silent_video: MadeVideo
) -> None:
    ws = tmp_path / "ws"
    gate = threading.Event()
    with LocalHTTPServer() as origin:
        url = origin.route("/clip.mp4", Reply(200, silent_video.path.read_bytes(), gate=gate))
        batch = tmp_path / "batch.json"
        batch.write_text(json.dumps({"task_id": "shared", "videos": [{"name": "clip", "url": url}]}), "utf-8")
        first_cmd = _cli("run", str(batch), "--out", str(tmp_path / "a"))
        second_cmd = _cli("run", str(batch), "--out", str(tmp_path / "b"))
        with subprocess.Popen(
            first_cmd, env=_env(ws), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as first:
            try:
                assert poll(lambda: origin.hits["/clip.mp4"] > 0, seconds=60.0), "the first run never fetched"
                with subprocess.Popen(
                    second_cmd, env=_env(ws), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                ) as second:
                    assert second.stdout is not None
                    waiting = second.stdout.readline()  # it waits: the first run is held at Fetch
                    gate.set()
                    out2, err2 = second.communicate(timeout=120)
            finally:
                gate.set()
            out1, err1 = first.communicate(timeout=120)
    assert "already running elsewhere" in waiting and "已在运行" in waiting
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2  # today: exit 1 "task shared failed: None", or 0 with no results
    assert "1 of 1 videos analysed" in out1 and "1 of 1 videos analysed" in out2
    assert _comparable(tmp_path / "a" / "results.json") == _comparable(tmp_path / "b" / "results.json")
    history = (ws / "executions" / "video-insight" / "shared" / "history.jsonl").read_text("utf-8")
    assert history.count('"ExecutionStarted"') == 1 and origin.hits["/clip.mp4"] == 1


def test_a_second_run_of_a_failed_task_reports_the_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    batch = tmp_path / "batch.json"
    missing = str(tmp_path / "gone.mp4")
    batch.write_text(json.dumps({"task_id": "t_gone", "videos": [{"name": "x", "path": missing}]}), "utf-8")
    args = ["--workspace", str(tmp_path / "ws"), "run", str(batch), "--out", str(tmp_path / "o")]
    assert main(args) == 0  # a failed video is not a failed task
    capsys.readouterr()
    assert main(args) == 0
    out, _ = capsys.readouterr()
    assert "already has an execution" in out and "0 of 1 videos analysed, 1 failed" in out


@pytest.mark.slow
@needs_namespaces
def test_a_full_workspace_disk_ends_the_run_and_resume_gives_the_clean_result(tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    videos = [
        {"name": "silent", "path": str(EXAMPLES / "harbor_coffee_silent.mp4")},
        {"name": "lumen", "path": str(EXAMPLES / "lumen_bottle.mp4")},
    ]
    request = {"task_id": "disk_full", "videos": videos, "options": {"max_concurrency": 1}}
    batch.write_text(json.dumps(request), encoding="utf-8")
    clean = subprocess.run(
        _cli("run", str(batch), "--out", str(tmp_path / "clean")),
        env=_env(tmp_path / "ws_clean"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert clean.returncode == 0, clean.stderr

    ws, out = tmp_path / "ws", tmp_path / "out"
    env = _env(ws)
    run = " ".join(_cli("run", str(batch), "--out", str(out)))
    resume = " ".join(_cli("executions", "resume", "disk_full", "--out", str(out)))
    script = (
        f"{run} > {tmp_path}/run.out 2> {tmp_path}/run.err; echo $? > {tmp_path}/run.rc; "
        f"mount -o remount,size=64m tmpfs {ws} && "  # space is freed
        f"{resume} > {tmp_path}/resume.out 2> {tmp_path}/resume.err; echo $? > {tmp_path}/resume.rc"
    )
    done = run_with_tmpfs({ws: "size=200k"}, script, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    run_err = (tmp_path / "run.err").read_text("utf-8")
    # Today: both videos fail as FC.Unknown after retries (exit 0), or run hangs when the history fails.
    assert (tmp_path / "run.rc").read_text().strip() == "1"
    assert "工作目录磁盘已满" in run_err and "workspace disk full" in run_err
    assert run_err.splitlines()[-1].startswith("video-insight: error: 工作目录磁盘已满")
    assert "video-insight executions resume disk_full" in run_err
    assert not any(line.startswith("Traceback") for line in run_err.splitlines())  # logs are JSON lines
    assert (tmp_path / "resume.rc").read_text().strip() == "0", (tmp_path / "resume.err").read_text("utf-8")
    assert "2 of 2 videos analysed." in (tmp_path / "resume.out").read_text("utf-8")
    assert _comparable(out / "results.json") == _comparable(tmp_path / "clean" / "results.json")
