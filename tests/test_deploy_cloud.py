"""What would bite a first `s deploy`: fc3's schema, the gateway function, the pre-deploy check, RAM.

The fc3 rules below were read from devsapp/fc3's own `src/schema.json` (generated from its
`src/interface/`; the component validates props against it with Ajv) and the flow component's
regions from devsapp/fnf's `src/impl/base.ts`; they are restated here, narrowed to the properties
this project uses, and made strict (no unknown keys) so a misspelt property fails here rather than
being ignored by fc3.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

import flows
from steps import ARN_PREFIX, registry
from video_insight.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PREFLIGHT = ROOT / "infra" / "preflight.py"
ACCOUNT = "1234567890123456"
# A complete, valid deployment environment (what infra/README.md step 3 exports).
GOOD_ENV = {
    "VI_REGION": "cn-hangzhou",
    "VI_IMAGE": "registry-vpc.cn-hangzhou.aliyuncs.com/acme/video-insight:3f2c1ab",
    "VI_FC_ROLE_ARN": f"acs:ram::{ACCOUNT}:role/video-insight-fn",
    "VI_GATEWAY_ROLE_ARN": f"acs:ram::{ACCOUNT}:role/video-insight-gateway",
    "VI_FLOW_ROLE_ARN": f"acs:ram::{ACCOUNT}:role/video-insight-flow",
    "VI_VPC_ID": "vpc-bp1example",
    "VI_VSWITCH_ID": "vsw-bp1example",
    "VI_SECURITY_GROUP_ID": "sg-bp1example",
    "VI_NAS_SERVER_ADDR": "0a1b2c3d-xyz1.cn-hangzhou.nas.aliyuncs.com:/video-insight",
    "FEISHU_APP_ID": "cli_a1b2c3d4e5",
    "VI_KMS_SECRET_NAME": "video-insight",
}

# --- fc3's schema, as the component states it (regions, ranges, required fields) --------------
FC3_REGIONS = [
    "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-5", "ap-southeast-7", "cn-beijing", "cn-chengdu", "cn-hangzhou", "cn-heyuan-acdr-1",
    "cn-hongkong", "cn-huhehaote", "cn-qingdao", "cn-shanghai", "cn-shanghai-cloudspe",
    "cn-shanghai-finance-1", "cn-shenzhen", "cn-wulanchabu", "cn-zhangjiakou", "eu-central-1",
    "eu-west-1", "me-central-1", "us-east-1", "us-west-1",
]  # fmt: skip
STRINGS = {"type": "array", "items": {"type": "string"}}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


HTTP_METHODS = {
    "type": "array",
    "items": {"enum": ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]},
}
TRIGGER_CONFIGS = {
    "timer": _obj(
        ["cronExpression", "enable"],
        cronExpression={"type": "string"},
        enable={"type": "boolean"},
        payload={"type": "string"},
    ),
    "http": _obj(
        ["authType", "methods"],
        authType={"enum": ["anonymous", "function", "jwt"]},
        methods=HTTP_METHODS,
        disableURLInternet={"type": "boolean"},
    ),
}
MOUNT = _obj(
    ["serverAddr", "mountDir"],
    serverAddr={"type": "string"},
    mountDir={"type": "string"},
    enableTLS={"type": "boolean"},
)
TRIGGER = _obj(
    ["triggerName", "triggerType", "triggerConfig"],
    triggerName={"type": "string"},
    triggerType={"enum": sorted(TRIGGER_CONFIGS)},
    qualifier={"type": "string"},
    description={"type": "string"},
    triggerConfig={"anyOf": list(TRIGGER_CONFIGS.values())},
)
FC3_PROPS = _obj(
    ["region", "functionName", "runtime", "customContainerConfig"],  # custom-container needs the image config
    region={"enum": FC3_REGIONS},
    functionName={"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"},
    description={"type": "string"},
    runtime={"enum": ["custom-container"]},
    role={"type": "string"},
    cpu={"type": "number", "minimum": 0.05, "maximum": 16},
    memorySize={"type": "integer", "multipleOf": 64, "minimum": 128, "maximum": 32768},
    diskSize={"enum": [512, 10240]},
    timeout={"type": "integer", "minimum": 1, "maximum": 86400},
    instanceConcurrency={"type": "integer", "minimum": 1, "maximum": 200},
    internetAccess={"type": "boolean"},
    logConfig={
        "anyOf": [
            {"const": "auto"},
            _obj(["project", "logstore"], project={"type": "string"}, logstore={"type": "string"}),
        ]
    },
    vpcConfig=_obj(
        ["vpcId", "vSwitchIds", "securityGroupId"],
        vpcId={"type": "string"},
        vSwitchIds=STRINGS,
        securityGroupId={"type": "string"},
    ),
    nasConfig=_obj(
        ["userId", "groupId", "mountPoints"],
        userId={"type": "number"},
        groupId={"type": "number"},
        mountPoints={"type": "array", "items": MOUNT},
    ),
    environmentVariables={"type": "object", "additionalProperties": {"type": "string"}},
    instanceLifecycleConfig=_obj(
        [], initializer=_obj([], handler={"type": "string"}, timeout={"type": "number", "minimum": 1})
    ),
    customContainerConfig=_obj(
        ["image"], image={"type": "string"}, port={"type": "number"}, command=STRINGS, entrypoint=STRINGS
    ),
    triggers={"type": "array", "items": TRIGGER},
)


def _load_preflight() -> ModuleType:
    spec = importlib.util.spec_from_file_location("preflight", PREFLIGHT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


preflight = _load_preflight()


def render(node: Any, env: dict[str, str], variables: dict[str, Any]) -> Any:
    """s.yaml as Serverless Devs hands it to a component: ${env()}, ${vars.x} and ${path()} resolved."""
    if isinstance(node, dict):
        return {key: render(value, env, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [render(value, env, variables) for value in node]
    if not isinstance(node, str):
        return node
    if whole := re.fullmatch(r"\$\{vars\.(\w+)\}", node):
        return render(variables[whole.group(1)], env, variables)
    node = re.sub(r"\$\{env\('(\w+)'\)\}", lambda m: env[m.group(1)], node)
    return re.sub(r"\$\{path\('([^']+)'\)\}", lambda m: str((ROOT / m.group(1)).resolve()), node)


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    return dict(render(project["resources"], GOOD_ENV, project["vars"]))


def test_every_function_passes_fc3s_schema(rendered: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(FC3_PROPS)
    functions = {key: res["props"] for key, res in rendered.items() if res["component"] == "fc3"}
    assert "gateway" in functions and "prepare" in functions
    for key, props in functions.items():
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(props)]
        assert not errors, f"{key}: {errors}"


def test_the_schema_catches_what_fc3_would_refuse(rendered: dict[str, Any]) -> None:
    """The check itself works: a misspelt key, a bad size or an unknown region fails it."""
    props = rendered["prepare"]["props"]
    validator = jsonschema.Draft7Validator(FC3_PROPS)
    for bad in ({"memorySize": 1000}, {"region": "cn-atlantis"}, {"timeOut": 60}, {"diskSize": 2048}):
        assert list(validator.iter_errors({**props, **bad})), bad


def test_the_flow_resource_as_the_flow_component_reads_it(rendered: dict[str, Any]) -> None:
    props = rendered["flow"]["props"]
    assert set(props) <= {"region", "name", "description", "definition", "type", "roleArn"}
    assert props["region"] in preflight.FLOW_REGIONS
    assert Path(props["definition"]).is_absolute() and Path(props["definition"]).is_file()
    assert set(preflight.FLOW_REGIONS) <= set(FC3_REGIONS)
    # preflight runs with the standard library only, so it keeps its own copy of the client's list
    assert preflight.FLOW_REGIONS == flows.CLOUDFLOW_REGIONS


# --- the gateway function ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    props: dict[str, Any] = project["resources"]["gateway"]["props"]
    return props


def test_the_gateway_is_an_http_function_running_serve(gateway: dict[str, Any]) -> None:
    (trigger,) = gateway["triggers"]
    assert trigger["triggerType"] == "http"
    assert trigger["triggerConfig"]["authType"] == "anonymous"  # Feishu signs its own way; serve checks it
    assert trigger["triggerConfig"]["methods"] == ["POST"]
    argv = gateway["customContainerConfig"]["command"]
    assert argv[:2] == ["video-insight", "serve"]
    assert argv[argv.index("--engine") + 1] == "cloudflow"
    assert gateway["customContainerConfig"]["port"] == int(argv[argv.index("--port") + 1]) == 9000
    assert gateway["timeout"] <= 60 and gateway["instanceConcurrency"] > 1
    assert gateway["role"] == "${env('VI_GATEWAY_ROLE_ARN')}", (
        "the gateway has its own role (it may start executions)"
    )


def test_the_gateway_command_is_one_the_cli_accepts(gateway: dict[str, Any]) -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    serve_options = {o for action in sub.choices["serve"]._actions for o in action.option_strings}
    if "--engine" not in serve_options:
        pytest.skip("`video-insight serve --engine` arrives with the CloudFlow client branch")
    build_parser().parse_args(gateway["customContainerConfig"]["command"][1:])


def test_the_gateway_has_the_environment_it_needs(gateway: dict[str, Any]) -> None:
    project = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    env = gateway["environmentVariables"]
    assert env["VI_CLOUDFLOW_REGION"] == "${env('VI_REGION')}"
    assert env["VI_FLOW_NAME"] == project["resources"]["flow"]["props"]["name"]
    assert env["FEISHU_APP_ID"] == "${env('FEISHU_APP_ID')}"
    assert env["FEISHU_DOMAIN"].startswith("https://")
    assert env["VI_KMS_SECRET_NAME"] == "${env('VI_KMS_SECRET_NAME')}"  # app secret, token, encrypt key
    assert env["VI_WORKSPACE"] == "/mnt/workspace"  # request.json is stored before the execution starts
    assert "/mnt/workspace" in [m["mountDir"] for m in gateway["nasConfig"]["mountPoints"]]


def test_only_the_gateway_has_an_http_trigger() -> None:
    """Only CloudFlow (FC's signed InvokeFunction) and the cleanup timer may call a step."""
    project = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    for key, resource in project["resources"].items():
        kinds = {trigger["triggerType"] for trigger in resource["props"].get("triggers") or []}
        assert kinds <= ({"http"} if key == "gateway" else {"timer"}), f"{key}: {kinds}"


# --- the pre-deploy check ----------------------------------------------------------------------


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PREFLIGHT), *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_s_deploy_runs_the_check_before_anything_else() -> None:
    project = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
    (action,) = project["actions"]["pre-deploy"]
    assert action == {"run": "python3 infra/preflight.py", "path": "./"}


