"""Execution names are checked wherever they are used: no ``..``, no paths, no final newline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows import ExecutionInfo, ExecutionNotFound, ExecutionStore
from video_insight.cli import main

BAD = ["../../../outside/x", "a/../a", "a\n", "/etc", "..", "", "a" * 129]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _resumable(folder: Path, name: str) -> None:
    """A Running execution whose process is gone, in ``folder``: what resume would pick up."""
    folder.mkdir(parents=True)
    info = ExecutionInfo(name=name, flow="video-insight", input={"task_id": "x"}, pid=_dead_pid())
    (folder / "meta.json").write_text(json.dumps(info.__dict__), encoding="utf-8")


@pytest.mark.parametrize("name", BAD)
@pytest.mark.parametrize(
    "command", [["executions", "show"], ["executions", "resume"], ["executions", "stop"], ["flow", "graph"]]
)
def test_the_cli_refuses_a_name_that_is_a_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, command: list[str]
) -> None:
    ws = tmp_path / "ws"
    _resumable(tmp_path / "outside" / "x", "x")  # where ../../../outside/x leads from the store
    _resumable(ws / "executions" / "video-insight" / "a", "a")  # a/../a would show this one
    args = [*command, name] if command[0] == "executions" else [*command, "--execution", name, "-o"]
    if command[0] == "flow":
        args.append(str(tmp_path / "g.svg"))
    code = main(["--workspace", str(ws), *args])
    out, err = capsys.readouterr()
    assert code == 2, out
    assert "无效的执行名称 (invalid execution name)" in err and "\n" not in err.rstrip("\n")
    assert not (tmp_path / "outside" / "x" / "run.lock").exists()  # today: created outside the workspace
    assert not (tmp_path / "outside" / "x" / "history.jsonl").exists()


@pytest.mark.parametrize("name", BAD)
def test_the_store_never_makes_a_path_of_an_invalid_name(tmp_path: Path, name: str) -> None:
    store = ExecutionStore(tmp_path / "ws" / "executions" / "video-insight")
    _resumable(tmp_path / "outside" / "x", "x")
    assert store.find(name) is None
    for call in (store.get, store.lock, store.reopen, store.events, store.delete):
        with pytest.raises(ExecutionNotFound, match="invalid execution name"):
            call(name)
    with pytest.raises(ExecutionNotFound, match="invalid execution name"):
        store.create(ExecutionInfo(name=name, flow="f"))
    assert sorted(p.name for p in (tmp_path / "outside" / "x").iterdir()) == ["meta.json"]
