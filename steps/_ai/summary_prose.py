"""The model's part of the batch summary, and :func:`build_summary`, the whole of it.

The model gets the computed numbers and one line per video, each video under a short reference
(``V1``, ``V2`` … in request order), and cites those references; the answer is checked (every claim
must name videos of the batch, exactly three suggestions) and the references become video ids,
and names in the text. The model never computes a number the code did not give it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .._artifacts import AiStatus, VideoResult
from .._logging import get_logger
from .._settings import Settings
from .analyzer import NOT_CONFIGURED
from .answers import ask_json
from .fields import FieldSpec
from .llm import LlmClient, LlmError
from .prompts import REPAIR_PROMPT, SUMMARY_PROMPT, load_prompt
from .summary import METRICS, BatchSummary, Claim, SummaryNumbers, SummaryProse, compute_numbers, fmt_ratio

__all__ = ["SUGGESTIONS", "SummaryCheck", "build_summary", "check_summary", "summary_messages", "video_refs"]

SUGGESTIONS = 3
_REF = re.compile(r" ?(?<![A-Za-z0-9])V(\d+)(?![0-9]) ?", re.IGNORECASE)  # 《name》 needs no spaces
_SHAPE = '{"headline": "…", "findings": [{"text": "…", "videos": ["V1"]}], "suggestions": [三条，同上]}'
log = get_logger(__name__)


def video_refs(videos: Sequence[VideoResult]) -> dict[str, VideoResult]:
    """``V1``, ``V2`` … → the analysed videos, in request order."""
    analysed = [v for v in videos if v.status == "ok"]
    return {f"V{i}": v for i, v in enumerate(analysed, start=1)}


def _numbers_text(numbers: SummaryNumbers, ref_of: Mapping[str, str]) -> str:
    lines = []
    for ranking in numbers.rankings:
        order = "越高越好" if ranking.higher_is_better else "越低越好"
        ranked = " > ".join(
            f"{ref_of[r.video_id]} {fmt_ratio(ranking.metric, r.value)}" for r in ranking.ranked
        )
        batch = fmt_ratio(ranking.metric, ranking.batch_value)
        lines.append(f"{ranking.label}（{order}，整批 {batch}）：{ranked}")
    if not numbers.rankings:
        lines.append("这一批没有投放数据，只能谈内容。")
    if numbers.strong:
        lines.append("综合表现最好：" + "、".join(ref_of[v.video_id] for v in numbers.strong))
        lines.append("综合表现最差：" + "、".join(ref_of[v.video_id] for v in numbers.weak))
    if numbers.without_performance:
        lines.append("没有投放数据：" + "、".join(ref_of[v.video_id] for v in numbers.without_performance))
    if numbers.traits:
        lines.append("表现最好的素材与其余素材对比：")
        lines += [f"- {t.label}：最好的 {t.strong}；其余 {t.rest}" for t in numbers.traits]
    return "\n".join(lines)


def _video_line(ref: str, video: VideoResult, fields: Sequence[FieldSpec]) -> str:
    from .._outputs._format import fmt_metric

    m = video.metrics
    parts = [f"{ref}《{video.name}》"]
    if m is not None:
        ads = [f"{METRICS[k][0]} {fmt_ratio(k, getattr(m, k))}" for k in METRICS if getattr(m, k) is not None]
        parts.append("，".join(ads) if ads else "无投放数据")
        for key, label in (("duration_s", "时长"), ("cuts_per_min", "每分钟剪辑"), ("speech_rate", "语速")):
            if getattr(m, key) is not None:
                parts.append(f"{label} {fmt_metric(key, m)}")
        parts.append(f"开头 3 秒口播：{m.hook_text or '无'}")
        if m.hook_overlay_text:
            parts.append(f"开头 3 秒花字：{m.hook_overlay_text}")
    if video.analysis_status is not None and video.analysis_status.state == "ok" and video.analysis:
        for spec in fields:
            value = video.analysis.get(spec.name)
            if value not in (None, "", []):
                shown = "、".join(value) if isinstance(value, list) else value
                parts.append(f"{spec.name}：{shown}")
    return "；".join(parts)


def summary_messages(
    videos: Sequence[VideoResult], numbers: SummaryNumbers, fields: Sequence[FieldSpec]
) -> list[dict[str, Any]]:
    """The summary request (text only)."""
    refs = video_refs(videos)
    ref_of = {v.video_id: ref for ref, v in refs.items()}
    lines = "\n".join(_video_line(ref, v, fields) for ref, v in refs.items())
    prompt = load_prompt(SUMMARY_PROMPT)
    return prompt.messages(count=str(len(refs)), numbers=_numbers_text(numbers, ref_of), videos=lines)


@dataclass
class SummaryCheck:
    """The model's summary held to its shape."""

    prose: SummaryProse | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _claims(raw: Any, label: str, refs: Mapping[str, VideoResult], out: SummaryCheck) -> list[Claim]:
    if not isinstance(raw, list):
        out.problems.append(f"“{label}”应为数组")
        return []
    claims = []
    for i, item in enumerate(raw, start=1):
        text: str | None = item if isinstance(item, str) else None
        cited: Any = []
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            text, cited = item["text"], item.get("videos") or []
        if not text or not text.strip():
            out.problems.append(f'{label} 第 {i} 条应为 {{"text", "videos"}} 对象')
            continue
        cited = cited if isinstance(cited, list) else [cited]
        known = [str(c).strip().upper() for c in cited if str(c).strip().upper() in refs]
        unknown = [str(c) for c in cited if str(c).strip().upper() not in refs]
        if unknown:
            out.notes.append(f"{label} 第 {i} 条引用了这一批没有的视频 {'、'.join(unknown)}，已去掉")
        if not known:
            out.notes.append(f"{label} 第 {i} 条没有指明是哪些视频")
        named = _REF.sub(lambda m: _name_of(m, refs), text.strip())
        claims.append(Claim(text=named, video_ids=list(dict.fromkeys(refs[r].video_id for r in known))))
    return claims


