#!/usr/bin/env python3
"""Check a deployment's settings before `s deploy` touches anything; render the RAM policies.

    python3 infra/preflight.py                  # check (s.yaml runs this as its pre-deploy action)
    python3 infra/preflight.py policy flow      # a RAM policy, scoped to $VI_REGION and the account

Standard library only, so it runs wherever `s` runs. Every problem is one line, Chinese first.
The variables checked are the ones s.yaml reads with ${env('NAME')}, found in s.yaml itself.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[1]
S_YAML = ROOT / "s.yaml"
FLOW = ROOT / "flows" / "video_insight.yaml"
RAM_DIR = ROOT / "infra" / "ram"

# The regions devsapp's `flow` component accepts (its src/impl/base.ts); it throws for any other
# only after fc3 has deployed every function. Each is also one of fc3's regions.
FLOW_REGIONS = (
    "cn-beijing",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-qingdao",
    "cn-shenzhen",
    "ap-southeast-1",
    "us-west-1",
    "cn-heyuan-acdr-1",
)
ENV_REF = re.compile(r"\$\{env\('([A-Z][A-Z0-9_]*)'\)\}")
ROLE_ARN = re.compile(r"^acs:ram::(\d+):role/[A-Za-z0-9._-]{1,64}$")
# ACR personal edition (registry[-vpc].<region>.aliyuncs.com) or enterprise edition
# (<instance>-registry[-vpc].<region>.cr.aliyuncs.com), then <namespace>/<repository>:<tag>.
ACR_IMAGE = re.compile(
    r"^(?:[\w-]+-)?registry(?P<vpc>-vpc)?\.(?P<region>[a-z0-9-]+)\.(?:cr\.)?aliyuncs\.com/"
    r"[\w.-]+/[\w.-]+:(?P<tag>[\w.-]+)$"
)
NAS_ADDR = re.compile(r"^[\w-]+\.(?P<region>[a-z0-9-]+)\.nas\.aliyuncs\.com:(?P<path>/\S*)$")
COMMENT = re.compile(r"(^|\s)#.*$")
KMS_SECRET = re.compile(r"^[A-Za-z0-9_/+=.@-]{1,192}$")


def required_variables(s_yaml: Path = S_YAML) -> list[str]:
    """Every variable s.yaml reads with ``${env('NAME')}``, in order of first use (comments aside)."""
    lines = s_yaml.read_text(encoding="utf-8").splitlines()
    names = [name for line in lines for name in ENV_REF.findall(COMMENT.sub("", line))]
    return list(dict.fromkeys(names))


def account_id(env: Mapping[str, str]) -> str | None:
    """The account of the roles (all three must agree), or None when they do not parse."""
    accounts = {m.group(1) for name in _roles(env) if (m := ROLE_ARN.match(env.get(name, "")))}
    return accounts.pop() if len(accounts) == 1 else None


def _roles(env: Mapping[str, str]) -> list[str]:
    return sorted(name for name in env if name.startswith("VI_") and name.endswith("_ROLE_ARN"))


def check(env: Mapping[str, str], s_yaml: Path = S_YAML) -> tuple[list[str], list[str]]:
    """(problems, warnings): each one line; a deployment goes ahead only without problems."""
    problems: list[str] = []
    warnings: list[str] = []
    missing = [name for name in required_variables(s_yaml) if not env.get(name, "").strip()]
    if missing:
        problems.append(f"缺少环境变量 missing variables: {', '.join(missing)} (infra/README.md 第 3 步)")
    region = env.get("VI_REGION", "")
    if region and region not in FLOW_REGIONS:
        problems.append(
            f"VI_REGION={region}: CloudFlow 的部署组件（flow）不支持这个地域；"
            f"请选 {', '.join(FLOW_REGIONS)} 之一，函数、NAS 和镜像仓库放在同一地域 "
            "(the flow component serves only these regions)"
        )
    problems += _check_image(env.get("VI_IMAGE", ""), region, warnings)
    problems += _check_roles(env)
    problems += _check_nas(env.get("VI_NAS_SERVER_ADDR", ""), region)
    secret = env.get("VI_KMS_SECRET_NAME", "")
    if secret and not KMS_SECRET.match(secret):
        problems.append(f"VI_KMS_SECRET_NAME={secret!r}: 不是 KMS 凭据名 (not a KMS secret name)")
    return problems, warnings


def _check_image(image: str, region: str, warnings: list[str]) -> list[str]:
    if not image:
        return []
    match = ACR_IMAGE.match(image)
    if not match:
        return [
            f"VI_IMAGE={image}: 不是带标签的阿里云镜像仓库地址 "
            "(expected registry-vpc.<region>.aliyuncs.com/<namespace>/video-insight:<tag>)"
        ]
    if region and match["region"] != region:
        return [f"VI_IMAGE 在 {match['region']}，函数在 {region}：镜像仓库必须与函数同地域 (same region)"]
    if not match["vpc"]:
        warnings.append(
            "VI_IMAGE 用的是公网地址；函数在 VPC 内拉取 registry-vpc 地址更快且不计公网流量 "
            "(prefer registry-vpc)"
        )
    if match["tag"] == "latest":
        warnings.append(
            "VI_IMAGE 的标签是 latest：用 git 提交号做标签，回滚才有据可查 (tag images by commit)"
        )
    return []


def _check_roles(env: Mapping[str, str]) -> list[str]:
    problems = [
        f"{name}={env[name]}: 不是 RAM 角色 ARN (expected acs:ram::<account-id>:role/<name>)"
        for name in _roles(env)
        if env[name] and not ROLE_ARN.match(env[name])
    ]
    accounts = {m.group(1) for name in _roles(env) if (m := ROLE_ARN.match(env.get(name, "")))}
    if len(accounts) > 1:
        problems.append(f"角色属于不同账号 roles of different accounts: {', '.join(sorted(accounts))}")
    return problems


def _check_nas(addr: str, region: str) -> list[str]:
    if not addr:
        return []
    match = NAS_ADDR.match(addr)
    if not match:
        return [f"VI_NAS_SERVER_ADDR={addr}: 应为 <挂载点>.<region>.nas.aliyuncs.com:/video-insight"]
    if region and match["region"] != region:
        return [
            f"VI_NAS_SERVER_ADDR 在 {match['region']}，函数在 {region}：NAS 挂载点必须同地域 (same region)"
        ]
    if match["path"] == "/":
        return [
            "VI_NAS_SERVER_ADDR 挂载的是 NAS 根目录：请用子目录，如 :/video-insight (mount a sub-directory)"
        ]
    return []


def flow_targets(flow: Path = FLOW) -> tuple[list[str], list[str]]:
    """(functions, flows) the flow's Tasks call: ``acs:fc:::functions/NAME`` and ``acs:fnf:::flow/NAME``."""
    text = "\n".join(COMMENT.sub("", line) for line in flow.read_text(encoding="utf-8").splitlines())
    functions = re.findall(r"resourceArn:\s*acs:fc:[\w-]*:\d*:functions/([\w-]+)", text)
    flows = re.findall(r"resourceArn:\s*acs:fnf:[\w-]*:\d*:flow/([\w-]+)", text)
    return sorted(set(functions)), sorted(set(flows))


