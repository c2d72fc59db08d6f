from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from steps import Settings, StepContext, TaskWorkspace, atomic_write_json, load_manifest, load_progress
from steps._manifest import Options
from steps._request import batch_schema, normalize_source
from steps.errors import InvalidRequest, InvalidStepInput
from steps.prepare import handler

ROOT = Path(__file__).resolve().parents[2]


def prepare(settings: Settings, request: Any, task_id: str = "t1") -> dict[str, Any]:
    ws = TaskWorkspace(settings.workspace, task_id)
    ws.dir.mkdir(parents=True, exist_ok=True)
    ws.request.write_text(json.dumps(request), encoding="utf-8")
    return handler({"task_id": task_id}, StepContext(settings=settings))


def videos(*urls: str) -> list[dict[str, str]]:
    return [{"name": f"video {i}", "url": u} for i, u in enumerate(urls)]


def test_minimal_request_gets_defaults_ids_and_progress(settings: Settings) -> None:
    out = prepare(
        settings, {"videos": videos("https://cdn.example.com/a.mp4", "https://cdn.example.com/b.mp4")}
    )

    assert out["task_id"] == "t1"
    assert out["max_concurrency"] == 4
    assert len(out["video_ids"]) == 2 and len(set(out["video_ids"])) == 2
    ws = TaskWorkspace(settings.workspace, "t1")
    manifest = load_manifest(ws)
    assert manifest.options == Options()
    assert manifest.options.audio.sample_rate == 16000 and manifest.options.shots.detector == "hybrid"
    assert [v.video_id for v in manifest.videos] == out["video_ids"]
    task, states = load_progress(ws)
    assert task["phase"] == "processing" and task["total"] == 2
    assert {s["video_id"]: s["stages"] for s in states} == {v: {"fetch": "pending"} for v in out["video_ids"]}


