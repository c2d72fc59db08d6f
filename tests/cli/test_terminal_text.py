"""Names and reasons from users reach the terminal escaped: no escape sequences, no rich markup."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from rich.console import Console

from steps import (
    Manifest,
    Options,
    TaskWorkspace,
    VideoEntry,
    atomic_write_json,
    printable,
    record_stage,
    record_task,
    snapshot,
)
from video_insight._progress_view import ProgressView, render_rich
from video_insight.cli import _summarize

NAME = "clip\x1b[2J\x1b]0;pwned\x07[red]x[/red]\u202e"
REASON = "bad\rframe\x1b[31m"


def _task(root: Path) -> TaskWorkspace:
    ws = TaskWorkspace(root, "t_ctl")
    manifest = Manifest(
        task_id="t_ctl",
        title="title\x1b[5m",
        created_at=time.time(),
        options=Options(),
        videos=[VideoEntry(video_id=v, name=f"{NAME}{v}", path=f"/x/{v}.mp4") for v in ("v1", "v2", "v3")],
    )
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    record_task(ws, phase="processing", total=3, title="title\x1b[5m")
    record_stage(ws, "v1", "fetch", "ok")
    record_stage(ws, "v1", "media", "running")
    record_stage(ws, "v2", "fetch", "failed", {"code": "SourceNotFound", "message": REASON})
    return ws


def _assert_escaped(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\u202e" not in text
    assert "clip\\x1b[2J\\x1b]0;pwned\\x07[red]x[/red]\\u202e" in text  # shown, not interpreted


def test_printable_escapes_only_what_is_not_printable() -> None:
    assert printable("双十二 素材 ok") == "双十二 素材 ok"
    assert printable("a\tb\nc\x00\x9b\ud800") == "a\\tb\\nc\\x00\\x9b\\ud800"


def test_live_display_escapes_names_reasons_and_title(tmp_path: Path) -> None:
    console = Console(record=True, width=300)
    console.print(render_rich(snapshot(_task(tmp_path))))
    text = console.export_text()
    _assert_escaped(text)
    assert "bad\\rframe\\x1b[31m" in text and "title\\x1b[5m" in text


def test_plain_progress_lines_escape_names_and_reasons(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=300, color_system=None)
    with ProgressView(_task(tmp_path), console=console, interval=60):
        pass
    _assert_escaped(out.getvalue())
    assert "bad\\rframe\\x1b[31m" in out.getvalue()


def test_the_final_summary_escapes_names_and_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = TaskWorkspace(tmp_path, "t_ctl")
    results = {
        "counts": {"total": 1, "ok": 0, "failed": 1},
        "videos": [{"name": NAME, "status": "failed", "error": {"code": "X\x1b[0m", "message": REASON}}],
    }
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    _summarize(ws, tmp_path)
    out = capsys.readouterr().out
    _assert_escaped(out)
    assert "处理失败：bad\\rframe\\x1b[31m（X\\x1b[0m）" in out
