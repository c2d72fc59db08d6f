"""``video-insight``: run a batch offline, inspect executions, validate and draw the flow, clean up."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import flows
import steps
from steps.errors import InvalidRequest

from ._app import BatchError, build_engine, clean_stale, load_batch, publish_outputs, unwritable
from ._cloud_cli import ENGINES, add_cloud_commands, engine_for
from ._executions import print_execution, print_executions
from ._progress_view import ProgressView
from ._submit import new_task_id, submit_task

__all__ = ["main"]


def _settings(args: argparse.Namespace, *, local: bool = True) -> steps.Settings:
    """Settings from the environment; ``local``: a person at this machine, who may name local files.

    A service (``local=False``: the cloud functions) also reads the KMS secret ``VI_KMS_SECRET_NAME``
    names, and raises ``SecretStoreError`` when it cannot. A person's commands never do: a deployer
    exports that variable for s.yaml and still runs ``flow validate`` with their own keys.
    """
    from ._secrets import with_kms_secrets

    settings = steps.Settings.from_env(os.environ if local else with_kms_secrets(os.environ))
    if local:  # the cloud functions (serve-step) never read paths named in a request
        settings = dataclasses.replace(settings, allow_local_paths=True)
    if getattr(args, "workspace", None):
        settings = dataclasses.replace(settings, workspace=Path(args.workspace))
    level = "DEBUG" if args.verbose else ("WARNING" if local else settings.log_level)
    steps.configure_logging(settings.log_format, level)
    return settings


def _fail(message: str, code: int = 2) -> int:
    print(f"video-insight: error: {steps.printable(message)}", file=sys.stderr)
    return code


def _invalid_name(name: str) -> int | None:
    """Exit 2 with a clear message when ``name`` cannot be an execution name; None when it can."""
    if steps.valid_id(name):
        return None
    return _fail(
        f"无效的执行名称 (invalid execution name) {name!r}: 以字母或 '_' 开头，只含字母、数字、'_'、'-'，"
        "最多 128 个字符 (a letter or '_' first, then letters, digits, '_' and '-')"
    )


def _summarize(ws: steps.TaskWorkspace, out_dir: Path) -> None:
    results_path = out_dir / "results.json"
    if not results_path.is_file():
        print(f"no results were written; task workspace: {ws.dir}")
        return
    results = steps.read_json(results_path)
    counts = results.get("counts", {})
    print(
        f"\n{counts.get('ok', 0)} of {counts.get('total', 0)} videos analysed"
        + (f", {counts['failed']} failed:" if counts.get("failed") else ".")
    )
    for video in results.get("videos", []):
        if video.get("status") == "failed":
            err = video.get("error") or {}
            line = f"  ✗ {video.get('name')}：{steps.failure_text(err.get('code'), err.get('message'))}"
            print(steps.printable(line))
    _print_summary(results)
    print(f"\nresults: {results_path}")
    for name in ("report.html", "report.xlsx"):
        if (out_dir / name).is_file():
            print(f"report:  {out_dir / name}")


def _print_summary(results: dict[str, object]) -> None:
    """The batch summary in a few lines, and what the model calls cost."""
    if isinstance(results.get("summary"), dict):
        summary = steps.BatchSummary.model_validate(results["summary"])
        lines = steps.brief_lines(summary)
        if lines:
            print("\n批次总结 summary:")
            for line in lines:
                print(f"  {steps.printable(line)}")
    if isinstance(results.get("analysis_usage"), dict):
        cost = steps.usage_text(steps.AiUsage.model_validate(results["analysis_usage"]))
        if cost:
            print(cost)


def _check_out(out: Path) -> str | None:
    """An error message when the output folder ``out`` cannot be written, else None."""
    why = unwritable(out)
    if why is None:
        return None
    return f"输出目录不可写 (--out not writable): {steps.printable(str(out))}: {why}"


def _publish(ws: steps.TaskWorkspace, out: Path) -> bool:
    """Copy the outputs to ``out``; on a disk error say where they still are and return False."""
    try:
        publish_outputs(ws, out)
    except OSError as exc:
        _fail(
            f"无法写出结果 (cannot write outputs) to {steps.printable(str(out))}: {exc.strerror or exc}; "
            f"结果仍在任务工作目录 (kept in the task workspace): {ws.out}",
            1,
        )
        return False
    return True


def _follow(
    sink: steps.ProgressSink,
    engine: flows.ExecutionEngine,
    name: str,
    ws: steps.TaskWorkspace,
    out: Path,
    *,
    elsewhere: bool = False,
) -> int:
    """Show progress until execution ``name`` ends, then report its outcome (:func:`_report`).

    ``elsewhere``: another process runs it, so no update reaches ``sink``: the view re-reads the
    task's progress files every second instead.
    """
    view = ProgressView(ws)
    try:
        with sink.registered(view.report), view:  # registered first: no update falls in between
            execution = engine.wait(name, timeout=1.0 if elsewhere else None)
            while not (execution.done or execution.resumable):
                view.refresh()
                execution = engine.wait(name, timeout=1.0)
    except KeyboardInterrupt:
        if elsewhere:
            print(f"\n不再等待；执行 {name} 仍在运行 (stopped waiting; it still runs)", file=sys.stderr)
        else:
            print(f"\ninterrupted; resume with: video-insight executions resume {name}", file=sys.stderr)
        return 130
    return _report(execution, ws, out)


def _report(execution: flows.Execution, ws: steps.TaskWorkspace, out: Path) -> int:
    """Copy the outputs of an ended execution, print the summary; exit 0 only if it succeeded."""
    name, err = execution.name, execution.error or {}
    if execution.resumable and not execution.done:
        return _fail(
            f"执行 {name} 的进程已不在 (its process is gone); "
            f"继续执行 (continue it with): video-insight executions resume {name}",
            1,
        )
    if err.get("Code") == flows.StorageFull.code:
        return _fail(
            f"工作目录磁盘已满，执行 {name} 已停止 (workspace disk full): {err.get('Detail')}; "
            f"释放空间后继续 (free space, then run): video-insight executions resume {name}",
            1,
        )
    if not _publish(ws, out):
        return 1
    _summarize(ws, out)
    if execution.status is not flows.ExecutionStatus.SUCCEEDED:
        status = {"Failed": "失败 failed", "Stopped": "已停止 stopped", "TimedOut": "超时 timed out"}
        why = err.get("Detail") or err.get("Code")
        return _fail(
            f"任务{status.get(str(execution.status), str(execution.status))} (task {name}): {why}", 1
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        batch = load_batch(Path(args.batch))
    except BatchError as exc:
        return _fail(str(exc))
    batch["task_id"] = task_id = batch.get("task_id") or new_task_id()
    out = Path(args.out) if args.out else Path("video-insight-out") / task_id
    problem = _check_out(out)  # before anything starts: a read-only or full --out fails now, not at the end
    if problem:
        return _fail(problem)
    sink = steps.progress_sink(settings)
    engine = build_engine(settings, progress=sink)
    try:
        submitted = submit_task(engine, settings.workspace, batch, progress=sink)
    except InvalidRequest as exc:
        return _fail(f"批次无效 (invalid batch): {exc.message}")
    except OSError as exc:
        return _fail(
            f"无法写入工作目录 (cannot write the workspace) {settings.workspace}: {exc.strerror or exc}", 1
        )
    ws = steps.TaskWorkspace(settings.workspace, task_id)
    execution = submitted.execution
    if submitted.created:
        listed = f"{len(batch['videos'])} videos" if "videos" in batch else "videos from the Bitable"
        print(f"task {task_id}: {listed}, workspace {ws.dir}")
        return _follow(sink, engine, task_id, ws, out)
    if not (execution.done or execution.resumable):
        print(
            f"任务 {task_id} 已在运行（另一个 run 提交的）；等待它结束，Ctrl-C 只停止等待 "
            f"(task {task_id} is already running elsewhere; waiting for it to end)"
        )
        return _follow(sink, engine, task_id, ws, out, elsewhere=True)
    print(f"task {task_id} already has an execution:")
    print_execution(engine, task_id)
    return _report(execution, ws, out)


def cmd_resume(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if (bad := _invalid_name(args.name)) is not None:
        return bad
    sink = steps.progress_sink(settings)
    engine = build_engine(settings, _flow_file(args), progress=sink)
    try:
        task_id = (engine.describe(args.name).input or {}).get("task_id", args.name)
        ws = steps.TaskWorkspace(settings.workspace, task_id)
        out = Path(args.out) if args.out else Path("video-insight-out") / task_id
        problem = _check_out(out)  # before resuming, as for run
        if problem:
            return _fail(problem)
        execution = engine.resume(args.name)
    except flows.FlowError as exc:
        return _fail(f"无法继续执行 (cannot resume): {exc}", 1)
    return _follow(sink, engine, execution.name, ws, out)


def _flow_file(args: argparse.Namespace) -> Path | None:
    return Path(args.flow_file) if getattr(args, "flow_file", None) else None


def cmd_executions(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.action == "resume":
        if args.engine == "cloudflow":
            return _fail(
                "CloudFlow 自己运行执行，无需 resume"
                "（CloudFlow runs its executions itself: there is nothing to resume）",
                1,
            )
        return cmd_resume(args)
    if args.action == "graph":
        args.file, args.execution = args.flow_file, args.name
        return _graph(args, settings)
    if args.action != "list" and (bad := _invalid_name(args.name)) is not None:
        return bad
    try:
        engine = engine_for(args.engine, settings, _flow_file(args))
        if args.action == "list":
            print_executions(engine)
        elif args.action == "stop":
            stopped = engine.stop(args.name, error=args.error, cause=args.cause)
            print(f"execution {stopped.name}: {stopped.status}")
        else:
            print_execution(engine, args.name)
    except flows.FlowError as exc:
        return _fail(str(exc), 1)
    return 0


def cmd_flow(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = Path(args.file) if getattr(args, "file", None) else flows.default_flow_path()
    if args.action == "validate":
        problems = flows.validate_flow(path)
        if problems:
            print(f"{path}: invalid ({len(problems)} problem(s))", file=sys.stderr)
            for problem in problems:
                print(f"  - {steps.printable(str(problem))}", file=sys.stderr)
            return 1
        print(f"{path}: valid")
        gaps = flows.embedded_gaps(path, known_arns=steps.registry())
        if gaps:  # valid CloudFlow: it can run in the cloud, just not on this machine
            print(f"the embedded engine cannot run ({len(gaps)}); CloudFlow can:", file=sys.stderr)
            for gap in gaps:
                print(f"  - {gap}", file=sys.stderr)
        return 0
    return _graph(args, settings)


def _graph(args: argparse.Namespace, settings: steps.Settings) -> int:
    """Draw the flow (``args.file`` or the packaged one), coloured by ``args.execution`` if given."""
    path = Path(args.file) if getattr(args, "file", None) else flows.default_flow_path()
    try:
        spec = flows.check_flow(path)
    except flows.FlowValidationError as exc:
        return _fail(str(exc), 1)
    stats = None
    if args.execution is not None:
        if (bad := _invalid_name(args.execution)) is not None:
            return bad
        try:
            flow_file = Path(args.file) if getattr(args, "file", None) else None
            events = engine_for(args.engine, settings, flow_file).history(args.execution)
        except flows.FlowError as exc:
            return _fail(str(exc), 1)
        stats = flows.state_stats(events)
    output = Path(args.output)
    html = output.suffix.lower() in (".html", ".htm")
    text = flows.render_graph(spec, stats, fmt="html" if html else "svg")
    steps.atomic_write_bytes(output, text.encode("utf-8"))
    print(f"wrote {output}")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        seconds = steps.parse_duration(args.older_than)
    except ValueError as exc:
        return _fail(str(exc))
    removed = clean_stale(settings, seconds)
    print(f"removed {len(removed)} task workspace(s)" + (": " + ", ".join(removed) if removed else ""))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    for key, value in _settings(args).public().items():
        print(f"{key} = {value}")
    return 0


def cmd_serve_step(args: argparse.Namespace) -> int:
    from ._serve import serve_step

    try:
        serve_step(_settings(args, local=False), args.step, args.host, args.port)
    except steps.StepNotFound as exc:
        return _fail(str(exc))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import bot_gateway

    from ._bot import serve_bot

    settings = _settings(args, local=False)
    if not settings.feishu_configured:
        return _fail("没有配置飞书应用：请设置 FEISHU_APP_ID 和 FEISHU_APP_SECRET")
    limits = bot_gateway.Limits(settings.gateway_max_tasks_per_user, settings.gateway_max_tasks)
    try:
        serve_bot(settings, args.host, args.port, limits, args.engine)
    except flows.FlowError as exc:  # CloudFlow settings that cannot work (region, credentials)
        return _fail(str(exc))
    return 0


def cmd_feishu(args: argparse.Namespace) -> int:
    from ._bot import send_event

    settings = _settings(args)
    try:
        status, text = send_event(settings, Path(args.file), args.to)
    except (OSError, ValueError) as exc:
        return _fail(f"无法发送 {args.file}：{exc}")
    print(f"HTTP {status} {text}")
    return 0 if 200 <= status < 300 else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``video-insight``."""
    parser = argparse.ArgumentParser(prog="video-insight", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logs on stderr")
    parser.add_argument(
        "--workspace", help="workspace root (default: $VI_WORKSPACE or ~/.cache/video-insight)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="analyse the videos of a batch file offline")
    run.add_argument("batch", help="batch JSON file (see examples/batch.json)")
    run.add_argument("--out", help="output folder (default: video-insight-out/<task_id>)")
    run.set_defaults(func=cmd_run)

    ex = sub.add_parser("executions", help="list, show, stop or resume executions (local or on CloudFlow)")
    ex.add_argument("--flow-file", help="flow YAML whose executions to use (default: the packaged one)")
    ex.add_argument("--engine", choices=ENGINES, default="embedded", help="where the executions run")
    ex_sub = ex.add_subparsers(dest="action", required=True)
    listing = ex_sub.add_parser("list", help="every execution, newest first")
    show = ex_sub.add_parser("show", help="status, timings per state and errors of one execution")
    show.add_argument("name")
    ex_graph = ex_sub.add_parser("graph", help="draw the flow coloured by one execution (.svg or .html)")
    ex_graph.add_argument("name")
    ex_graph.add_argument("-o", "--output", required=True, help="output file (.svg or .html)")
    stop = ex_sub.add_parser(
        "stop", help="stop a running execution (running steps finish, no new one starts)"
    )
    stop.add_argument("name")
    stop.add_argument("--error", default="Stopped", help="error code recorded (default: Stopped)")
    stop.add_argument("--cause", default="stopped by the user", help="reason recorded")
    resume = ex_sub.add_parser("resume", help="continue an execution whose process was killed")
    resume.add_argument("name")
    resume.add_argument("--out", help="output folder (default: video-insight-out/<task_id>)")
    for action in (listing, show, ex_graph, stop, resume):  # --engine after the action works too
        action.add_argument("--engine", choices=ENGINES, default=argparse.SUPPRESS, help="where it runs")
    ex.set_defaults(func=cmd_executions)

    flow = sub.add_parser("flow", help="validate or draw the flow definition")
    flow_sub = flow.add_subparsers(dest="action", required=True)
    val = flow_sub.add_parser("validate", help="check a flow YAML against the CloudFlow spec")
    val.add_argument("file", nargs="?", help="flow YAML (default: the packaged video_insight.yaml)")
    graph = flow_sub.add_parser("graph", help="draw the flow as SVG or HTML, coloured by an execution")
    graph.add_argument("file", nargs="?", help="flow YAML (default: the packaged one)")
    graph.add_argument("--execution", help="colour states by this execution's status")
    graph.add_argument("--engine", choices=ENGINES, default="embedded", help="where that execution ran")
    graph.add_argument("-o", "--output", required=True, help="output file (.svg or .html)")
    flow.set_defaults(func=cmd_flow)

    clean = sub.add_parser("clean", help="remove stale task workspaces")
    clean.add_argument("--older-than", required=True, help="age such as 24h, 90m, 7d")
    clean.set_defaults(func=cmd_clean)

    serve = sub.add_parser("serve-step", help="serve one step over HTTP (Function Compute custom container)")
    serve.add_argument("--step", help="step to serve (default: from $FC_FUNCTION_NAME), e.g. fetch")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    serve.add_argument("--port", type=int, default=9000, help="port (default: 9000, as in s.yaml)")
    serve.set_defaults(func=cmd_serve_step)

    bot = sub.add_parser("serve", help="run the Feishu bot: webhook plus an engine (embedded or CloudFlow)")
    bot.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    bot.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    bot.add_argument("--engine", choices=ENGINES, default="embedded", help="where executions run")
    bot.set_defaults(func=cmd_serve)

    fs = sub.add_parser("feishu", help="Feishu helpers")
    fs_sub = fs.add_subparsers(dest="action", required=True)
    send = fs_sub.add_parser("send-event", help="sign, encrypt and POST a sample event to a gateway")
    send.add_argument("file", help="event JSON (see examples/feishu/)")
    send.add_argument("--to", required=True, help="webhook URL, e.g. http://127.0.0.1:8000/webhook/event")
    fs.set_defaults(func=cmd_feishu)

    add_cloud_commands(sub, _settings)

    config = sub.add_parser("config", help="print the effective settings (secrets masked)")
    config.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``video-insight`` console script."""
    from ._secrets import SecretStoreError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SecretStoreError as exc:
        return _fail(str(exc))
