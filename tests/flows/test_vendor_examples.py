"""Flows as the vendor's CloudFlow documentation writes them (``tests/flows/vendor/``, each citing its page).

Real CloudFlow accepts every one, so the validator must too; what the embedded engine cannot run is
reported apart, and the rest runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows import Engine, ExecutionStore, TaskContext, check_flow, embedded_gaps, load_flow, validate_flow
from steps import registry

VENDOR = Path(__file__).resolve().parent / "vendor"
EXAMPLES = sorted(VENDOR.glob("*.yaml"))


def test_every_example_cites_its_source() -> None:
    assert len(EXAMPLES) >= 7
    for path in EXAMPLES:
        assert "https://" in path.read_text(encoding="utf-8").split("\nType:")[0], path.name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_vendors_examples_are_valid(path: Path) -> None:
    assert validate_flow(path) == []


@pytest.mark.parametrize(
    ("name", "gaps"),
    [
        ("built_in_function", []),
        ("choice", []),
        ("succeed_ends_a_scope", []),
        ("distributed_map", []),
        (
            "dashscope",
            ["总结: Action: the embedded engine runs FC:InvokeFunction and FNF:StartExecution Tasks"],
        ),
        (
            "child_flow",
            [
                "StartExecution: Parameters.resourceArn: the embedded engine starts only its own flow",
                "StartExecution: TaskMode: the embedded engine waits for child executions",
            ],
        ),
        (
            "video_understanding",
            [
                "视频理解: Parameters.resourceArn: unknown function 'acs:fc:::functions/video-understanding'",
                "一键成片: Parameters.resourceArn: unknown function 'acs:fc:::functions/one-click-film'",
            ],
        ),
    ],
)
def test_what_the_embedded_engine_cannot_run_is_reported_as_such(name: str, gaps: list[str]) -> None:
    found = [str(p) for p in embedded_gaps(VENDOR / f"{name}.yaml", known_arns=registry())]
    assert len(found) == len(gaps) and all(f.startswith(g) for f, g in zip(found, gaps, strict=True)), found


def run(tmp_path: Path, name: str, inp: Any, fns: dict[str, Any] | None = None) -> Any:
    spec = check_flow(load_flow(VENDOR / f"{name}.yaml"))
    engine = Engine(spec, fns or {}, store=ExecutionStore(tmp_path / "executions"))
    return engine.start("e1", inp, wait=True)


def test_the_embedded_engine_runs_them(tmp_path: Path) -> None:
    done = run(tmp_path, "succeed_ends_a_scope", {})
    assert done.status == "Succeeded" and done.output == {
        "Branch0": {"FieldA": 123},
        "Branch1": {"FieldA": 321},
    }
    for n, (inp, went) in enumerate(
        [
            ({"status": "ready"}, "Pass2"),
            ({"status": "held", "tags": ["urgent"], "priority": 2}, "Pass2"),
            ({"status": "held", "tags": [], "priority": 2}, "Pass1"),
        ]
    ):
        assert run(tmp_path / f"c{n}", "choice", inp).output == {"went": went}
    hello = run(tmp_path / "2", "built_in_function", {"username": "Tom"})
    assert hello.output == {"greeting": "Hello, Tom", "letters": 3, "tags": ["a", "b"]}

    def understand(event: Any, ctx: TaskContext) -> Any:
        return {"script": f"三个镜头：{event['videoUrl']}"}

    def film(event: Any, ctx: TaskContext) -> Any:
        return {"videoUrl": event["videoUrl"] + "#short", "prompt": event["prompt"]}

    fns = {"acs:fc:::functions/video-understanding": understand, "acs:fc:::functions/one-click-film": film}
    video = run(tmp_path / "3", "video_understanding", {"videoUrl": "oss://b/long.mp4"}, fns)
    assert video.status == "Succeeded", video.error
    assert video.output == {"videoUrl": "oss://b/long.mp4#short"}
