"""faster-whisper (CTranslate2): the multilingual base model by default, tiny.en for English requests.

Voice activity (Silero, shipped with faster-whisper) is checked first: audio without speech never
reaches the model, so silence and music cannot come out as invented text. The language is detected
per video unless the request names it, and recorded with its probability; an English-only model
asks the multilingual one which language it is, and refuses anything but English.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._logging import get_logger
from .._media import read_pcm
from ..errors import ModelUnavailable
from .base import RawSegment, Transcription, build_segments
from .models import BASE, TINY_EN, check_whisper_dir, tiny_en_dir, whisper_base_dir

__all__ = ["WhisperEngine", "load_whisper", "plausible", "resolve_whisper_model", "speech_chunks"]

_SAMPLE_RATE = 16000
_BEAM_SIZE = 5
_LID_SECONDS = 30  # Whisper decides the language from one 30 s window
# Whisper's own no-voice test (its thresholds): a segment the model judges nobody speaks in
# (no-speech probability over 0.6) and is unsure of (log-probability under -1) is dropped. So is a
# segment that is mostly one held character ("Hmmmmm", "嗯嗯嗯嗯"): over Big Buck Bunny's score the
# fallback sampled "Hmmmm…" at 0.8 with no-speech 0.71 and log-probability -0.94, passing Whisper's test.
# Neither repetition (compression) nor the fallback temperature is a test on its own: ads repeat their
# slogans, and tiny.en hears six repeats of a spoken sentence at temperature 1.0, compression 4.0,
# no-speech 0.71, log-probability -0.19 — real speech.
_NO_SPEECH_PROB = 0.6
_MIN_LOGPROB = -1.0
_HELD_RUN = 4  # a character repeated this many times in a row…
_HELD_SHARE = 0.5  # …making up this share of the segment's letters is a held sound, not speech
_SEED = 0  # the fallback's sampling is seeded, so the same audio gives the same transcript
_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # faster-whisper's fallback schedule
_MODELS: dict[tuple[str, str, str, int], Any] = {}
_LOCK = threading.Lock()
log = get_logger(__name__)


def resolve_whisper_model(spec: str | None, language: str, cache_root: Path) -> tuple[Path, str]:
    """The local model folder for ``spec`` and the name to record.

    ``spec`` is empty (``base``; ``tiny.en`` when ``language`` is ``en``), ``base``, ``tiny.en`` or a
    CTranslate2 model folder. Hub names are refused rather than downloaded: the steps run offline.
    """
    name = spec or (TINY_EN if language == "en" else BASE)
    if name == BASE:
        return whisper_base_dir(cache_root), BASE
    if name == TINY_EN:
        return tiny_en_dir(), TINY_EN
    path = Path(name).expanduser()
    if path.is_dir():
        return check_whisper_dir(path), path.name
    raise ModelUnavailable(
        f"Whisper model {name!r} is not a local model directory; only the bundled base and tiny.en "
        "or a CTranslate2 model folder (model.bin, config.json) can be used offline"
    )


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def load_whisper(path: Path, device: str = "cpu") -> Any:
    """The faster-whisper model in ``path`` (int8 on CPU), loaded once per process."""
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


def speech_chunks(audio: np.ndarray) -> list[tuple[int, int]]:
    """Sample ranges holding speech in 16 kHz mono ``audio``, by Silero voice activity detection."""
    if audio.size == 0:
        return []
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return [(c["start"], c["end"]) for c in get_speech_timestamps(audio, VadOptions())]


def _held_sound(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    longest = run = 0
    for i, c in enumerate(letters):
        run = run + 1 if i and c.lower() == letters[i - 1].lower() else 1
        longest = max(longest, run)
    return longest >= _HELD_RUN and longest >= _HELD_SHARE * len(letters)


def plausible(segment: Any) -> bool:
    """Whether a faster-whisper segment is speech rather than a hallucination (a held sound, no voice)."""
    if _held_sound(segment.text):
        return False
    return not (segment.no_speech_prob > _NO_SPEECH_PROB and segment.avg_logprob < _MIN_LOGPROB)


class WhisperEngine:
    """Whisper through faster-whisper: int8 on CPU, voice activity first, word timestamps."""

    name = "whisper"

    def __init__(
        self,
        path: Path,
        model: str,
        *,
        language: str = "auto",
        device: str = "cpu",
        detector: Path | None = None,
        beam_size: int = _BEAM_SIZE,
        temperatures: tuple[float, ...] = _TEMPERATURES,
    ) -> None:
        self.path = path
        self.model = model
        self.device = "cuda" if device.startswith("cuda") else "cpu"
        self.english_only = model.endswith(".en")
        self.language = None if language == "auto" else language
        self.detector = detector  # a multilingual model that names the language for an English-only one
        self.beam_size = beam_size
        self.temperatures = temperatures

    def load(self) -> None:
        """Load the model (and the language detector an English-only model needs) once per process."""
        load_whisper(self.path, self.device)
        if self.english_only and self.language is None and self.detector is not None:
            load_whisper(self.detector, self.device)

    def _detect(self, audio: np.ndarray, chunks: list[tuple[int, int]]) -> tuple[str, float]:
        if self.detector is None:
            raise ModelUnavailable(f"whisper {self.model} is English only and no language detector is set")
        speech = np.concatenate([audio[a:b] for a, b in chunks])[: _LID_SECONDS * _SAMPLE_RATE]
        language, probability, _ = load_whisper(self.detector, self.device).detect_language(audio=speech)
        return str(language), round(float(probability), 3)

    def transcribe(self, wav_path: Path) -> Transcription:
        """Recognise ``wav_path``; empty, with the reason, without speech or in a language not served."""
        audio = read_pcm(wav_path, _SAMPLE_RATE)
        chunks = speech_chunks(audio)
        if not chunks:
            return Transcription.empty("no_speech")
        whisper = load_whisper(self.path, self.device)
        language, probability = self.language, None
        if self.english_only and language is None:
            language, probability = self._detect(audio, chunks)
        if self.english_only and language != "en":
            return Transcription.empty("unsupported_language", language, probability)
        import ctranslate2

        ctranslate2.set_random_seed(_SEED)
        segments, info = whisper.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            temperature=list(self.temperatures),
            vad_filter=True,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        if self.language is None and probability is None:
            probability = round(float(info.language_probability), 3)
        raw = [
            RawSegment(s.start, s.end, s.text, [(w.start, w.end, w.word) for w in s.words or []])
            for s in segments
            if plausible(s)
        ]
        found = build_segments(raw, len(audio) / _SAMPLE_RATE, info.language)
        if not found:  # voice activity, but no words: music or noise
            return Transcription.empty("no_speech")
        return Transcription(info.language, found, probability)
