"""The AI analysis of one video: the request's fields filled in by a vision-language model.

The model sees the contact sheet and a few keyframes, the timed transcript, the on-screen text the
OCR step read, the metrics and the ad numbers (:mod:`.video`), and answers in JSON, held to the
field schema (:mod:`.answers`, :mod:`.fields`). The analysis never fails its video: without a
configured endpoint every field says ``未配置``; when the model cannot be reached in time, refuses,
or keeps answering nonsense, every field says ``分析失败`` and the status says why. Calls of one
task share ``settings.llm_concurrency`` slots (:func:`~steps._slots.task_slot`), wherever its
videos run.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from .._analysis import AnalysisInput, Findings
from .._artifacts import AiStatus, AiUsage
from .._logging import get_logger
from .._slots import SlotTimeout, task_slot
from .answers import ask_json
from .fields import FieldSpec, check_answer
from .llm import LlmClient, LlmError
from .prompts import REPAIR_PROMPT, VIDEO_PROMPT, fields_block, json_example, load_prompt
from .video import ScreenText, VideoFacts, pick_keyframes, video_messages

if TYPE_CHECKING:
    from .._runtime import StepContext

__all__ = ["FAILED_MARK", "NOT_CONFIGURED", "NOT_CONFIGURED_MARK", "AiAnalyzer", "marked_fields"]

NOT_CONFIGURED_MARK = "未配置"
FAILED_MARK = "分析失败"
NOT_CONFIGURED = (
    "未配置 AI 模型：设置 VI_LLM_API_KEY（或 DASHSCOPE_API_KEY），或用 VI_LLM_BASE_URL 指向一个"
    " OpenAI 兼容的端点后即可启用（AI analysis is not configured）"
)
log = get_logger(__name__)


def marked_fields(fields: Sequence[FieldSpec], mark: str) -> dict[str, str]:
    """Every field holding ``mark`` (未配置 / 分析失败): a value that says why, never an invented one."""
    return {spec.name: mark for spec in fields}


def _facts(inp: AnalysisInput) -> VideoFacts:
    probe, transcript, text = inp.video.probe(), inp.video.transcript(), inp.video.screen_text()
    return VideoFacts(
        name=inp.entry.name,
        metrics=inp.metrics,
        width=probe.width if probe else None,
        height=probe.height if probe else None,
        has_audio=probe.has_audio if probe else None,
        segments=transcript.segments if transcript else (),
        empty_reason=transcript.empty_reason if transcript else None,
        screen_text=tuple(ScreenText(line.time_s, line.text) for line in text.lines) if text else (),
    )


class AiAnalyzer:
    """The registered analyzer ``ai``: the request's analysis fields, from a vision-language model."""

    name = "ai"

    def analyze(self, inp: AnalysisInput, ctx: StepContext) -> Findings:
        fields = inp.options.analysis.fields
        settings = ctx.settings
        if not settings.llm_configured:
            status = AiStatus(state="not_configured", message=NOT_CONFIGURED)
            return Findings(marked_fields(fields, NOT_CONFIGURED_MARK), None, status)
        prompt = load_prompt(VIDEO_PROMPT)
        keyframes = pick_keyframes(inp.video.keyframes(), inp.options.analysis.keyframes)
        messages = video_messages(prompt, fields, _facts(inp), inp.video.contact_sheet(), keyframes)
        check = partial(check_answer, fields)
        requirements = f"{fields_block(fields)}\n\nJSON 的形状：\n{json_example(fields)}"
        client = LlmClient(settings)
        try:
            with (
                client,
                task_slot(inp.workspace, "llm", settings.llm_concurrency, wait_s=client.remaining_s()),
            ):
                checked = ask_json(
                    client, messages, check, load_prompt(REPAIR_PROMPT), requirements=requirements
                )
        except (LlmError, SlotTimeout) as exc:
            message = exc.message if isinstance(exc, LlmError) else f"等待模型调用名额超时：{exc}"
            log.warning("ai.failed", video_id=inp.video.video_id, reason=message)
            status = AiStatus(state="failed", message=message, prompt=prompt.name)
            return Findings(marked_fields(fields, FAILED_MARK), client.usage, status)
        usage: AiUsage | None = client.usage
        log.info(
            "ai.analyzed",
            video_id=inp.video.video_id,
            calls=usage.calls if usage else 0,
            tokens=usage.total_tokens if usage else 0,
            notes=len(checked.notes),
        )
        return Findings(checked.fields, usage, AiStatus(state="ok", notes=checked.notes, prompt=prompt.name))
