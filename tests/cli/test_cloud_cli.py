"""The CLI's CloudFlow side: one-line refusals, deploy's s.yaml check, the cloudflow-local process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from alibabacloud_fnf20190315 import models as fnf
from alibabacloud_fnf20190315.client import Client
from alibabacloud_tea_openapi.models import Config

from steps import Settings, function_name, serve_steps
from video_insight._cloudflow import LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_SECRET, LocalCloudFlowServer
from video_insight.cli import main

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "cli-key", "cli-secret"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(workspace=tmp_path_factory.mktemp("cloud") / "ws")
    with LocalCloudFlowServer(settings, {KEY: SECRET}) as server:
        yield server.endpoint


@pytest.fixture
def cloud_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    monkeypatch.setenv("VI_CLOUDFLOW_ENDPOINT", endpoint)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("video-insight: error: "), err
    return err


def test_bad_credentials_missing_flow_and_wrong_region_are_one_line_each(
    cloud_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "executions", "list", "--engine", "cloudflow"]) == 1
    assert "flow 'video-insight' does not exist" in error_line(capsys)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong")
    assert main([*ws, "executions", "--engine", "cloudflow", "show", "t1"]) == 1
    assert "refused the credentials (SignatureDoesNotMatch" in error_line(capsys)
    monkeypatch.delenv("VI_CLOUDFLOW_ENDPOINT")
    monkeypatch.setenv("VI_CLOUDFLOW_REGION", "cn-atlantis")
    assert main([*ws, "executions", "list", "--engine", "cloudflow"]) == 1
    assert "not offered in region 'cn-atlantis'" in error_line(capsys)
    assert main([*ws, "executions", "resume", "t1", "--engine", "cloudflow"]) == 1
    assert "nothing to resume" in error_line(capsys)


def test_submit_refuses_local_files_and_requests_over_64_kib(
    cloud_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"videos": [{"name": "a", "path": "a.mp4"}]}), encoding="utf-8")
    assert main(["submit", str(batch), "--engine", "cloudflow"]) == 2
    assert "local files cannot be analysed on CloudFlow" in error_line(capsys)
    videos = [
        {"name": f"素材 {i}", "url": f"https://cdn.example.com/ads/{i:05d}-{'x' * 80}.mp4"}
        for i in range(600)
    ]
    batch.write_text(json.dumps({"videos": videos}), encoding="utf-8")
    assert main(["submit", str(batch), "--engine", "cloudflow"]) == 2
    line = error_line(capsys)
    assert "over the 65536-byte limit of a CloudFlow execution input: split the batch" in line


def write_s_yaml(path: Path, drop: str) -> Path:
    project = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    project["resources"] = {
        k: v for k, v in project["resources"].items() if (v.get("props") or {}).get("functionName") != drop
    }
    path.write_text(yaml.safe_dump(project), encoding="utf-8")
    return path


def test_deploy_refuses_a_flow_whose_functions_s_yaml_does_not_deploy(
    cloud_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    s_yaml = write_s_yaml(tmp_path / "s.yaml", "video-insight-finish")
    assert main(["deploy", "--s-yaml", str(s_yaml)]) == 1
    line = error_line(capsys)
    assert "Task functions not deployed by" in line and line.endswith(
        "acs:fc:::functions/video-insight-finish"
    )


def test_deploy_to_the_cloud_needs_the_flow_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VI_CLOUDFLOW_REGION", "cn-hangzhou")
    monkeypatch.delenv("VI_FLOW_ROLE_ARN", raising=False)
    monkeypatch.delenv("VI_CLOUDFLOW_ENDPOINT", raising=False)
    assert main(["deploy", "--s-yaml", str(ROOT / "s.yaml")]) == 1
    assert "set VI_FLOW_ROLE_ARN" in error_line(capsys)


def test_cloudflow_local_process_serves_the_api_until_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VI_WORKSPACE": str(tmp_path / "ws"),
        "VI_LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "video_insight", "cloudflow-local", "--port", "0"]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            found = re.search(r"on http://127\.0\.0\.1:(\d+) \(AccessKeyId (\S+)\)", first)
            assert found, first + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
            assert found.group(2) == LOCAL_ACCESS_KEY_ID  # the documented local pair
            client = Client(
                Config(
                    access_key_id=LOCAL_ACCESS_KEY_ID,
                    access_key_secret=LOCAL_ACCESS_KEY_SECRET,
                    endpoint=f"127.0.0.1:{found.group(1)}",
                    protocol="http",
                )
            )
            assert client.list_flows(fnf.ListFlowsRequest()).body.flows == []
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0


def test_no_credentials_anywhere_is_one_line(tmp_path: Path) -> None:
    """The default chain finds nothing (no variables, no CLI profile; the ECS metadata provider is off, so
    nothing leaves this machine): one line, no tracebacks from the credentials library."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    env.update(
        HOME=str(tmp_path),
        PYTHONPATH=str(ROOT),
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",
        VI_CLOUDFLOW_ENDPOINT="http://127.0.0.1:9",
        VI_WORKSPACE=str(tmp_path / "ws"),
    )
    cmd = [sys.executable, "-m", "video_insight", "executions", "list", "--engine", "cloudflow"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "video-insight: error: no Alibaba Cloud credentials were found: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET, an Alibaba Cloud CLI profile, or a RAM role"
    ]


def test_serve_on_cloudflow_checks_its_settings_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("FEISHU_APP_ID", "cli_test")
    monkeypatch.setenv("FEISHU_APP_SECRET", "secret")
    monkeypatch.setenv("VI_CLOUDFLOW_REGION", "cn-atlantis")
    monkeypatch.delenv("VI_CLOUDFLOW_ENDPOINT", raising=False)
    assert main(["--workspace", str(tmp_path / "ws"), "serve", "--engine", "cloudflow", "--port", "0"]) == 2
    assert "not offered in region 'cn-atlantis'" in error_line(capsys)


def test_the_local_endpoint_uses_a_step_server_it_is_given(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws")
    given = "http://127.0.0.1:9100"
    with LocalCloudFlowServer(settings, {KEY: SECRET}, step_urls={"fetch": given}) as server:
        urls = server.functions.urls
        assert urls["video-insight-fetch"] == given
        served = {function_name(step) for step in serve_steps()}
        assert set(urls) == served and len(server._servers) == len(urls) - 1  # it started the others
        assert all(u.startswith("http://127.0.0.1:") for u in urls.values())
