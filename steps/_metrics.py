"""Pure metric functions over a video's artifacts (no I/O): pace, speech, hook, ad performance."""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence

from ._artifacts import Metrics, ProbeRecord, Segment, ShotsRecord, TranscriptRecord

__all__ = ["HOOK_SECONDS", "compute_metrics", "hook_text", "performance_metrics", "speech_units"]

HOOK_SECONDS = 3.0
_CJK_LANGS = {"zh", "ja", "ko", "yue", "zh-cn", "zh-tw", "cmn"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f']+")


def _r(value: float | None, ndigits: int = 3) -> float | None:
    return None if value is None else round(value, ndigits)


def speech_units(text: str, language: str | None) -> tuple[int, str]:
    """Count characters (CJK languages, or text that is mostly CJK) or words; return (count, unit)."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(text))
    if (language or "").lower() in _CJK_LANGS or cjk > words:
        return cjk + words, "chars/min"
    return words, "words/min"


def hook_text(segments: Sequence[Segment], seconds: float = HOOK_SECONDS) -> str:
    """What is said in the first ``seconds``: whole segments inside, a proportional cut of one crossing it."""
    parts: list[str] = []
    for seg in segments:
        if seg.start_s >= seconds:
            break
        text = seg.text.strip()
        if seg.end_s > seconds and seg.end_s > seg.start_s:
            keep = (seconds - seg.start_s) / (seg.end_s - seg.start_s)
            cut = max(1, round(len(text) * keep))
            if cut < len(text):
                head = text[:cut]
                if " " in head and not _CJK.search(head):
                    head = head.rsplit(" ", 1)[0] if text[cut : cut + 1] not in (" ", "") else head
                text = head.rstrip(" ,.;:!?，。；：！？") + "…"
        parts.append(text)
    joiner = "" if any(_CJK.search(p) for p in parts) else " "
    return joiner.join(p for p in parts if p).strip()


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
) -> Metrics:
    """All metrics of one video."""
    duration = probe.duration_s
    lengths = [max(0.0, s.end_s - s.start_s) for s in shots.shots]
    count = len(lengths)
    speech_s = transcript.speech_s if transcript else 0.0
    rate: float | None = None
    unit: str | None = None
    hook: str | None = None
    if transcript is not None:
        units, unit = speech_units(transcript.text, transcript.language)
        rate = units / (speech_s / 60.0) if speech_s > 0 else None
        hook = hook_text(transcript.segments) or None
    return Metrics(
        duration_s=_r(duration),
        shot_count=count,
        avg_shot_s=_r(statistics.fmean(lengths)) if lengths else None,
        median_shot_s=_r(statistics.median(lengths)) if lengths else None,
        cuts_per_min=_r((count - 1) / duration * 60.0, 2) if duration > 0 and count else None,
        first_shot_s=_r(lengths[0]) if lengths else None,
        speech_ratio=_r(min(1.0, speech_s / duration), 4) if duration > 0 and probe.has_audio else None,
        speech_rate=_r(rate, 1),
        speech_rate_unit=unit if rate is not None else None,
        hook_text=hook,
        **performance_metrics(performance),
    )
