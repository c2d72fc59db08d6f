"""The batch summary: its model (``results.json`` ``summary``) and the part the code computes.

The numbers are the code's: for CTR, CVR and CPA every video with the data ranked best first, the
batch's pooled values, the strong and weak creatives (by their average rank over the three), and
what the strong ones share compared with the rest (hook, pace, speech rate, select fields of the
AI analysis). The prose (a headline, findings, three suggestions, each pointing at its videos) is
the model's (:mod:`.summary_prose`). Videos without ad numbers are listed, not ranked.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .._artifacts import AiStatus, AiUsage, VideoResult
from .fields import FieldSpec

__all__ = [
    "METRICS",
    "BatchSummary",
    "Claim",
    "MetricRanking",
    "Ranked",
    "SummaryNumbers",
    "SummaryProse",
    "Trait",
    "VideoName",
    "brief_lines",
    "compute_numbers",
    "fmt_ratio",
    "usage_text",
]

RankedMetric = Literal["ctr", "cvr", "cpa"]
# The ranked metrics: key → (label, higher is better).
METRICS: dict[RankedMetric, tuple[str, bool]] = {
    "ctr": ("点击率 CTR", True),
    "cvr": ("转化率 CVR", True),
    "cpa": ("转化成本 CPA", False),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VideoName(_Model):
    video_id: str
    name: str


class Ranked(VideoName):
    value: float


class MetricRanking(_Model):
    """Every video with the metric, best first."""

    metric: RankedMetric
    label: str
    higher_is_better: bool
    ranked: list[Ranked]
    batch_value: float | None = None  # pooled over the batch: Σclicks/Σimpressions, …


class Trait(_Model):
    """One trait, as the strong creatives have it and as the rest have it (display text)."""

    label: str
    strong: str
    rest: str


class SummaryNumbers(_Model):
    """What the code computed."""

    analysed: int  # videos analysed to the end
    with_performance: list[VideoName]
    without_performance: list[VideoName]  # analysed, but no ad numbers: listed, not ranked
    rankings: list[MetricRanking]
    strong: list[VideoName]  # the best third by average rank (at least one), when two or more are ranked
    weak: list[VideoName]
    traits: list[Trait]


class Claim(_Model):
    """A finding or a suggestion, and the videos it is about."""

    text: str
    video_ids: list[str]


class SummaryProse(_Model):
    """What the model wrote."""

    headline: str
    findings: list[Claim]
    suggestions: list[Claim]


class BatchSummary(_Model):
    """``results.json`` ``summary``: the numbers always; the prose when a model wrote it."""

    numbers: SummaryNumbers
    prose: SummaryProse | None = None
    status: AiStatus
    usage: AiUsage | None = None


def fmt_ratio(metric: str, value: float | None) -> str:
    """A ranked metric as text: CTR and CVR in percent, CPA as an amount."""
    if value is None:
        return "—"
    return f"{value * 100:.2f}%" if metric in ("ctr", "cvr") else f"{value:,.2f}"


def _pooled(videos: Sequence[VideoResult]) -> dict[str, float | None]:
    def total(key: str) -> float:
        return sum(getattr(v.metrics, key) or 0.0 for v in videos if v.metrics)

    imp, clk, conv, spend = total("impressions"), total("clicks"), total("conversions"), total("spend")
    return {
        "ctr": clk / imp if imp else None,
        "cvr": conv / clk if clk else None,
        "cpa": spend / conv if conv else None,
    }


def _rankings(videos: Sequence[VideoResult]) -> list[MetricRanking]:
    pooled = _pooled(videos)
    out = []
    for key, (label, higher) in METRICS.items():
        have = [
            (v, getattr(v.metrics, key)) for v in videos if v.metrics and getattr(v.metrics, key) is not None
        ]
        have.sort(key=lambda pair: -pair[1] if higher else pair[1])  # stable: ties keep request order
        ranked = [Ranked(video_id=v.video_id, name=v.name, value=value) for v, value in have]
        if ranked:
            ranking = MetricRanking(
                metric=key, label=label, higher_is_better=higher, ranked=ranked, batch_value=pooled[key]
            )
            out.append(ranking)
    return out


def _strength(rankings: Sequence[MetricRanking]) -> list[str]:
    """Video ids, strongest first: by the mean of each metric's rank (0 best … 1 worst)."""
    scores: dict[str, list[float]] = {}
    for ranking in rankings:
        n = len(ranking.ranked)
        if n < 2:
            continue
        for place, entry in enumerate(ranking.ranked):
            scores.setdefault(entry.video_id, []).append(place / (n - 1))
    order = list(scores)  # first-seen order breaks ties
    return sorted(order, key=lambda vid: (statistics.fmean(scores[vid]), order.index(vid)))


def _mean_text(values: Sequence[float | None], fmt: Callable[[float], str]) -> str:
    have = [v for v in values if v is not None]
    return fmt(statistics.fmean(have)) if have else "—"