def test_options_are_kept(settings: Settings) -> None:
    options = {
        "asr": {"engine": "whisper", "language": "en"},
        "shots": {"detector": "content", "threshold": 30, "min_shot_s": 1, "screenshot_times_s": [0, 2.5]},
        "ocr": {"enabled": True, "subtitles": False},
        "audio": {"sample_rate": 22050, "channels": 2},
        "limits": {"max_video_mb": 50, "max_duration_s": 60},
        "analysis": {
            "fields": [
                {
                    "name": "情绪",
                    "type": "single_select",
                    "options": ["积极", "消极"],
                    "description": "整体情绪",
                },
                {"name": "评分", "type": "number"},
            ],
            "keyframes": 2,
        },
        "max_concurrency": 12,
        "outputs": ["json"],
    }
    out = prepare(
        settings, {"title": "spring ads", "videos": videos("https://x.test/a.mp4"), "options": options}
    )

    manifest = load_manifest(TaskWorkspace(settings.workspace, "t1"))
    assert out["max_concurrency"] == 12
    assert manifest.title == "spring ads"
    assert manifest.options.model_dump(exclude_none=True, exclude={"analysis"}) == {
        k: v for k, v in options.items() if k != "analysis"
    }
    fields = manifest.options.analysis.model_dump(mode="json", exclude_defaults=True)
    assert fields == options["analysis"]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"videos": []}, "videos: [] should be non-empty"),
        ({}, '(root): a request lists its "videos" or names a "source" (a Bitable), not both'),
        ({"videos": [{"url": "https://x.test/a.mp4"}]}, "videos[0]: 'name' is a required property"),
        (
            {"videos": [*videos("https://x.test/a.mp4"), {"name": "no source"}]},
            'videos[1]: each video needs exactly one of "url", "path" or "feishu_file"',
        ),
        (
            {"videos": [{"name": "both", "url": "https://x.test/a.mp4", "path": "/tmp/a.mp4"}]},
            'videos[0]: each video needs exactly one of "url", "path" or "feishu_file"',
        ),
        (
            {"videos": videos("https://x.test/a.mp4"), "options": {"audio": {"sample_rate": 4000}}},
            "options.audio.sample_rate: 4000 is less than the minimum of 8000",
        ),
        (
            {"videos": videos("https://x.test/a.mp4"), "options": {"shots": {"thresold": 3}}},
            "options.shots: Additional properties are not allowed ('thresold' was unexpected)",
        ),
        (
            {"videos": videos("https://x.test/a.mp4"), "options": {"shots": {"threshold": 0}}},
            "options.shots.threshold: 0 is less than or equal to the minimum of 0",
        ),
        (
            {"videos": videos("https://x.test/a.mp4"), "options": {"max_concurrency": 41}},
            "options.max_concurrency: 41 is greater than the maximum of 40",
        ),
        (
            {"videos": videos("https://x.test/a.mp4"), "options": {"outputs": ["pdf"]}},
            "options.outputs[0]: 'pdf' is not one of ['json', 'xlsx', 'html', 'bitable']",
        ),
        (
            {"videos": videos("https://x.test/a.mp4"), "options": {"asr": {"engine": "google"}}},
            "options.asr.engine: 'google' is not one of",
        ),
        (
            {"videos": [{"name": "n", "url": "https://x.test/a", "performance": {"clicks": -1}}]},
            "videos[0].performance.clicks: -1 is less than the minimum of 0",
        ),
    ],
)
def test_schema_violations_name_the_json_path(settings: Settings, request_: Any, expected: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        prepare(settings, request_)
    assert expected in info.value.message
    assert info.value.code == "InvalidRequest"


def test_several_errors_are_reported_together(settings: Settings) -> None:
    bad = {"videos": [{"name": ""}, {"name": "x", "url": 3}], "options": {"max_concurrency": 0}}
    with pytest.raises(InvalidRequest) as info:
        prepare(settings, bad)
    message = info.value.message
    assert "options.max_concurrency" in message and "videos[0]" in message and "videos[1].url" in message


def test_duplicate_links_are_listed_but_processed_once(settings: Settings) -> None:
    urls = (
        "https://CDN.Example.com/a.mp4",
        "https://cdn.example.com/b.mp4",
        "  https://cdn.example.com/a.mp4#t=3 ",
        "https://cdn.example.com/a.mp4",
    )
    out = prepare(settings, {"videos": videos(*urls)})

    manifest = load_manifest(TaskWorkspace(settings.workspace, "t1"))
    first, second, dup1, dup2 = manifest.videos
    assert out["video_ids"] == [first.video_id, second.video_id]
    assert dup1.duplicate_of == first.video_id and dup2.duplicate_of == first.video_id
    assert len({v.video_id for v in manifest.videos}) == 4
    assert (
        dup1.url == "https://cdn.example.com/a.mp4#t=3"
    )  # the link as given (trimmed) stays in the manifest
    task, states = load_progress(TaskWorkspace(settings.workspace, "t1"))
    assert task["total"] == 2 and task["duplicates"] == 2 and len(states) == 2


def test_different_query_is_not_a_duplicate(settings: Settings) -> None:
    out = prepare(settings, {"videos": videos("https://x.test/v.mp4?id=1", "https://x.test/v.mp4?id=2")})
    assert len(out["video_ids"]) == 2


def test_ids_are_stable_across_tasks_and_reruns(settings: Settings) -> None:
    request = {"videos": [*videos("https://x.test/a.mp4"), {"name": "local", "path": "/data/clip.mp4"}]}
    a = prepare(settings, request, "task-a")
    b = prepare(settings, request, "task-b")
    manifest_path = TaskWorkspace(settings.workspace, "task-a").manifest
    before = manifest_path.read_bytes()
    again = prepare(settings, request, "task-a")

    assert a["video_ids"] == b["video_ids"] == again["video_ids"]
    assert all(v.startswith("v") and len(v) == 11 for v in a["video_ids"])
    assert manifest_path.read_bytes() == before  # a re-run rewrites the very same manifest


def test_relative_path_is_rejected(settings: Settings) -> None:
    with pytest.raises(InvalidRequest, match=r"videos\[0\]\.path: 'clips/a\.mp4' is not an absolute path"):
        prepare(settings, {"videos": [{"name": "a", "path": "clips/a.mp4"}]})


def test_unsupported_scheme_is_left_to_fetch(settings: Settings) -> None:
    # One bad link must fail that video, not the whole batch: Prepare accepts any non-empty url.
    out = prepare(settings, {"videos": videos("ftp://files.example.com/a.mp4", "https://x.test/b.mp4")})
    assert len(out["video_ids"]) == 2


def test_missing_or_broken_request(settings: Settings) -> None:
    ws = TaskWorkspace(settings.workspace, "t1")
    with pytest.raises(InvalidRequest, match="has no request"):
        handler({"task_id": "t1"}, StepContext(settings=settings))
    ws.dir.mkdir(parents=True)
    ws.request.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        handler({"task_id": "t1"}, StepContext(settings=settings))


def test_request_task_id_must_match(settings: Settings) -> None:
    with pytest.raises(InvalidRequest, match="does not match the task"):
        prepare(settings, {"task_id": "other", "videos": videos("https://x.test/a.mp4")})


def test_invalid_task_id_is_invalid_input(settings: Settings) -> None:
    with pytest.raises(InvalidStepInput):
        handler({"task_id": "../etc"}, StepContext(settings=settings))


def test_normalize_source() -> None:
    assert (
        normalize_source(" HTTPS://User:PW@Example.COM/A.mp4?x=Y#frag ")
        == "https://User:PW@example.com/A.mp4?x=Y"
    )
    assert normalize_source("https://example.com") == "https://example.com/"


# --- the published schema ----------------------------------------------------------------------


def test_published_schema_is_the_packaged_one_and_valid() -> None:
    published = ROOT / "examples" / "batch.schema.json"
    packaged = ROOT / "steps" / "batch.schema.json"
    assert published.read_bytes() == packaged.read_bytes(), "copy steps/batch.schema.json to examples/"
    jsonschema.Draft202012Validator.check_schema(batch_schema())


def _schema_tree(node: dict[str, Any]) -> dict[str, Any]:
    """{name: default | subtree} of the options part of the schema."""
    out: dict[str, Any] = {}
    for name, prop in node["properties"].items():
        assert prop.get("description"), f"{name} has no description"
        out[name] = _schema_tree(prop) if "properties" in prop else prop.get("default")
    return out


def test_schema_options_mirror_the_options_model() -> None:
    # Same field names at every level, and the documented defaults are the model's defaults.
    assert _schema_tree(batch_schema()["$defs"]["options"]) == Options().model_dump(mode="json")


def test_local_paths_are_refused_outside_the_cli(settings: Settings, tmp_path: Path) -> None:
    """In the cloud a request naming a path could copy another task's file off the shared mount."""
    cloud = replace(settings, allow_local_paths=False)
    ws = TaskWorkspace(cloud.workspace, "t_cloud")
    atomic_write_json(ws.request, {"videos": [{"name": "x", "path": str(tmp_path / "a.mp4")}]})
    with pytest.raises(
        InvalidRequest, match=r"videos\[0\]\.path: local files are accepted only by the command line"
    ):
        handler({"task_id": "t_cloud"}, StepContext(settings=cloud))


def test_request_in_the_input_is_stored_once_then_kept(settings: Settings) -> None:
    """A cloud submit carries the request in the execution input; Prepare stores it in the workspace."""
    request = {"title": "云端", "videos": videos("https://cdn.example.com/a.mp4")}
    ctx = StepContext(settings=settings)
    out = handler({"task_id": "t9", "request": request}, ctx)
    ws = TaskWorkspace(settings.workspace, "t9")
    assert json.loads(ws.request.read_text(encoding="utf-8")) == request
    assert len(out["video_ids"]) == 1 and load_manifest(ws).title == "云端"
    # A retry of the same execution reads what was stored, whatever the input says.
    again = handler({"task_id": "t9", "request": {"videos": videos("https://x.test/b.mp4")}}, ctx)
    assert again == out
    with pytest.raises(InvalidRequest):  # an invalid inline request is refused before anything is written
        handler({"task_id": "t10", "request": {"videos": []}}, ctx)
    assert not TaskWorkspace(settings.workspace, "t10").request.exists()


def test_a_batch_over_the_slice_size_is_split_and_each_child_gets_its_share(settings: Settings) -> None:
    from steps.prepare import SLICE_SIZE

    urls = [f"https://cdn.example.com/{i}.mp4" for i in range(2 * SLICE_SIZE + 50)]
    out = prepare(settings, {"videos": videos(*urls)})
    assert out["mode"] == "split" and out["slices"] == [0, 1, 2] and out["video_ids"] == []
    ctx = StepContext(settings=settings)
    ids = [v.video_id for v in load_manifest(TaskWorkspace(settings.workspace, "t1")).videos]
    shares = [handler({"task_id": "t1", "slice": n}, ctx) for n in range(3)]
    assert [s["mode"] for s in shares] == ["slice"] * 3 and all(s["slices"] == [] for s in shares)
    assert [v for s in shares for v in s["video_ids"]] == ids
    assert [len(s["video_ids"]) for s in shares] == [SLICE_SIZE, SLICE_SIZE, 50]
    task, _ = load_progress(TaskWorkspace(settings.workspace, "t1"))
    assert task["total"] == len(urls)  # a child never resets the task's progress
    with pytest.raises(InvalidRequest, match="has 250 videos: there is no slice 3"):
        handler({"task_id": "t1", "slice": 3}, ctx)
    with pytest.raises(InvalidRequest, match="slice 0 was started before Prepare"):
        handler({"task_id": "t2", "slice": 0}, ctx)


def test_a_batch_that_fits_is_one_execution(settings: Settings) -> None:
    out = prepare(settings, {"videos": videos("https://cdn.example.com/a.mp4")})
    assert out["mode"] == "batch" and out["slices"] == [] and len(out["video_ids"]) == 1


def test_a_task_id_too_long_to_name_its_children(settings: Settings) -> None:
    from steps.prepare import SLICE_SIZE

    urls = [f"https://cdn.example.com/{i}.mp4" for i in range(SLICE_SIZE + 1)]
    with pytest.raises(InvalidRequest, match="too long to name child executions"):
        prepare(settings, {"videos": videos(*urls)}, task_id="t" * 125)
