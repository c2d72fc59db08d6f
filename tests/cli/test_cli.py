"""The ``video-insight`` command as a user runs it: the example batch, bad input, executions, flow tools."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

import flows
from video_insight.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], ws: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--workspace", str(ws), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def example_batch(tmp_path: Path) -> Path:
    """A copy of the README's example batch and its media (runs must not write into the repo)."""
    dest = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", dest)
    return dest / "batch.json"


@pytest.mark.slow
def test_example_batch_runs_offline_and_reports_the_broken_video(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, example_batch: Path
) -> None:
    out_dir = tmp_path / "out"
    code, out, _ = _run(capsys, tmp_path / "ws", "run", str(example_batch), "--out", str(out_dir))
    assert code == 0
    assert "3 of 4 videos analysed, 1 failed" in out
    assert (
        "Broken upload (truncated file)" in out
        and "视频已损坏，无法解码" in out
        and "（CorruptVideo）" in out
    )
    assert f"report:  {out_dir / 'report.html'}" in out
    results = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    assert results["counts"] == {"total": 4, "ok": 3, "failed": 1}
    by_name = {v["name"]: v for v in results["videos"]}
    lumen = by_name["Lumen bottle — 15s spot"]
    assert lumen["status"] == "ok" and lumen["transcript"]["engine"] == "whisper"
    assert "order today" in lumen["transcript"]["text"].lower()
    assert len(lumen["shots"]) == 4
    assert all((out_dir / s["keyframe"]).is_file() for s in lumen["shots"])
    assert (out_dir / lumen["contact_sheet"]).is_file()
    assert lumen["metrics"]["ctr"] == pytest.approx(1350 / 48200, rel=1e-3)
    silent = by_name["Harbor Coffee (no sound)"]
    assert silent["status"] == "ok" and silent["has_audio"] is False and silent["transcript"] is None
    assert by_name["Broken upload (truncated file)"]["error"]["code"] == "CorruptVideo"
    # No model endpoint here: the AI fields say so, and the summary's computed part is still there.
    assert lumen["analysis"] == dict.fromkeys(["人群", "功能", "痛点", "场景", "概述", "分析"], "未配置")
    assert results["summary"]["status"]["state"] == "not_configured" and results["analysis_usage"] is None
    ranked = [r["ranked"][0]["name"] for r in results["summary"]["numbers"]["rankings"]]
    assert ranked == ["Lumen bottle — 15s spot"] * 3
    assert "AI 总结：未配置" in out and "点击率 CTR 最好：Lumen bottle — 15s spot（2.80%）" in out
    wb = load_workbook(out_dir / "report.xlsx")
    assert wb.sheetnames == ["总结", "视频分析", "分镜"]
    assert wb["视频分析"].max_row == 5

    # A second run of the same file is a new task (no task_id in the batch): it just works.
    code, out, _ = _run(capsys, tmp_path / "ws", "run", str(example_batch), "--out", str(tmp_path / "o2"))
    assert code == 0 and "3 of 4 videos analysed" in out
    code, out, _ = _run(capsys, tmp_path / "ws", "executions", "list")
    assert code == 0 and out.count("Succeeded") == 2


def test_named_task_is_idempotent(capsys: pytest.CaptureFixture[str], tmp_path: Path, silent_video) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(
        json.dumps(
            {"task_id": "promo-week-48", "videos": [{"name": "clip", "path": str(silent_video.path)}]}
        ),
        encoding="utf-8",
    )
    ws = tmp_path / "ws"
    code, out, _ = _run(capsys, ws, "run", str(batch), "--out", str(tmp_path / "a"))
    assert code == 0 and "1 of 1 videos analysed" in out
    history = ws / "executions" / "video-insight" / "promo-week-48" / "history.jsonl"
    events_before = history.read_text(encoding="utf-8").count("\n")
    code, out, _ = _run(capsys, ws, "run", str(batch), "--out", str(tmp_path / "b"))
    assert code == 0
    assert "task promo-week-48 already has an execution" in out and "Succeeded" in out
    assert history.read_text(encoding="utf-8").count("\n") == events_before  # nothing ran again
    assert (tmp_path / "b" / "results.json").is_file()


