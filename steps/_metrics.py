"""Pure metric functions over a video's artifacts (no I/O): pace, speech, hook, ad performance."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from typing import TypedDict

from ._artifacts import Metrics, ProbeRecord, ScreenTextRecord, Segment, ShotsRecord, TranscriptRecord
from ._speech import CJK_CHAR, is_cjk_text, speech_between

__all__ = [
    "HOOK_SECONDS",
    "compute_metrics",
    "hook_overlay_text",
    "hook_text",
    "performance_metrics",
    "speech_metrics",
    "speech_units",
]

HOOK_SECONDS = 3.0
_WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f']+")


def _r(value: float | None, ndigits: int = 3) -> float | None:
    return None if value is None else round(value, ndigits)


def speech_units(text: str, language: str | None) -> tuple[int, str]:
    """Count characters (CJK languages, or text that is mostly CJK) or words; return (count, unit)."""
    cjk = len(CJK_CHAR.findall(text))
    words = len(_WORD.findall(text))
    if is_cjk_text(text, language) or cjk > words:
        return cjk + words, "chars/min"
    return words, "words/min"


def hook_text(segments: Sequence[Segment], seconds: float = HOOK_SECONDS, language: str | None = None) -> str:
    """What is said in the first ``seconds`` (words by their midpoint), with ``…`` when it runs on."""
    said = speech_between(segments, 0.0, seconds, language)
    runs_on = any(
        seg.start_s < seconds < seg.end_s and speech_between([seg], seconds, math.inf, language)
        for seg in segments
    )
    return said.rstrip(" ,.;:!?，。；：！？") + "…" if said and runs_on else said


def hook_overlay_text(
    shots: ShotsRecord, text: ScreenTextRecord | None, seconds: float = HOOK_SECONDS
) -> str | None:
    """The overlay text (花字, headlines) on the keyframes of the shots that start in the first
    ``seconds`` — the visual hook beside the spoken one; None when there is none or no OCR ran."""
    if text is None or len(text.shots) != len(shots.shots):
        return None
    seen: dict[str, None] = {}
    for shot, lines in zip(shots.shots, text.shots, strict=True):
        if shot.start_s < seconds:
            seen.update((line.text, None) for line in lines if line.kind == "overlay")
    return " / ".join(seen) or None


class SpeechMetrics(TypedDict):
    speech_ratio: float | None
    speech_rate: float | None
    speech_rate_unit: str | None
    hook_text: str | None


def speech_metrics(transcript: TranscriptRecord | None, duration_s: float) -> SpeechMetrics:
    """Speech ratio, rate (with its unit) and hook; None where nothing was heard to compute them from.

    No transcript (no audio, or transcription off) or a language the engine could not transcribe
    gives no figures; audio in which voice activity found no speech has a speech ratio of 0.
    """
    out = SpeechMetrics(speech_ratio=None, speech_rate=None, speech_rate_unit=None, hook_text=None)
    if transcript is None or transcript.empty_reason == "unsupported_language":
        return out
    speech_s = transcript.speech_s
    if duration_s > 0:
        out["speech_ratio"] = _r(min(1.0, speech_s / duration_s), 4)
    if transcript.segments and speech_s > 0:
        units, unit = speech_units(transcript.text, transcript.language)
        out["speech_rate"] = _r(units / (speech_s / 60.0), 1)
        out["speech_rate_unit"] = unit
        out["hook_text"] = hook_text(transcript.segments, HOOK_SECONDS, transcript.language) or None
    return out


def performance_metrics(perf: Mapping[str, float] | None) -> dict[str, float | None]:
    """Raw ad numbers plus CTR, CVR, CPC, CPA (None where a denominator is zero or missing)."""
    perf = perf or {}
    imp, clk = perf.get("impressions"), perf.get("clicks")
    spend, conv = perf.get("spend"), perf.get("conversions")

    def ratio(a: float | None, b: float | None, nd: int = 4) -> float | None:
        return round(a / b, nd) if a is not None and b else None

    return {
        "impressions": imp,
        "clicks": clk,
        "spend": spend,
        "conversions": conv,
        "ctr": ratio(clk, imp, 6),
        "cvr": ratio(conv, clk, 6),
        "cpc": ratio(spend, clk),
        "cpa": ratio(spend, conv),
    }


def compute_metrics(
    probe: ProbeRecord,
    shots: ShotsRecord,
    transcript: TranscriptRecord | None,
    performance: Mapping[str, float] | None = None,
    screen_text: ScreenTextRecord | None = None,
) -> Metrics:
    """All metrics of one video (``screen_text``: the OCR step's record, when it ran)."""
    duration = probe.duration_s
    lengths = [max(0.0, s.end_s - s.start_s) for s in shots.shots]
    count = len(lengths)
    return Metrics(
        duration_s=_r(duration),
        shot_count=count,
        avg_shot_s=_r(statistics.fmean(lengths)) if lengths else None,
        median_shot_s=_r(statistics.median(lengths)) if lengths else None,
        cuts_per_min=_r((count - 1) / duration * 60.0, 2) if duration > 0 and count else None,
        first_shot_s=_r(lengths[0]) if lengths else None,
        **speech_metrics(transcript if probe.has_audio else None, duration),
        hook_overlay_text=hook_overlay_text(shots, screen_text),
        **performance_metrics(performance),
    )
