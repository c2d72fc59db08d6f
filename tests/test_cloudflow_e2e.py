"""The whole flow on CloudFlow's code path: the CLI → real fnf SDK → local CloudFlow endpoint → step
servers over HTTP (``POST /invoke``), on loopback; its results equal an embedded run of the same batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from steps import Settings
from tests.httpserver import LocalHTTPServer, Reply
from video_insight._cloudflow import LocalCloudFlowServer
from video_insight.cli import main

ROOT = Path(__file__).resolve().parents[1]
KEY, SECRET = "e2e-key", "e2e-secret"


def _without_paths(value: Any, roots: tuple[str, ...]) -> Any:
    """``value`` with every string that names a file under ``roots`` replaced by its last part."""
    if isinstance(value, dict):
        return {k: _without_paths(v, roots) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_paths(v, roots) for v in value]
    if isinstance(value, str) and any(r in value for r in roots):
        return Path(value).name
    return value


@pytest.mark.slow
def test_cloud_run_equals_embedded_run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    speech_video: Any,
    bikes: Path,
) -> None:
    monkeypatch.setenv("VI_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("VI_FETCH_BACKOFF_S", "0.01")
    with LocalHTTPServer() as srv:
        videos = [
            {"name": "speech", "url": srv.file("/ads/speech.mp4", speech_video.path.read_bytes())},
            {"name": "bikes", "url": srv.file("/ads/bikes.mp4", bikes.read_bytes())},
            {"name": "gone", "url": srv.route("/ads/gone.mp4", Reply(404, b"not found"))},
        ]
        batch = tmp_path / "batch.json"
        batch.write_text(
            json.dumps({"task_id": "t-e2e", "title": "云端", "videos": videos}), encoding="utf-8"
        )
        local_ws, cloud_ws = tmp_path / "local", tmp_path / "cloud"
        assert (
            main(["--workspace", str(local_ws), "run", str(batch), "--out", str(tmp_path / "out-local")]) == 0
        )

        cloud = Settings(workspace=cloud_ws, allow_loopback=True, fetch_backoff_s=0.01)
        with LocalCloudFlowServer(cloud, {KEY: SECRET}) as endpoint:
            monkeypatch.setenv("VI_CLOUDFLOW_ENDPOINT", endpoint.endpoint)
            monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
            monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            ws = ["--workspace", str(cloud_ws)]
            capsys.readouterr()
            assert main([*ws, "deploy", "--s-yaml", str(ROOT / "s.yaml")]) == 0
            assert main([*ws, "deploy", "--s-yaml", str(ROOT / "s.yaml")]) == 0
            deployed = capsys.readouterr().out
            assert "flow video-insight created" in deployed and "flow video-insight updated" in deployed
            out = tmp_path / "out-cloud"
            code = main([*ws, "submit", str(batch), "--engine", "cloudflow", "--wait", "--out", str(out)])
            submitted = capsys.readouterr()
            assert code == 0, submitted.err
            assert "task t-e2e submitted (cloudflow)" in submitted.out and "Succeeded" in submitted.out
            # Again: the same task id is never a second execution.
            assert main([*ws, "submit", str(batch), "--engine", "cloudflow"]) == 0
            assert "already" in capsys.readouterr().out
            assert main([*ws, "executions", "list", "--engine", "cloudflow"]) == 0
            listed = capsys.readouterr().out
            assert listed.count("t-e2e") == 1 and "Succeeded" in listed
            assert main([*ws, "executions", "show", "t-e2e", "--engine", "cloudflow"]) == 0
            cloud_show = capsys.readouterr().out
            graph = tmp_path / "cloud.svg"
            assert main([*ws, "executions", "graph", "t-e2e", "--engine", "cloudflow", "-o", str(graph)]) == 0
    assert main(["--workspace", str(local_ws), "executions", "show", "t-e2e"]) == 0
    local_show = capsys.readouterr().out
    local_graph = tmp_path / "local.svg"
    assert main(["--workspace", str(local_ws), "executions", "graph", "t-e2e", "-o", str(local_graph)]) == 0

    def table(text: str) -> list[tuple[str, ...]]:  # state, runs, ok, fail, caught: timings aside
        rows = [line.split() for line in text.splitlines() if line.startswith("  ")]
        return sorted(tuple(r[:5]) for r in rows if len(r) >= 7 and r[0][0].isalpha() and r[1].isdigit())

    assert table(cloud_show) == table(local_show)
    assert ("Videos/Fetch", "3", "2", "0", "1") in table(cloud_show)
    assert "<svg" in graph.read_text(encoding="utf-8")
    assert graph.read_text(encoding="utf-8") == local_graph.read_text(encoding="utf-8")  # the same colours

    roots = (str(local_ws), str(cloud_ws), str(tmp_path / "out-local"), str(out))
    local = json.loads((tmp_path / "out-local" / "results.json").read_text(encoding="utf-8"))
    remote = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for results in (local, remote):  # when each run happened is all that may differ
        assert results.pop("created_at") and results.pop("finished_at")
    assert _without_paths(remote, roots) == _without_paths(local, roots)
    by_name = {v["name"]: v for v in remote["videos"]}
    assert by_name["speech"]["status"] == by_name["bikes"]["status"] == "ok"
    assert by_name["gone"]["error"]["code"] == "SourceNotFound"
    assert (out / "report.html").is_file() and (out / "report.xlsx").is_file()
