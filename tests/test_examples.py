"""The committed examples: the batch file is valid and its sample media are what they claim to be."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BATCH = EXAMPLES / "batch.json"
SCHEMA = ROOT / "steps" / "batch.schema.json"
MAX_MEDIA_BYTES = 1_000_000


def _load_make_media() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_make_media", EXAMPLES / "make_media.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


make_media = _load_make_media()


@pytest.fixture(scope="module")
def batch() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BATCH.read_text(encoding="utf-8"))
    return data


def _local(entry: dict[str, Any]) -> Path:
    return (BATCH.parent / entry["path"]).resolve()


def test_batch_validates_against_the_published_schema(batch: dict[str, Any]) -> None:
    assert SCHEMA.is_file(), f"{SCHEMA.relative_to(ROOT)} is missing: the batch has no schema to follow"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(batch, schema, cls=jsonschema.Draft202012Validator)


def test_batch_options_parse_as_manifest_options(batch: dict[str, Any]) -> None:
    from steps import Options

    options = Options.model_validate(batch["options"])
    assert options.shots.screenshot_times_s == [1.0]


def test_batch_lists_every_clip_plus_the_broken_file(batch: dict[str, Any]) -> None:
    paths = [Path(v["path"]).name for v in batch["videos"]]
    assert sorted(paths) == sorted([c.name for c in make_media.CLIPS] + [make_media.BROKEN])
    assert all(not Path(v["path"]).is_absolute() for v in batch["videos"]), "paths must be relative"
    assert any("performance" in v for v in batch["videos"])
    assert any("performance" not in v for v in batch["videos"])


def test_referenced_files_exist_and_media_stays_small(batch: dict[str, Any]) -> None:
    for entry in batch["videos"]:
        assert _local(entry).is_file(), f"{entry['path']} is missing: run examples/make_media.py"
    total = sum(p.stat().st_size for p in (EXAMPLES / "media").iterdir() if p.is_file())
    assert total < MAX_MEDIA_BYTES, f"examples/media holds {total} bytes"


@pytest.mark.parametrize("clip", make_media.CLIPS, ids=lambda c: c.name)
def test_clip_is_a_real_video(clip: Any) -> None:
    with av.open(str(EXAMPLES / "media" / clip.name)) as container:
        assert container.duration is not None
        duration = container.duration / av.time_base
        video = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        frames = sum(1 for _ in container.decode(video=0))
    assert 5.5 <= duration <= 12.5
    assert (video.codec_context.width, video.codec_context.height) == make_media.SIZE
    assert has_audio is clip.audio
    assert abs(frames - duration * make_media.FPS) <= 2


def test_broken_file_cannot_be_decoded() -> None:
    broken = EXAMPLES / "media" / make_media.BROKEN
    assert broken.stat().st_size == make_media.BROKEN_BYTES
    with pytest.raises(av.error.InvalidDataError):
        av.open(str(broken))


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("espeak-ng") is None, reason="needs ffmpeg and espeak-ng"
)
def test_make_media_reproduces_the_committed_clips(tmp_path: Path) -> None:
    made = make_media.make_all(tmp_path)
    for clip in make_media.CLIPS:
        assert len(made[clip.name]) == len(clip.shots)
        with av.open(str(tmp_path / clip.name)) as new, av.open(str(EXAMPLES / "media" / clip.name)) as old:
            assert new.duration is not None and old.duration is not None
            assert abs(new.duration - old.duration) / av.time_base < 0.1
    assert (tmp_path / make_media.BROKEN).stat().st_size == make_media.BROKEN_BYTES
