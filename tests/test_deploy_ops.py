"""Operations as files: CloudMonitor alert rules (infra/alerts.json, infra/alerts.py) and the guide."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from steps import ARN_PREFIX, registry
from video_insight._secrets import SECRET_KEYS
from video_insight.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "infra" / "alerts.py"
ACCOUNT = "1234567890123456"
ENV = {
    "VI_REGION": "cn-hangzhou",
    "VI_FC_ROLE_ARN": f"acs:ram::{ACCOUNT}:role/video-insight-fn",
    "VI_GATEWAY_ROLE_ARN": f"acs:ram::{ACCOUNT}:role/video-insight-gateway",
    "VI_FLOW_ROLE_ARN": f"acs:ram::{ACCOUNT}:role/video-insight-flow",
}
# What CloudMonitor's DescribeMetricMetaList lists for each metric the rules use (dimensions).
KNOWN = {
    "acs_fc/FunctionFunctionErrorsRate": "userId,region,functionName,qualifier",
    "acs_fc/FunctionAvgDuration": "userId,region,functionName,qualifier",
    "acs_fc/FunctionMaxMemoryUsage": "userId,region,functionName,qualifier",
    "acs_fnf/ExecutionsFailed": "userId,region,flowName",
    "acs_fnf/ExecutionsTimedOut": "userId,region,flowName",
}
FAKE_ALIYUN = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_ALIYUN_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[1] == "DescribeMetricMetaList":
    known = json.load(open(os.environ["FAKE_ALIYUN_META"]))
    ns, metric = args[args.index("--Namespace") + 1], args[args.index("--MetricName") + 1]
    dims = known.get(ns + "/" + metric)
    found = [] if dims is None else [{{"Namespace": ns, "MetricName": metric, "Dimensions": dims}}]
    print(json.dumps({{"Success": True, "Resources": {{"Resource": found}}}}))
"""


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


alerts = _load(ALERTS)


@pytest.fixture(scope="module")
def memory() -> dict[str, int]:
    project = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    fc3 = [r["props"] for r in project["resources"].values() if r["component"] == "fc3"]
    return {p["functionName"]: p["memorySize"] for p in fc3}


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    spec = json.loads((ROOT / "infra" / "alerts.json").read_text(encoding="utf-8"))
    expanded: list[dict[str, Any]] = alerts.expand(spec["rules"], "cn-hangzhou", ACCOUNT)
    return expanded


def test_every_function_gets_the_three_rules_the_tutorial_asks_for(
    rules: list[dict[str, Any]], memory: dict[str, int]
) -> None:
    for metric, (threshold, statistics) in {
        "FunctionFunctionErrorsRate": (5, "Average"),  # failure rate > 5 %
        "FunctionAvgDuration": (10 * 60 * 1000, "Average"),  # average duration > 10 min, in ms
    }.items():
        found = [r for r in rules if r["MetricName"] == metric]
        assert {r["Dimensions"]["functionName"] for r in found} == set(memory)
        assert {(r["Threshold"], r["Statistics"], r["ComparisonOperator"]) for r in found} == {
            (threshold, statistics, "GreaterThanThreshold")
        }
    used = {
        r["Dimensions"]["functionName"]: r["Threshold"]
        for r in rules
        if r["MetricName"] == "FunctionMaxMemoryUsage"
    }
    assert used == {
        name: mb * 9 // 10 for name, mb in memory.items()
    }  # memory > 90 % of each function's size


def test_failed_and_timed_out_executions_of_the_flow_alert(rules: list[dict[str, Any]]) -> None:
    flow = [r for r in rules if r["Namespace"] == "acs_fnf"]
    assert {r["MetricName"] for r in flow} == {"ExecutionsFailed", "ExecutionsTimedOut"}
    for rule in flow:
        assert rule["Dimensions"] == {"userId": ACCOUNT, "region": "cn-hangzhou", "flowName": "video-insight"}
        assert (rule["Statistics"], rule["ComparisonOperator"], rule["Threshold"]) == (
            "Sum",
            "GreaterThanThreshold",
            0,
        )
    assert len({r["RuleId"] for r in rules}) == len(rules), "RuleIds must be unique (a re-run updates them)"


