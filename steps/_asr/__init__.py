"""Speech-to-text engines behind one interface, and the choice between them.

``auto``: FunASR (SenseVoiceSmall + fsmn-vad) when its model folders are local, otherwise the
multilingual Whisper base that packages ship; Whisper tiny.en only when the request says the speech
is English (it is faster). Choosing an engine never loads a model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from .._settings import Settings
from ..errors import InvalidRequest, ModelUnavailable
from .base import Transcription, TranscriptionEngine
from .funasr_engine import SENSEVOICE_ID, VAD_ID, FunasrEngine, resolve_model_dir
from .models import whisper_base_dir
from .subtitles import subtitle_cues, to_srt, to_vtt, write_subtitles
from .whisper_engine import WhisperEngine, resolve_whisper_model

__all__ = [
    "EngineChoice",
    "FunasrEngine",
    "Transcription",
    "TranscriptionEngine",
    "WhisperEngine",
    "choose_engine",
    "subtitle_cues",
    "to_srt",
    "to_vtt",
    "warm_up",
    "write_subtitles",
]


@dataclass(frozen=True)
class EngineChoice:
    """The engine to run (None for ``none``) and a note for the results, when there is one."""

    engine: TranscriptionEngine | None
    note: str | None = None


def _funasr(settings: Settings, model: str | None, language: str) -> FunasrEngine:
    if importlib.util.find_spec("funasr") is None or importlib.util.find_spec("torch") is None:
        raise ModelUnavailable("funasr is not installed: pip install 'video-insight[funasr]'")
    model_dir = resolve_model_dir(model or settings.funasr_model, SENSEVOICE_ID)
    vad_dir = resolve_model_dir(settings.funasr_vad_model, VAD_ID, "FunASR VAD model")
    return FunasrEngine(model_dir, vad_dir, language=language, device=settings.asr_device)


def _whisper(settings: Settings, model: str | None, language: str) -> WhisperEngine:
    path, name = resolve_whisper_model(model or settings.whisper_model, language, settings.model_cache)
    detector = None
    if name.endswith(".en") and language == "auto":
        detector = whisper_base_dir(settings.model_cache)  # names the language an English model cannot
    return WhisperEngine(path, name, language=language, device=settings.asr_device, detector=detector)


def _whisper_note(engine: WhisperEngine, reason: str | None) -> str | None:
    """A note for the report (Chinese first): the Whisper model used, and why FunASR was not."""
    parts = f"用 whisper {engine.model} 转写" + ("：仅英文" if engine.english_only else "")
    if reason:
        return f"{parts}（未用 FunASR：{reason}）"
    return parts if engine.english_only else None


def choose_engine(
    settings: Settings, engine: str | None = None, model: str | None = None, language: str = "auto"
) -> EngineChoice:
    """Pick the engine for a request: ``engine`` (request) else ``settings.asr_engine``.

    ``auto`` prefers FunASR when its model folders exist locally and funasr is installed, and falls
    back to Whisper (base; tiny.en when ``language`` is ``en``) with the reason in the note.
    ``model`` (request) applies to the chosen engine (to FunASR under ``auto``).

    Raises:
        ModelUnavailable: the requested engine's model is not available locally.
        InvalidRequest: an unknown engine name (from the settings).
    """
    name = engine or settings.asr_engine or "auto"
    if name == "none":
        return EngineChoice(None, "transcription disabled (asr engine: none)")
    if name == "funasr":
        return EngineChoice(_funasr(settings, model, language))
    if name == "whisper":
        chosen = _whisper(settings, model, language)
        return EngineChoice(chosen, _whisper_note(chosen, None))
    if name != "auto":
        raise InvalidRequest(f"unknown ASR engine {name!r}: use auto, funasr, whisper or none")
    try:
        return EngineChoice(_funasr(settings, model, language))
    except ModelUnavailable as exc:
        fallback = _whisper(settings, None, language)
        return EngineChoice(fallback, _whisper_note(fallback, exc.details.get("reason", exc.message)))


def warm_up(settings: Settings) -> TranscriptionEngine | None:
    """Load the model ``auto`` (or the configured engine) would use, so the first video does not wait.

    Returns the engine warmed, or None when transcription is disabled.
    """
    engine = choose_engine(settings).engine
    if engine is not None:
        engine.load()
    return engine
