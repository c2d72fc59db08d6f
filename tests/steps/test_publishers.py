"""The output registry: what the request may ask for, in which order outputs are made, and the schema."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from steps import (
    PUBLISHERS,
    Destination,
    Options,
    Registry,
    Settings,
    UnknownName,
    batch_schema,
    default_outputs,
)
from steps._outputs import Counts, Results
from steps._publishers import Publisher, publish_results
from steps.errors import FeishuError

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_schema_is_the_generated_one() -> None:
    """Regenerate with scripts/batch-schema after adding an output."""
    for copy in (ROOT / "steps" / "batch.schema.json", ROOT / "examples" / "batch.schema.json"):
        assert json.loads(copy.read_text(encoding="utf-8")) == batch_schema(), (
            f"run scripts/batch-schema ({copy})"
        )


def test_the_schema_and_the_options_offer_exactly_the_registered_outputs() -> None:
    outputs = batch_schema()["$defs"]["options"]["properties"]["outputs"]
    assert outputs["items"]["enum"] == list(PUBLISHERS) == ["json", "xlsx", "html", "bitable"]
    assert outputs["default"] == default_outputs() == Options().outputs
    for name, publisher in PUBLISHERS.items():
        assert f"{name}: {publisher.description}" in outputs["description"]


def test_an_output_no_publisher_has_is_refused_by_name() -> None:
    assert Options(outputs=["html"]).outputs == ["html"]
    with pytest.raises(ValidationError, match=r"unknown output 'pdf': expected one of json, xlsx, html"):
        Options(outputs=["pdf"])


@dataclass
class Recorder:
    """A publisher that notes when it ran; ``link`` makes it publish elsewhere, like Bitable."""

    name: str
    log: list[str]
    link: str | None = None
    description: str = "test output"
    default: bool = False
    seen: list[Destination] = field(default_factory=list)

    @property
    def local(self) -> bool:
        return self.link is None

    def publish(self, results: Results, to: Destination) -> str:
        self.log.append(self.name)
        self.seen.append(to)
        return self.link or f"{self.name}.out"


def _results() -> Results:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return Results(
        task_id="t1",
        title="T",
        created_at=now,
        finished_at=now,
        counts=Counts(total=0, ok=0, failed=0),
        videos=[],
    )


def test_results_json_is_published_last_and_links_come_back(tmp_path: Path) -> None:
    log: list[str] = []
    base = Recorder("bitable", log, link="https://feishu.example/base/app1")
    publishers: Registry[Publisher] = Registry(
        "output", [Recorder("json", log), Recorder("xlsx", log), base, Recorder("html", log)]
    )
    to = Destination(out_dir=tmp_path, settings=Settings(workspace=tmp_path), requester="ou_123")
    made = publish_results(_results(), ["html", "bitable"], to, publishers)
    assert log == ["bitable", "html", "json"]  # registry order, results.json last
    assert made == {"json": "json.out", "bitable": "https://feishu.example/base/app1", "html": "html.out"}
    assert base.seen == [to] and base.seen[0].requester == "ou_123"


@dataclass
class Broken(Recorder):
    """A publisher that fails for good."""

    def publish(self, results: Results, to: Destination) -> str:
        self.log.append(self.name)
        raise FeishuError("写入多维表格失败：没有权限（飞书错误码 1063002）", feishu_code=1063002)


def test_a_remote_output_that_fails_is_recorded_and_the_files_are_still_written(tmp_path: Path) -> None:
    log: list[str] = []
    publishers: Registry[Publisher] = Registry(
        "output", [Recorder("json", log), Broken("bitable", log, link="https://x"), Recorder("html", log)]
    )
    to = Destination(out_dir=tmp_path)
    failures: dict[str, dict[str, str]] = {}
    made = publish_results(_results(), ["bitable", "html"], to, publishers, failures=failures)
    assert log == ["bitable", "html", "json"] and made == {"json": "json.out", "html": "html.out"}
    assert failures == {
        "bitable": {"code": "FeishuError", "message": "写入多维表格失败：没有权限（飞书错误码 1063002）"}
    }
    with pytest.raises(FeishuError):  # without a place to record it, the error propagates
        publish_results(_results(), ["bitable"], to, publishers)
    local: Registry[Publisher] = Registry("output", [Recorder("json", log), Broken("xlsx", log)])
    with pytest.raises(FeishuError):  # a file that cannot be written is never skipped
        publish_results(_results(), ["xlsx"], to, local, failures={})


def test_an_unknown_output_publishes_nothing(tmp_path: Path) -> None:
    log: list[str] = []
    publishers: Registry[Publisher] = Registry("output", [Recorder("json", log), Recorder("xlsx", log)])
    with pytest.raises(UnknownName, match=r"unknown output 'pdf': expected one of json, xlsx"):
        publish_results(_results(), ["xlsx", "pdf"], Destination(out_dir=tmp_path), publishers)
    assert log == []


def test_a_registry_is_fixed_once_built() -> None:
    log: list[str] = []
    first: Registry[Recorder] = Registry("output", [Recorder("json", log)])
    more = first.with_items(Recorder("xlsx", log))
    assert first.names() == ("json",) and more.names() == ("json", "xlsx")
    with pytest.raises(ValueError, match="output 'json' is registered twice"):
        first.with_items(Recorder("json", log))