def test_a_complete_environment_passes() -> None:
    result = _run(GOOD_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"preflight: ok (cn-hangzhou, account {ACCOUNT})"
    assert result.stderr == ""


def test_it_asks_for_every_variable_s_yaml_reads() -> None:
    text = (ROOT / "s.yaml").read_text(encoding="utf-8")
    uncommented = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())
    assert set(preflight.required_variables()) == set(re.findall(r"\$\{env\('(\w+)'\)\}", uncommented))
    assert set(preflight.required_variables()) == set(GOOD_ENV)
    result = _run({})
    assert result.returncode == 1
    assert "缺少环境变量 missing variables: " + ", ".join(preflight.required_variables()) in result.stderr


def test_a_region_the_flow_component_refuses_is_caught_first() -> None:
    env = {
        **GOOD_ENV,
        "VI_REGION": "cn-chengdu",  # fc3 serves it; the flow component would throw after 12 functions exist
        "VI_IMAGE": "registry-vpc.cn-chengdu.aliyuncs.com/acme/video-insight:3f2c1ab",
        "VI_NAS_SERVER_ADDR": "0a1b2c3d-xyz1.cn-chengdu.nas.aliyuncs.com:/video-insight",
    }
    result = _run(env)
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if "错误 error" in line]
    assert len(problems) == 1
    assert "VI_REGION=cn-chengdu" in problems[0] and "cn-hangzhou, cn-shanghai" in problems[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"VI_IMAGE": "registry-vpc.cn-shanghai.aliyuncs.com/acme/video-insight:1"},
            "镜像仓库必须与函数同地域",
        ),
        ({"VI_IMAGE": "docker.io/acme/video-insight:1"}, "不是带标签的阿里云镜像仓库地址"),
        ({"VI_IMAGE": "registry-vpc.cn-hangzhou.aliyuncs.com/acme/video-insight"}, "不是带标签"),
        (
            {"VI_FLOW_ROLE_ARN": "video-insight-flow"},
            "VI_FLOW_ROLE_ARN=video-insight-flow: 不是 RAM 角色 ARN",
        ),
        ({"VI_FC_ROLE_ARN": "acs:ram::999:role/x"}, "角色属于不同账号"),
        ({"VI_NAS_SERVER_ADDR": "0a1b.cn-beijing.nas.aliyuncs.com:/video-insight"}, "NAS 挂载点必须同地域"),
        ({"VI_NAS_SERVER_ADDR": "0a1b.cn-hangzhou.nas.aliyuncs.com:/"}, "NAS 根目录"),
        ({"VI_KMS_SECRET_NAME": "video insight"}, "不是 KMS 凭据名"),
    ],
)
def test_each_wrong_value_is_one_clear_line(change: dict[str, str], expected: str) -> None:
    result = _run({**GOOD_ENV, **change})
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if "错误 error" in line]
    assert len(problems) == 1 and expected in problems[0], result.stderr