def _run(tmp_path: Path, *args: str, known: dict[str, str] | None = None) -> tuple[int, str, list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "aliyun"
    fake.write_text(FAKE_ALIYUN.format(python=sys.executable), encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "meta.json").write_text(json.dumps(KNOWN if known is None else known), encoding="utf-8")
    log = tmp_path / "calls.jsonl"
    env = {
        **ENV,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_ALIYUN_LOG": str(log),
        "FAKE_ALIYUN_META": str(tmp_path / "meta.json"),
    }
    result = subprocess.run(
        [sys.executable, str(ALERTS), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result.returncode, result.stdout + result.stderr, calls


def test_a_dry_run_prints_the_commands_and_calls_nothing(tmp_path: Path, rules: list[dict[str, Any]]) -> None:
    code, out, calls = _run(tmp_path, "--contact-group", "video-insight-ops")
    assert code == 0 and calls == []
    lines = [shlex.split(line) for line in out.splitlines()]
    assert len(lines) == len(rules)
    first = lines[0]
    assert first[:3] == ["aliyun", "cms", "PutResourceMetricRule"]
    resources = json.loads(first[first.index("--Resources") + 1])
    assert resources[0]["userId"] == ACCOUNT and resources[0]["region"] == "cn-hangzhou"
    assert first[first.index("--ContactGroups") + 1] == "video-insight-ops"


def test_apply_checks_every_metric_then_creates_every_rule(
    tmp_path: Path, rules: list[dict[str, Any]]
) -> None:
    code, out, calls = _run(tmp_path, "--contact-group", "ops", "--apply")
    assert code == 0, out
    checked = [c for c in calls if c[1] == "DescribeMetricMetaList"]
    created = [c for c in calls if c[1] == "PutResourceMetricRule"]
    assert len(checked) == len(KNOWN) and calls.index(checked[-1]) < calls.index(created[0])
    assert sorted(c[c.index("--RuleId") + 1] for c in created) == sorted(r["RuleId"] for r in rules)


@pytest.mark.parametrize(
    ("known", "expected"),
    [
        (
            {k: v for k, v in KNOWN.items() if not k.endswith("ExecutionsFailed")},
            "acs_fnf/ExecutionsFailed: 此账号",
        ),
        ({**KNOWN, "acs_fc/FunctionAvgDuration": "userId,region,serviceName"}, "维度 functionName 不在"),
    ],
)
def test_apply_creates_nothing_when_a_metric_does_not_match(
    tmp_path: Path, known: dict[str, str], expected: str
) -> None:
    code, out, calls = _run(tmp_path, "--contact-group", "ops", "--apply", known=known)
    assert code == 1 and expected in out and "nothing was created" in out
    assert not [c for c in calls if c[1] == "PutResourceMetricRule"]


# --- the deploy guide ---------------------------------------------------------------------------

GUIDE = (ROOT / "infra" / "README.md").read_text(encoding="utf-8")
# Subcommands the guide names that other issues add (the gateway's serve, the CloudFlow client's submit).
PENDING = {"serve", "submit", "deploy", "cloudflow-local"}


def _section(title: str) -> str:
    start = GUIDE.index(f"## {title}")
    end = GUIDE.find("\n## ", start + 1)
    return GUIDE[start : end if end != -1 else None]


def test_the_feishu_app_set_up_is_covered_end_to_end() -> None:
    feishu = _section("2. 飞书应用")
    for needed in (
        "App ID",
        "App Secret",
        "机器人",
        "Encrypt Key",
        "Verification Token",
        "/webhook/event",
        "url_verification",
        "im.message.receive_v1",
        "card.action.trigger",
        "发布",
    ):
        assert needed in feishu, needed
    scopes = set(re.findall(r"`([a-z_]+:[a-z_.:]+)`", feishu))
    assert {"im:message", "im:resource", "bitable:app", "drive:drive"} <= scopes, scopes


def test_the_kms_secret_the_guide_creates_holds_exactly_the_secret_settings() -> None:
    (example,) = re.findall(r"<<'JSON'\n\s*(.*?)\n\s*JSON\n", GUIDE, flags=re.S)
    assert set(json.loads(example)) == SECRET_KEYS


def test_the_image_is_built_under_both_names_and_deployed_without_a_push() -> None:
    build = next(line for line in GUIDE.splitlines() if line.startswith("docker build"))
    assert build.count(" -t ") == 2 and "$VI_IMAGE" in build and "$PUBLIC" in build
    deploys = [line for line in GUIDE.splitlines() if line.lstrip().startswith("s deploy")]
    assert deploys and all("--skip-push" in line for line in deploys)
    assert "registry-vpc" in GUIDE and "docker tag" in GUIDE  # says why


def test_troubleshooting_covers_build_deploy_a_silent_bot_and_failed_videos() -> None:
    section = _section("8. 排障")
    for part in ("镜像构建", "部署", "机器人不说话", "视频失败"):
        assert f"**{part}" in section, part
    for tool in ("executions --engine cloudflow show", "flow graph --execution", "logs --tail", "preflight"):
        assert tool in section, tool


def test_every_command_the_guide_names_exists() -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    named = set(re.findall(r"video-insight ([a-z][a-z-]+)", GUIDE)) - {"serve-step"}
    assert named - set(sub.choices) <= PENDING, named - set(sub.choices)
    assert "serve-step" in sub.choices


def _cost_rows() -> list[list[str]]:
    table = GUIDE[GUIDE.index("<!-- cost-table") :].split("\n\n", 1)[0]
    return [[cell.strip(" *") for cell in line.strip("|").split("|")] for line in table.splitlines()[3:]]


def test_the_cost_estimate_matches_s_yaml_and_adds_up(memory: dict[str, int]) -> None:
    project = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    props = {
        r["props"]["functionName"]: r["props"]
        for r in project["resources"].values()
        if r["component"] == "fc3"
    }
    rows = _cost_rows()
    *functions, invocations, total = rows
    cu_sum = 0.0
    for name, vcpu, mem, disk, seconds, count, cu in functions:
        assert float(vcpu) == props[name]["cpu"], name
        assert float(mem) == props[name]["memorySize"] / 1024, name
        assert float(disk) == props[name].get("diskSize", 512) / 1024, name
        per_second = float(vcpu) + 0.15 * float(mem) + 0.05 * max(0.0, float(disk) - 0.5)
        assert float(cu) == pytest.approx(float(seconds) * int(count) * per_second), name
        cu_sum += float(cu)
    assert int(invocations[5]) == sum(int(row[5]) for row in functions)
    assert float(invocations[6]) == pytest.approx(int(invocations[5]) / 10_000 * 75)
    assert float(total[6]) == pytest.approx(cu_sum + float(invocations[6]))
    flow_functions = {arn.removeprefix(ARN_PREFIX) for arn in registry()}
    assert {row[0] for row in functions} == flow_functions - {"video-insight-record-failure"}
    assert {int(row[5]) for row in functions} == {1, 100}  # per task, or per video of 100