def flow_policy(region: str, account: str, flow: Path = FLOW) -> dict[str, object]:
    """The flow role's policy: invoke the functions its Tasks call, start only the flows they start."""
    functions, flows = flow_targets(flow)
    statements: list[dict[str, object]] = [
        {
            "Effect": "Allow",
            "Action": ["fc:InvokeFunction"],
            "Resource": [f"acs:fc:{region}:{account}:functions/{name}" for name in functions],
        }
    ]
    if flows:  # child executions (FNF:StartExecution): start, follow and stop them
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["fnf:StartExecution", "fnf:DescribeExecution", "fnf:StopExecution"],
                "Resource": [f"acs:fnf:{region}:{account}:flow/{name}" for name in flows]
                + [f"acs:fnf:{region}:{account}:flow/{name}/execution/*" for name in flows],
            }
        )
    return {"Version": "1", "Statement": statements}


def policy(name: str, env: Mapping[str, str]) -> dict[str, object]:
    """A role's RAM policy, scoped to ``VI_REGION`` and the roles' account: ``flow`` is built from the
    flow's Tasks, the others are ``infra/ram/<name>-policy.json`` with region, account and secret filled in.
    """
    account = account_id(env)
    if account is None:
        raise ValueError("无法从 VI_*_ROLE_ARN 得到账号 ID (set the three role ARNs of one account first)")
    values = {
        "region": env.get("VI_REGION") or "",
        "account": account,
        "secret": env.get("VI_KMS_SECRET_NAME") or "",
    }
    if not all(values.values()):
        raise ValueError("需要 VI_REGION 和 VI_KMS_SECRET_NAME (policies are scoped to them)")
    if name == "flow":
        return flow_policy(values["region"], account)
    template = (RAM_DIR / f"{name}-policy.json").read_text(encoding="utf-8")
    rendered: dict[str, object] = json.loads(Template(template).substitute(values))
    return rendered


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    if argv[:1] == ["policy"] and len(argv) == 2:
        try:
            print(json.dumps(policy(argv[1], env), indent=2, ensure_ascii=False))
        except (ValueError, FileNotFoundError) as exc:
            print(f"preflight: {exc}", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    problems, warnings = check(env)
    for line in warnings:
        print(f"preflight: 提示 warning: {line}", file=sys.stderr)
    for line in problems:
        print(f"preflight: 错误 error: {line}", file=sys.stderr)
    if problems:
        print("preflight: 部署未开始，请先修正上面的问题 (nothing was deployed)", file=sys.stderr)
        return 1
    print(f"preflight: ok ({env['VI_REGION']}, account {account_id(env)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