def test_a_public_registry_address_is_only_a_warning() -> None:
    result = _run({**GOOD_ENV, "VI_IMAGE": "registry.cn-hangzhou.aliyuncs.com/acme/video-insight:latest"})
    assert result.returncode == 0, result.stderr
    assert "prefer registry-vpc" in result.stderr and "tag images by commit" in result.stderr


# --- least-privilege RAM policies, scoped to the region and the account ------------------------


def _policy(name: str) -> dict[str, Any]:
    result = _run(GOOD_ENV, "policy", name)
    assert result.returncode == 0, result.stderr
    policy: dict[str, Any] = json.loads(result.stdout)
    return policy


def _resources(policy: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            out.setdefault(action, []).extend(statement["Resource"])
    return out


@pytest.mark.parametrize("name", ["flow", "function", "gateway"])
def test_every_policy_is_scoped_to_this_region_and_account(name: str) -> None:
    for action, resources in _resources(_policy(name)).items():
        assert not action.endswith("*"), action
        for resource in resources:
            service = action.split(":")[0]
            assert resource.startswith(f"acs:{service}:cn-hangzhou:{ACCOUNT}:"), resource


def test_the_flow_may_invoke_exactly_the_flows_functions() -> None:
    statements = _policy("flow")["Statement"]
    invoke = next(s for s in statements if s["Action"] == ["fc:InvokeFunction"])
    expected = {
        f"acs:fc:cn-hangzhou:{ACCOUNT}:functions/{arn.removeprefix(ARN_PREFIX)}" for arn in registry()
    }
    assert set(invoke["Resource"]) == expected  # not the gateway, not the cleanup timer
    starts = "FNF:StartExecution" in (ROOT / "flows" / "video_insight.yaml").read_text(encoding="utf-8")
    assert len(statements) == (2 if starts else 1), (
        "child-execution rights exactly when the flow starts children"
    )


def test_a_flow_that_starts_child_executions_may_start_only_those(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "States:\n"
        "  - Type: Task\n    Action: FC:InvokeFunction\n"
        "    Parameters:\n      resourceArn: acs:fc:::functions/video-insight-fetch\n"
        "  - Type: Task\n    Action: FNF:StartExecution\n"
        "    Parameters:\n      resourceArn: acs:fnf:::flow/video-insight  # itself, per slice\n"
        "# resourceArn: acs:fc:::functions/commented-out\n",
        encoding="utf-8",
    )
    invoke, start = preflight.flow_policy("cn-hangzhou", ACCOUNT, flow)["Statement"]
    assert invoke["Resource"] == [f"acs:fc:cn-hangzhou:{ACCOUNT}:functions/video-insight-fetch"]
    assert "fnf:StartExecution" in start["Action"]
    assert start["Resource"] == [
        f"acs:fnf:cn-hangzhou:{ACCOUNT}:flow/video-insight",
        f"acs:fnf:cn-hangzhou:{ACCOUNT}:flow/video-insight/execution/*",
    ]


def test_only_the_gateway_may_start_executions_and_both_read_only_their_secret() -> None:
    function, gateway = _resources(_policy("function")), _resources(_policy("gateway"))
    assert not any(action.startswith("fnf:") for action in function)
    assert {"fnf:StartExecution", "fnf:StopExecution", "fnf:DescribeExecution"} <= set(gateway)
    assert all("flow/video-insight" in r for r in gateway["fnf:StartExecution"])
    for policy in (function, gateway):
        assert policy["kms:GetSecretValue"] == [f"acs:kms:cn-hangzhou:{ACCOUNT}:secret/video-insight"]
        assert "log:PostLogStoreLogs" in policy  # logConfig: auto writes with the function's role


def test_a_policy_needs_the_roles_to_know_the_account() -> None:
    result = _run({"VI_REGION": "cn-hangzhou"}, "policy", "flow")
    assert result.returncode == 1 and "账号" in result.stderr


@pytest.mark.parametrize(
    ("name", "service"), [("trust-fnf", "fnf.aliyuncs.com"), ("trust-fc", "fc.aliyuncs.com")]
)
def test_each_role_trusts_only_its_service(name: str, service: str) -> None:
    trust = json.loads((ROOT / "infra" / "ram" / f"{name}.json").read_text(encoding="utf-8"))
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": [service]}
