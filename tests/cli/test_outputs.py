"""``--out``: checked before the analysis starts, and written so that no results.json is ever cut short."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from steps import TaskWorkspace
from tests.tinyfs import needs_namespaces, run_with_tmpfs
from video_insight._app import publish_outputs
from video_insight.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _batch(tmp_path: Path) -> Path:
    path = tmp_path / "batch.json"
    path.write_text(
        json.dumps({"videos": [{"name": "a", "path": str(tmp_path / "a.mp4")}]}), encoding="utf-8"
    )
    return path


def _cli(tmp_path: Path, out: Path) -> str:
    args = [sys.executable, "-m", "video_insight", "--workspace", str(tmp_path / "ws"), "run"]
    return " ".join([*args, str(_batch(tmp_path)), "--out", str(out)])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_an_out_folder_that_cannot_exist_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    code = main(
        ["--workspace", str(tmp_path / "ws"), "run", str(_batch(tmp_path)), "--out", str(blocker / "o")]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert "输出目录不可写 (--out not writable)" in err and "Not a directory" in err
    assert not (tmp_path / "ws" / "tasks").exists()  # nothing started


@needs_namespaces
@pytest.mark.parametrize(
    ("options", "fill", "says"),
    [("ro,size=1m", False, "Read-only file system"), ("size=64k", True, "No space left on device")],
)
def test_a_read_only_or_full_out_is_refused_before_the_run(
    tmp_path: Path, options: str, fill: bool, says: str
) -> None:
    out = tmp_path / "out"
    filler = f"head -c 1048576 /dev/zero > {out}/filler 2>/dev/null; " if fill else ""
    done = run_with_tmpfs({out: options}, filler + _cli(tmp_path, out), env=_env())
    assert done.returncode == 2, done.stderr
    assert "输出目录不可写 (--out not writable)" in done.stderr and says in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "ws" / "tasks").exists()


def _task_with_outputs(root: Path) -> TaskWorkspace:
    ws = TaskWorkspace(root, "t_out")
    (ws.out / "media").mkdir(parents=True)
    (ws.out / "media" / "a.jpg").write_bytes(b"j" * 1000)
    (ws.out / "results.json").write_text(json.dumps({"new": "x" * 300_000}), encoding="utf-8")
    return ws


@needs_namespaces
def test_a_disk_full_while_copying_leaves_the_previous_results_not_a_cut_one(tmp_path: Path) -> None:
    ws = _task_with_outputs(tmp_path / "ws")
    out = tmp_path / "out"
    script = f"""
import json, os, sys
from pathlib import Path
from steps import TaskWorkspace
from video_insight._app import publish_outputs
out = Path({str(out)!r})
(out / "results.json").write_text('{{"old": true}}')
try:
    publish_outputs(TaskWorkspace(Path({str(ws.root)!r}), "t_out"), out)
    error = None
except OSError as exc:
    error = exc.strerror
print(json.dumps({{"error": error, "results": (out / "results.json").read_text(),
                  "files": sorted(str(p.relative_to(out)) for p in out.rglob("*"))}}))
"""
    (tmp_path / "probe.py").write_text(script, encoding="utf-8")
    done = run_with_tmpfs({out: "size=128k"}, f"{sys.executable} {tmp_path / 'probe.py'}", env=_env())
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["error"] == "No space left on device"
    assert seen["results"] == '{"old": true}'  # today: a 0-byte or cut results.json
    assert seen["files"] == ["media", "media/a.jpg", "results.json"]  # no temp files left behind


def test_outputs_are_copied_results_last_and_links_skipped(tmp_path: Path) -> None:
    ws = _task_with_outputs(tmp_path / "ws")
    (ws.out / "link.txt").symlink_to("/etc/hostname")
    dest = publish_outputs(ws, tmp_path / "out")
    assert json.loads((dest / "results.json").read_text(encoding="utf-8"))["new"].startswith("x")
    assert (dest / "media" / "a.jpg").read_bytes() == b"j" * 1000
    assert not (dest / "link.txt").exists()
