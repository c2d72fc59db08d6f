#!/usr/bin/env python3
"""CloudMonitor alert rules from infra/alerts.json, one per rule and function of s.yaml (or per flow).

    .venv/bin/python infra/alerts.py --contact-group OPS            # print the aliyun commands
    .venv/bin/python infra/alerts.py --contact-group OPS --apply    # check the metrics, then create

Region and account come from VI_REGION and the VI_*_ROLE_ARN variables, as for infra/preflight.py.
Before creating anything, --apply asks CloudMonitor (DescribeMetricMetaList) whether each metric
exists in this account with the dimensions a rule uses, and stops with one line per mismatch:
metric names differ between Function Compute generations, so they are checked, not assumed.
Re-running updates the rules in place (PutResourceMetricRule keys them by RuleId).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "infra" / "alerts.json"
S_YAML = ROOT / "s.yaml"


def _preflight() -> Any:
    spec = importlib.util.spec_from_file_location("vi_preflight", ROOT / "infra" / "preflight.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def functions(s_yaml: Path = S_YAML) -> dict[str, int]:
    """Function name → memory (MB) of every fc3 function in s.yaml."""
    project = yaml.safe_load(s_yaml.read_text(encoding="utf-8"))
    props = [r["props"] for r in project["resources"].values() if r["component"] == "fc3"]
    return {p["functionName"]: int(p["memorySize"]) for p in props}


def flow_name(s_yaml: Path = S_YAML) -> str:
    project = yaml.safe_load(s_yaml.read_text(encoding="utf-8"))
    (name,) = [r["props"]["name"] for r in project["resources"].values() if r["component"] == "flow"]
    return str(name)


def expand(rules: Sequence[Mapping[str, Any]], region: str, account: str) -> list[dict[str, Any]]:
    """Concrete CloudMonitor rules: each function-scoped rule once per function, flow rules once."""
    out: list[dict[str, Any]] = []
    for rule in rules:
        if rule["scope"] == "function":
            targets = [
                (name, {"userId": account, "region": region, "functionName": name}, memory)
                for name, memory in functions().items()
            ]
        else:
            name = flow_name()
            targets = [(name, {"userId": account, "region": region, "flowName": name}, 0)]
        for target, dimensions, memory in targets:
            threshold = rule.get("threshold")
            if "threshold_percent_of_memory" in rule:
                threshold = memory * rule["threshold_percent_of_memory"] // 100
            out.append(
                {
                    "RuleId": f"{target}-{rule['id']}",
                    "RuleName": f"video-insight {rule['name']} ({target})",
                    "Namespace": rule["namespace"],
                    "MetricName": rule["metric"],
                    "Dimensions": dimensions,
                    "Period": rule["period"],
                    "Statistics": rule["statistics"],
                    "ComparisonOperator": rule["operator"],
                    "Threshold": threshold,
                    "Times": rule["times"],
                }
            )
    return out


def command(rule: Mapping[str, Any], contact_group: str) -> list[str]:
    """The ``aliyun cms PutResourceMetricRule`` argv that creates or updates ``rule``."""
    critical = "--Escalations.Critical."
    return [
        "aliyun", "cms", "PutResourceMetricRule",
        "--RuleId", rule["RuleId"],
        "--RuleName", rule["RuleName"],
        "--Namespace", rule["Namespace"],
        "--MetricName", rule["MetricName"],
        "--Resources", json.dumps([rule["Dimensions"]], separators=(",", ":")),
        "--ContactGroups", contact_group,
        "--Period", str(rule["Period"]),
        f"{critical}Statistics", rule["Statistics"],
        f"{critical}ComparisonOperator", rule["ComparisonOperator"],
        f"{critical}Threshold", str(rule["Threshold"]),
        f"{critical}Times", str(rule["Times"]),
        "--NoDataPolicy", "KEEP_LAST_STATE",
    ]  # fmt: skip


def metric_problems(rules: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per rule whose metric, or one of its dimensions, CloudMonitor does not list here."""
    problems: list[str] = []
    for namespace, metric in sorted({(r["Namespace"], r["MetricName"]) for r in rules}):
        argv = ["aliyun", "cms", "DescribeMetricMetaList", "--Namespace", namespace, "--MetricName", metric]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        if result.returncode != 0:
            problems.append(f"{namespace}/{metric}: aliyun 调用失败 (failed): {result.stderr.strip()[:300]}")
            continue
        metas = json.loads(result.stdout or "{}").get("Resources", {}).get("Resource", [])
        if not metas:
            problems.append(f"{namespace}/{metric}: 此账号的云监控没有这个指标 (no such metric here)")
            continue
        listed = {d.strip() for d in str(metas[0].get("Dimensions", "")).split(",") if d.strip()}
        used = {key for r in rules if r["MetricName"] == metric for key in r["Dimensions"]}
        if not used <= listed:
            missing, known = ", ".join(sorted(used - listed)), ", ".join(sorted(listed))
            problems.append(f"{namespace}/{metric}: 维度 {missing} 不在 {known} 中 (dimension not listed)")
    return problems


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contact-group", required=True, help="CloudMonitor alert contact group to notify")
    parser.add_argument("--apply", action="store_true", help="check the metrics, then create the rules")
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    account = _preflight().account_id(env)
    region = env.get("VI_REGION", "")
    if not region or account is None:
        print("alerts: 需要 VI_REGION 和同一账号的 VI_*_ROLE_ARN (region and account)", file=sys.stderr)
        return 2
    rules = expand(json.loads(RULES.read_text(encoding="utf-8"))["rules"], region, account)
    commands = [command(rule, args.contact_group) for rule in rules]
    if not args.apply:
        for argv_ in commands:
            print(shlex.join(argv_))
        return 0
    problems = metric_problems(rules)
    for line in problems:
        print(f"alerts: 错误 error: {line}", file=sys.stderr)
    if problems:
        print("alerts: 未创建任何规则 (nothing was created)", file=sys.stderr)
        return 1
    for argv_ in commands:
        result = subprocess.run(argv_, capture_output=True, text=True, check=False, timeout=60)
        if result.returncode != 0:
            print(f"alerts: {argv_[4]} 创建失败 (failed): {result.stderr.strip()[:300]}", file=sys.stderr)
            return 1
    print(f"alerts: {len(commands)} 条规则已创建或更新 (rules created or updated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