def _name_of(match: re.Match[str], refs: Mapping[str, VideoResult]) -> str:
    video = refs.get(f"V{match.group(1)}")
    return f"《{video.name}》" if video is not None else match.group(0)


def check_summary(value: Any, refs: Mapping[str, VideoResult]) -> SummaryCheck:
    """The parsed answer as :class:`SummaryProse`, with its problems and what was fixed."""
    out = SummaryCheck()
    if not isinstance(value, dict):
        out.problems.append("回答应为一个 JSON 对象")
        return out
    headline = value.get("headline")
    if not isinstance(headline, str) or not headline.strip():
        out.problems.append("缺少 “headline”（一句话总结）")
    findings = _claims(value.get("findings"), "findings", refs, out)
    suggestions = _claims(value.get("suggestions"), "suggestions", refs, out)
    if len(suggestions) > SUGGESTIONS:
        out.notes.append(f"模型给了 {len(suggestions)} 条建议，只保留前 {SUGGESTIONS} 条")
        suggestions = suggestions[:SUGGESTIONS]
    elif len(suggestions) < SUGGESTIONS:
        out.problems.append(f"“suggestions” 应恰好 {SUGGESTIONS} 条，收到 {len(suggestions)} 条")
    if isinstance(headline, str) and headline.strip():
        title = _REF.sub(lambda m: _name_of(m, refs), headline.strip())
        out.prose = SummaryProse(headline=title, findings=findings, suggestions=suggestions)
    return out


def build_summary(
    videos: Sequence[VideoResult], fields: Sequence[FieldSpec], settings: Settings
) -> BatchSummary:
    """The batch summary: the numbers, and the model's prose when a model is configured and answers."""
    numbers = compute_numbers(videos, fields)
    if numbers.analysed == 0:
        status = AiStatus(state="skipped", message="没有分析成功的视频，不生成总结")
        return BatchSummary(numbers=numbers, status=status)
    if not settings.llm_configured:
        return BatchSummary(numbers=numbers, status=AiStatus(state="not_configured", message=NOT_CONFIGURED))
    client = LlmClient(settings)
    refs = video_refs(videos)
    try:
        with client:
            checked = ask_json(
                client,
                summary_messages(videos, numbers, fields),
                partial(check_summary, refs=refs),
                load_prompt(REPAIR_PROMPT),
                max_tokens=2000,
                requirements=_SHAPE,
            )
    except LlmError as exc:
        log.warning("summary.failed", reason=exc.message)
        status = AiStatus(state="failed", message=exc.message, prompt=SUMMARY_PROMPT)
        return BatchSummary(numbers=numbers, status=status, usage=client.usage)
    if checked.prose is None:  # still no headline after the repair
        status = AiStatus(state="failed", message="模型没有给出总结：" + "；".join(checked.notes)[:300])
        return BatchSummary(numbers=numbers, status=status, usage=client.usage)
    status = AiStatus(state="ok", notes=checked.notes, prompt=SUMMARY_PROMPT)
    return BatchSummary(numbers=numbers, prose=checked.prose, status=status, usage=client.usage)
