"""FunASR: SenseVoiceSmall recognition over fsmn-vad speech segments, from local model folders.

A model is a local directory or a ModelScope id found in the local ModelScope cache; nothing is
ever downloaded. Directories are checked before ``funasr`` is even imported, so a missing model
fails in milliseconds instead of after the hub client's retries.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._logging import get_logger
from .._media import read_pcm
from ..errors import ModelUnavailable
from .base import RawSegment, Transcription, build_segments

__all__ = [
    "SENSEVOICE_ID",
    "VAD_ID",
    "FunasrEngine",
    "check_model_dir",
    "import_funasr",
    "load_model",
    "parse_sensevoice",
    "resolve_model_dir",
    "sensevoice_words",
    "speech_spans",
]

SENSEVOICE_ID = "iic/SenseVoiceSmall"
VAD_ID = "iic/speech_fsmn_vad_zh-cn-16k-common-pytorch"
_ALIASES = {"SenseVoiceSmall": SENSEVOICE_ID, "sensevoice": SENSEVOICE_ID, "fsmn-vad": VAD_ID}
_INSTALL_HINT = "funasr is not installed: pip install 'video-insight[funasr]'"
_SAMPLE_RATE = 16000
_MAX_SEGMENT_S = 30.0  # SenseVoice is trained on utterances up to ~30 s
_TAG = re.compile(r"<\|([^|>]*)\|>")
_LANGUAGES = {"zh", "en", "yue", "ja", "ko"}
_MODELS: dict[tuple[str, str], Any] = {}
_LOAD_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()  # AutoModel.generate is not safe to call from two threads
log = get_logger(__name__)


def _cache_roots() -> list[Path]:
    base = Path.home() / ".cache" / "modelscope" / "hub"
    return [base / "models", base]


def check_model_dir(path: Path, what: str = "FunASR model") -> Path:
    """Return ``path`` when it holds a loadable FunASR model, else raise :class:`ModelUnavailable`.

    A model folder has ``configuration.json`` (whose ``file_path_metas`` files must all exist) or
    ``config.yaml`` and ``model.pt``.
    """
    if not path.is_dir():
        raise ModelUnavailable(f"{what} not found at {path}")
    conf = path / "configuration.json"
    if conf.is_file():
        try:
            metas = json.loads(conf.read_text(encoding="utf-8")).get("file_path_metas") or {}
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"{what} at {path} has an unreadable configuration.json: {exc}") from exc
        missing = [name for name in _meta_files(metas) if not (path / name).is_file()]
    else:
        missing = [name for name in ("config.yaml", "model.pt") if not (path / name).is_file()]
    if missing:
        raise ModelUnavailable(f"{what} at {path} is incomplete: missing {', '.join(sorted(missing))}")
    return path


def _meta_files(metas: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for value in metas.values():
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, dict):
            names.extend(_meta_files(value))
    return names or ["model.pt"]


def resolve_model_dir(spec: str, default_id: str, what: str = "FunASR model") -> Path:
    """The checked local directory for ``spec`` (a path, a ModelScope id or alias; empty = default)."""
    spec = spec or default_id
    path = Path(spec).expanduser()
    if path.is_absolute() or spec.startswith(".") or path.is_dir():
        return check_model_dir(path, what)
    model_id = _ALIASES.get(spec, spec)
    for root in _cache_roots():
        candidate = root / model_id
        if candidate.is_dir():
            return check_model_dir(candidate, what)
    roots = ", ".join(str(r) for r in _cache_roots())
    raise ModelUnavailable(
        f"{what} {model_id} not found locally (looked in {roots}); "
        "download it once and set VI_FUNASR_MODEL / VI_FUNASR_VAD_MODEL to its folder",
        reason=f"{what} {model_id} not found locally",
    )


def import_funasr() -> Any:
    """The ``funasr`` module (imported on first use: the import takes seconds)."""
    try:
        import funasr
    except ImportError as exc:
        raise ModelUnavailable(_INSTALL_HINT) from exc
    return funasr


def _device(requested: str) -> str:
    if requested not in ("", "auto"):
        return requested
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def load_model(model_dir: Path, device: str = "auto") -> Any:
    """A FunASR ``AutoModel`` for a checked local ``model_dir``, cached per process."""
    check_model_dir(model_dir)
    funasr = import_funasr()
    dev = _device(device)
    key = (str(model_dir.resolve()), dev)
    with _LOAD_LOCK:
        if key not in _MODELS:
            started = time.perf_counter()
            try:
                _MODELS[key] = funasr.AutoModel(
                    model=str(model_dir),
                    device=dev,
                    disable_update=True,
                    disable_pbar=True,
                    log_level="ERROR",
                )
            except Exception as exc:  # funasr raises anything from torch, omegaconf, sentencepiece …
                raise ModelUnavailable(f"FunASR model at {model_dir} cannot be loaded: {exc}") from exc
            log.info(
                "funasr.loaded",
                model=str(model_dir),
                device=dev,
                seconds=round(time.perf_counter() - started, 3),
            )
        return _MODELS[key]


def parse_sensevoice(text: str) -> tuple[str | None, str]:
    """Split SenseVoice output (``<|en|><|NEUTRAL|><|Speech|><|woitn|>hello``) into language and text."""
    language = next((tag for tag in _TAG.findall(text) if tag in _LANGUAGES), None)
    return language, " ".join(_TAG.sub(" ", text).split())


def speech_spans(vad_dir: Path, audio: np.ndarray, device: str = "auto") -> list[tuple[float, float]]:
    """Speech spans ``(start_s, end_s)`` in 16 kHz mono ``audio``, found by the fsmn-vad model."""
    if audio.size == 0:
        return []
    vad = load_model(vad_dir, device)
    with _RUN_LOCK:
        result = vad.generate(input=audio, fs=_SAMPLE_RATE, disable_pbar=True)
    spans = result[0].get("value", []) if result else []
    return [(start / 1000.0, end / 1000.0) for start, end in spans if end > start]


def _split_long(spans: list[tuple[float, float]], limit: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in spans:
        parts = max(1, int(np.ceil((end - start) / limit)))
        step = (end - start) / parts
        out.extend((start + i * step, start + (i + 1) * step) for i in range(parts))
    return out


def sensevoice_words(item: dict[str, Any], text: str, offset: float) -> list[tuple[float, float, str]]:
    """SenseVoice's token timings (``output_timestamp``: ms from its chunk's start) as absolute words.

    Empty when they do not spell ``text`` (the text without its tags): then there are no word
    timings rather than wrong ones.
    """
    stamps, tokens = item.get("timestamp") or [], [str(t) for t in item.get("words") or []]
    if len(stamps) != len(tokens) or "".join(tokens).replace(" ", "") != text.replace(" ", ""):
        return []
    out: list[tuple[float, float, str]] = []
    for (start_ms, end_ms), token in zip(stamps, tokens, strict=True):
        word = token
        if out and word[:1].isascii() and word[:1].isalnum() and out[-1][2][-1:].isascii():
            word = " " + word  # Latin words are separated; CJK characters are not
        out.append((offset + start_ms / 1000.0, offset + end_ms / 1000.0, word))
    return out


class FunasrEngine:
    """SenseVoiceSmall over fsmn-vad segments: each VAD segment becomes one timed transcript segment."""

    name = "funasr"

    def __init__(
        self, model_dir: Path, vad_dir: Path, *, language: str = "auto", device: str = "auto"
    ) -> None:
        self.model_dir = check_model_dir(model_dir)
        self.vad_dir = check_model_dir(vad_dir, "FunASR VAD model")
        self.model = model_dir.name
        self.language = language
        self.device = device

    def load(self) -> None:
        """Load fsmn-vad and SenseVoice once per process."""
        load_model(self.vad_dir, self.device)
        load_model(self.model_dir, self.device)

    def transcribe(self, wav_path: Path) -> Transcription:
        """VAD, then SenseVoice on each speech span; the language is the most common tag.

        SenseVoice reports no probability for its language tag, so none is recorded.
        """
        audio = read_pcm(wav_path, _SAMPLE_RATE)
        spans = _split_long(speech_spans(self.vad_dir, audio, self.device), _MAX_SEGMENT_S)
        if not spans:
            return Transcription.empty("no_speech")
        asr = load_model(self.model_dir, self.device)
        chunks = [audio[int(s * _SAMPLE_RATE) : int(e * _SAMPLE_RATE)] for s, e in spans]
        with _RUN_LOCK:
            results = asr.generate(
                input=chunks,
                fs=_SAMPLE_RATE,
                language=self.language,
                use_itn=True,
                output_timestamp=True,
                disable_pbar=True,
            )
        raw: list[RawSegment] = []
        languages: list[str] = []
        for (start, end), item in zip(spans, results, strict=True):
            lang, text = parse_sensevoice(str(item.get("text", "")))
            if lang:
                languages.append(lang)
            raw.append(RawSegment(start, end, text, sensevoice_words(item, text, start)))
        language = max(set(languages), key=languages.count) if languages else None
        found = build_segments(raw, len(audio) / _SAMPLE_RATE, language)
        if not found:
            return Transcription.empty("no_speech", language)
        return Transcription(language, found)
