"""The CLI's CloudFlow side: ``submit``, ``deploy``, ``cloudflow-local`` and the ``--engine`` choice.

``--engine embedded`` (default) runs the flow in this process over the local workspace;
``--engine cloudflow`` talks to CloudFlow (``VI_CLOUDFLOW_REGION``, ``VI_FLOW_NAME``,
``VI_CLOUDFLOW_ENDPOINT``, Alibaba Cloud's credential chain) through the same engine interface.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import flows
import steps

from ._app import BatchError, build_engine, load_batch, publish_outputs
from ._submit import RequestTooLarge, submit_task

__all__ = ["add_cloud_commands", "engine_for", "flow_functions_check"]

ENGINES = ("embedded", "cloudflow")
Settings = Callable[..., steps.Settings]


def _fail(message: str, code: int = 2) -> int:
    print(f"video-insight: error: {message}", file=sys.stderr)
    return code


def engine_for(
    kind: str, settings: steps.Settings, flow_file: Path | None = None, **kw: Any
) -> flows.ExecutionEngine:
    """The engine ``--engine`` names: the embedded one, or the CloudFlow client (CloudFlowError if
    its settings are unusable)."""
    if kind == "cloudflow":  # its steps run in Function Compute: they report progress there
        from ._cloudflow import cloudflow_engine

        flow = str(flows.load_flow(flow_file).get("Name")) if flow_file else None
        return cloudflow_engine(settings, flow)
    return build_engine(settings, flow_file, **kw)


def flow_functions_check(spec: dict[str, Any], s_yaml: Path) -> list[str]:
    """Task functions of ``spec`` that ``s_yaml`` does not deploy (empty: they all match)."""
    project = yaml.safe_load(s_yaml.read_text(encoding="utf-8")) or {}
    deployed = {
        str((res.get("props") or {}).get("functionName"))
        for res in (project.get("resources") or {}).values()
        if isinstance(res, dict) and res.get("component") == "fc3"
    }
    wanted: list[str] = []

    def walk(states: list[dict[str, Any]]) -> None:
        for state in states:
            arn = ((state.get("Parameters") or {}).get("resourceArn")) or ""
            name = flows.function_of_arn(str(arn)) if arn else None
            calls_function = state.get("Action") == "FC:InvokeFunction"  # not a child flow's ARN
            if arn and calls_function and name not in deployed:
                wanted.append(str(arn))
            for scope in [state.get("Processor"), *(state.get("Branches") or [])]:
                if isinstance(scope, dict):
                    walk(scope.get("States") or [])

    walk(spec.get("States") or [])
    return sorted(set(wanted))


def cmd_deploy(args: argparse.Namespace, settings: steps.Settings) -> int:
    """Validate the flow, check its functions against s.yaml, then create or update it on CloudFlow."""
    path = Path(args.flow) if args.flow else flows.default_flow_path()
    try:
        spec = flows.check_flow(path, known_arns=steps.registry())
    except flows.FlowValidationError as exc:
        return _fail(str(exc), 1)
    s_yaml = Path(args.s_yaml)
    if s_yaml.is_file():
        missing = flow_functions_check(spec, s_yaml)
        if missing:
            return _fail(f"{path}: Task functions not deployed by {s_yaml}: {', '.join(missing)}", 1)
    name = str(spec.get("Name"))
    if name != settings.flow_name:
        return _fail(f"{path} defines flow {name!r} but VI_FLOW_NAME is {settings.flow_name!r}", 1)
    if not settings.flow_role_arn and not settings.cloudflow_endpoint:
        return _fail("set VI_FLOW_ROLE_ARN: the RAM role CloudFlow assumes to invoke the functions", 1)
    try:
        engine = engine_for("cloudflow", settings)
        assert isinstance(engine, flows.CloudFlowEngine)
        done = engine.deploy(
            path.read_text(encoding="utf-8"),
            role_arn=settings.flow_role_arn,
            description=str(spec.get("Description") or ""),
        )
    except flows.FlowError as exc:
        return _fail(str(exc), 1)
    print(f"flow {name} {done} at {engine.where}")
    return 0


def cmd_submit(args: argparse.Namespace, settings: steps.Settings) -> int:
    """Submit a batch to an engine; ``--wait`` follows it to the end and copies the outputs."""
    try:
        batch = load_batch(Path(args.batch))
    except BatchError as exc:
        return _fail(str(exc))
    cloud = args.engine == "cloudflow"
    if cloud and any("path" in v for v in batch["videos"]):
        return _fail("local files cannot be analysed on CloudFlow: give each video a url instead of a path")
    try:
        engine = engine_for(args.engine, settings)
        submitted = submit_task(engine, settings.workspace, batch, inline=cloud)
    except RequestTooLarge as exc:
        return _fail(str(exc))
    except flows.ExecutionAlreadyExists:
        print(f"task {batch.get('task_id')} was already submitted and has ended")
        return 0
    except flows.FlowError as exc:
        return _fail(str(exc), 1)
    task_id = submitted.task_id
    verb = "submitted" if submitted.created else "was already submitted"
    print(f"task {task_id} {verb} ({args.engine}): {submitted.execution.status}")
    if not args.wait and cloud:  # an embedded execution lives in this process: always wait for it
        print(f"follow it with: video-insight executions show {task_id} --engine {args.engine}")
        return 0
    try:
        execution = engine.wait(task_id)
    except flows.FlowError as exc:
        return _fail(str(exc), 1)
    ws = steps.TaskWorkspace(settings.workspace, task_id)
    out = Path(args.out) if args.out else Path("video-insight-out") / task_id
    if ws.out.is_dir():  # the functions share this workspace (the local endpoint, a NAS mount)
        publish_outputs(ws, out)
        print(f"results: {out / 'results.json'}")
    print(f"task {task_id}: {execution.status}")
    if execution.status is not flows.ExecutionStatus.SUCCEEDED:
        err = execution.error or {}
        return _fail(
            f"task {task_id} {str(execution.status).lower()}: {err.get('Detail') or err.get('Code')}", 1
        )
    return 0


def cmd_cloudflow_local(args: argparse.Namespace, settings: steps.Settings) -> int:
    """Serve the local CloudFlow-compatible endpoint until interrupted."""
    from ._cloudflow import LocalCloudFlowServer, local_keys

    urls: dict[str, str] = {}
    for item in args.step_url or []:
        step, _, url = item.partition("=")
        if step not in steps.serve_steps() or not url.startswith(("http://", "https://")):
            return _fail(
                f"--step-url {item!r}: expected STEP=URL with STEP one of {', '.join(steps.serve_steps())}"
            )
        urls[step] = url
    if args.access_key_id and not args.access_key_secret:
        return _fail("--access-key-id needs --access-key-secret")
    keys = local_keys(settings, args.access_key_id or "", args.access_key_secret or "")
    server = LocalCloudFlowServer(settings, keys, host=args.host, port=args.port, step_urls=urls)
    key_id = next(iter(keys))
    print(f"local CloudFlow endpoint on {server.endpoint} (AccessKeyId {key_id})", flush=True)
    print(f"  export VI_CLOUDFLOW_ENDPOINT={server.endpoint}", flush=True)
    server.run()
    return 0


def add_cloud_commands(sub: Any, settings_of: Settings) -> None:
    """Add ``submit``, ``deploy`` and ``cloudflow-local`` to the CLI's subparsers."""

    def bind(cmd: Callable[[argparse.Namespace, steps.Settings], int], **kw: Any) -> Callable[..., int]:
        return lambda args: cmd(args, settings_of(args, **kw))

    submit = sub.add_parser("submit", help="submit a batch to an engine (the embedded one or CloudFlow)")
    submit.add_argument("batch", help="batch JSON file (see examples/batch.json)")
    submit.add_argument("--engine", choices=ENGINES, default="embedded")
    submit.add_argument("--wait", action="store_true", help="wait for the task to end")
    submit.add_argument("--out", help="with --wait: output folder (default: video-insight-out/<task_id>)")
    submit.set_defaults(func=bind(cmd_submit))

    deploy = sub.add_parser("deploy", help="validate the flow and create or update it on CloudFlow")
    deploy.add_argument("--flow", help="flow YAML (default: the packaged video_insight.yaml)")
    deploy.add_argument(
        "--s-yaml", default="s.yaml", help="Serverless Devs project whose functions the flow calls"
    )
    deploy.set_defaults(func=bind(cmd_deploy))

    local = sub.add_parser("cloudflow-local", help="serve a local CloudFlow-compatible endpoint on loopback")
    local.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    local.add_argument("--port", type=int, default=8790, help="port (default: 8790)")
    local.add_argument("--access-key-id", help="the one AccessKeyId accepted (default: see README)")
    local.add_argument("--access-key-secret", help="its secret")
    local.add_argument(
        "--step-url", action="append", metavar="STEP=URL", help="use a running serve-step server for STEP"
    )
    local.set_defaults(func=bind(cmd_cloudflow_local, local=False))