def _traits(
    strong: Sequence[VideoResult], rest: Sequence[VideoResult], fields: Sequence[FieldSpec]
) -> list[Trait]:
    def numeric(label: str, key: str, fmt: Callable[[float], str]) -> Trait:
        pick = [getattr(v.metrics, key) if v.metrics else None for v in strong]
        others = [getattr(v.metrics, key) if v.metrics else None for v in rest]
        return Trait(label=label, strong=_mean_text(pick, fmt), rest=_mean_text(others, fmt))

    def hooked(group: Sequence[VideoResult]) -> str:
        return f"{sum(bool(v.metrics and v.metrics.hook_text) for v in group)}/{len(group)} 条"

    traits = [Trait(label="开头 3 秒有口播", strong=hooked(strong), rest=hooked(rest))]
    traits.append(numeric("每分钟剪辑数", "cuts_per_min", lambda x: f"{x:.1f} 次"))
    traits.append(numeric("平均镜头时长", "avg_shot_s", lambda x: f"{x:.1f} 秒"))
    traits.append(numeric("首镜头时长", "first_shot_s", lambda x: f"{x:.1f} 秒"))
    traits.append(numeric("语音占比", "speech_ratio", lambda x: f"{x * 100:.0f}%"))
    units = Counter(
        v.metrics.speech_rate_unit for v in [*strong, *rest] if v.metrics and v.metrics.speech_rate
    )
    if units:
        unit = units.most_common(1)[0][0]
        label = "字/分钟" if unit == "chars/min" else "词/分钟"

        def rate(group: Sequence[VideoResult]) -> list[float | None]:
            return [v.metrics.speech_rate for v in group if v.metrics and v.metrics.speech_rate_unit == unit]

        def per_minute(x: float) -> str:
            return f"{x:.0f} {label}"

        traits.append(
            Trait(
                label="语速",
                strong=_mean_text(rate(strong), per_minute),
                rest=_mean_text(rate(rest), per_minute),
            )
        )
    traits += [_select_trait(spec, strong, rest) for spec in fields if spec.type.endswith("select")]
    return traits


def _answers(video: VideoResult, spec: FieldSpec) -> list[str]:
    if video.analysis_status is None or video.analysis_status.state != "ok" or not video.analysis:
        return []
    value = video.analysis.get(spec.name)
    return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]


def _select_trait(spec: FieldSpec, strong: Sequence[VideoResult], rest: Sequence[VideoResult]) -> Trait:
    counts = Counter(option for v in strong for option in _answers(v, spec))
    if not counts:
        return Trait(label=spec.name, strong="—", rest="—")
    top = counts.most_common(1)[0][0]
    in_rest = sum(top in _answers(v, spec) for v in rest)
    strong_text = f"{top}（{counts[top]}/{len(strong)} 条）"
    return Trait(label=spec.name, strong=strong_text, rest=f"{top}（{in_rest}/{len(rest)} 条）")


def _names(videos: Sequence[VideoResult]) -> list[VideoName]:
    return [VideoName(video_id=v.video_id, name=v.name) for v in videos]


def compute_numbers(videos: Sequence[VideoResult], fields: Sequence[FieldSpec]) -> SummaryNumbers:
    """The computed part of the summary over the analysed videos of ``videos`` (failed ones are left out)."""
    analysed = [v for v in videos if v.status == "ok"]
    measured = [v for v in analysed if v.metrics and any(getattr(v.metrics, k) is not None for k in METRICS)]
    rankings = _rankings(measured)
    order = _strength(rankings)
    k = max(1, len(order) // 3) if len(order) >= 2 else 0
    by_id = {v.video_id: v for v in analysed}
    strong = [by_id[i] for i in order[:k]]
    weak = [by_id[i] for i in order[len(order) - k :]] if k else []
    rest = [by_id[i] for i in order[k:]]
    ranked_ids = {v.video_id for v in measured}
    return SummaryNumbers(
        analysed=len(analysed),
        with_performance=_names(measured),
        without_performance=_names([v for v in analysed if v.video_id not in ranked_ids]),
        rankings=rankings,
        strong=_names(strong),
        weak=_names(list(reversed(weak))),  # weakest first
        traits=_traits(strong, rest, fields) if strong and rest else [],
    )


_CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€"}


def usage_text(usage: AiUsage | None) -> str | None:
    """``AI 费用约 ¥0.0123（7 次调用，12,345 tokens）``; None when no model was called."""
    if usage is None or usage.calls == 0:
        return None
    if usage.cost is None:
        cost = "未知（没有这个模型的单价，可设置 VI_LLM_PRICE_INPUT / VI_LLM_PRICE_OUTPUT）"
    else:
        sign = _CURRENCY_SIGNS.get(usage.currency, usage.currency + " ")
        cost = f"约 {sign}{usage.cost:.4f}"
    return f"AI 费用{cost}（{usage.calls} 次调用，{usage.total_tokens:,} tokens）"


def brief_lines(summary: BatchSummary) -> list[str]:
    """The summary in a few plain lines for the final card and the terminal: the headline, the best
    and worst video of each metric, the suggestions (or why there are none)."""
    lines = [summary.prose.headline] if summary.prose else []
    for ranking in summary.numbers.rankings:
        best, worst = ranking.ranked[0], ranking.ranked[-1]
        line = f"{ranking.label} 最好：{best.name}（{fmt_ratio(ranking.metric, best.value)}）"
        if len(ranking.ranked) > 1:
            line += f"；最差：{worst.name}（{fmt_ratio(ranking.metric, worst.value)}）"
        lines.append(line)
    if summary.prose:
        lines += [f"建议 {i}：{c.text}" for i, c in enumerate(summary.prose.suggestions, start=1)]
    elif summary.status.state == "not_configured":
        lines.append("AI 总结：未配置")
    elif summary.status.state == "failed":
        lines.append(f"AI 总结失败：{summary.status.message or ''}".rstrip("："))
    return lines