def test_executions_show_list_and_stop_an_execution_whose_process_died(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = flows.ExecutionStore(ws / "executions" / "video-insight")
    store.create(flows.ExecutionInfo(name="orphan", flow="video-insight", pid=dead.pid)).close()
    code, out, _ = _run(capsys, ws, "executions", "list")
    assert code == 0 and "orphan" in out and "Stopped?" in out
    code, out, _ = _run(capsys, ws, "executions", "show", "orphan")
    assert code == 0 and "Running (process gone: resumable)" in out
    code, out, _ = _run(capsys, ws, "executions", "stop", "orphan", "--cause", "not needed")
    assert code == 0 and "execution orphan: Stopped" in out
    code, out, _ = _run(capsys, ws, "executions", "show", "orphan")
    assert "status   Stopped" in out and "error    Stopped: not needed" in out
    code, _, err = _run(capsys, ws, "executions", "stop", "orphan")
    assert code == 1 and "already ended (Stopped)" in err
    code, _, err = _run(capsys, ws, "executions", "show", "nope")
    assert code == 1 and "no execution named 'nope'" in err


def test_invalid_json_names_line_and_column(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    batch = tmp_path / "bad.json"
    batch.write_text('{"videos": [\n  {"name": "a", "url": "https://x/y.mp4"},\n]}', encoding="utf-8")
    code, _, err = _run(capsys, tmp_path / "ws", "run", str(batch))
    assert code == 2
    assert "not valid JSON" in err and "line 3" in err
    assert not (tmp_path / "ws" / "tasks").exists()


def test_schema_violation_names_the_json_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    batch = tmp_path / "bad.json"
    batch.write_text(
        json.dumps(
            {
                "videos": [{"name": "a", "url": "https://example.com/a.mp4"}],
                "options": {"audio": {"sample_rate": 3}, "shots": {"detektor": "content"}},
            }
        ),
        encoding="utf-8",
    )
    code, _, err = _run(capsys, tmp_path / "ws", "run", str(batch))
    assert code == 2
    assert "options.audio.sample_rate" in err
    assert "detektor" in err


def test_missing_batch_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, tmp_path / "ws", "run", str(tmp_path / "nope.json"))
    assert code == 2 and "no such file" in err


def test_flow_validate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, tmp_path / "ws", "flow", "validate")
    assert code == 0 and out.strip().endswith(": valid")
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "flows" / "video_insight.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("Next: Media", "Next: Medai", 1), encoding="utf-8")
    code, _, err = _run(capsys, tmp_path / "ws", "flow", "validate", str(bad))
    assert code == 1
    assert "Fetch" in err and "Medai" in err


def test_flow_validate_accepts_other_integrations_and_says_what_runs_only_in_the_cloud(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    vendor = ROOT / "tests" / "flows" / "vendor" / "dashscope.yaml"
    code, out, err = _run(capsys, tmp_path / "ws", "flow", "validate", str(vendor))
    assert code == 0 and out.strip().endswith(": valid")
    assert (
        "the embedded engine cannot run (1); CloudFlow can:" in err and "DashScope:QwenTextGeneration" in err
    )


def test_flow_graph_coloured_by_execution(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, silent_video
) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(
        json.dumps(
            {
                "task_id": "graph-demo",
                "videos": [
                    {"name": "ok", "path": str(silent_video.path)},
                    {"name": "missing", "path": str(tmp_path / "missing.mp4")},
                ],
            }
        ),
        encoding="utf-8",
    )
    ws = tmp_path / "ws"
    assert _run(capsys, ws, "run", str(batch), "--out", str(tmp_path / "out"))[0] == 0
    code, out, _ = _run(capsys, ws, "executions", "show", "graph-demo")
    assert code == 0 and "Succeeded" in out and "SourceNotFound" in out
    svg = tmp_path / "g.svg"
    code, _, _ = _run(capsys, ws, "flow", "graph", "--execution", "graph-demo", "-o", str(svg))
    assert code == 0
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<svg") or "<svg" in text[:500]
    assert "VideoFailed" in text and "Fetch" in text
    code, _, err = _run(capsys, ws, "flow", "graph", "--execution", "nope", "-o", str(svg))
    assert code == 1 and "nope" in err


def test_clean_removes_stale_tasks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    stale = ws / "tasks" / "old-task"
    stale.mkdir(parents=True)
    (stale / "request.json").write_text("{}", encoding="utf-8")
    old = time.time() - 3 * 86400
    os.utime(stale / "request.json", (old, old))
    os.utime(stale, (old, old))
    fresh = ws / "tasks" / "new-task"
    fresh.mkdir(parents=True)
    code, out, _ = _run(capsys, ws, "clean", "--older-than", "24h")
    assert code == 0 and "old-task" in out
    assert not stale.exists() and fresh.exists()
    code, _, err = _run(capsys, ws, "clean", "--older-than", "yesterday")
    assert code == 2 and "invalid duration" in err


@pytest.mark.slow
def test_resume_after_the_cli_process_is_killed(tmp_path: Path, example_batch: Path) -> None:
    """SIGKILL a real `video-insight run`, then `executions resume` finishes it with the same results."""
    data = json.loads(example_batch.read_text(encoding="utf-8"))
    data["task_id"] = "killed-run"
    data["options"]["max_concurrency"] = 1
    example_batch.write_text(json.dumps(data), encoding="utf-8")
    ws = tmp_path / "ws"
    env = {**os.environ, "VI_WORKSPACE": str(ws), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "video_insight", "run", str(example_batch), "--out", str(tmp_path / "out")]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # kill as soon as the first video is done
            if "done:" in line:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    history = ws / "executions" / "video-insight" / "killed-run" / "history.jsonl"
    before = [json.loads(x) for x in history.read_text(encoding="utf-8").splitlines() if x.strip()]
    finished_before = {e["path"] for e in before if e["type"] == "TaskSucceeded"}
    assert finished_before and not any(e["type"] == "ExecutionSucceeded" for e in before)

    resume = [sys.executable, "-m", "video_insight", "executions", "resume", "killed-run"]
    done = subprocess.run([*resume, "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 of 4 videos analysed, 1 failed" in done.stdout
    after = [json.loads(x) for x in history.read_text(encoding="utf-8").splitlines() if x.strip()]
    scheduled_after_resume = [e["path"] for e in after[len(before) :] if e["type"] == "TaskScheduled"]
    assert not finished_before & set(scheduled_after_resume)  # finished Tasks were not run again
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert results["counts"] == {"total": 4, "ok": 3, "failed": 1}
