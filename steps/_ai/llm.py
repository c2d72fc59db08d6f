"""A chat client for any OpenAI-compatible endpoint (DashScope by default), over the official ``openai`` SDK.

One :class:`LlmClient` serves one analysis (a video, or the batch summary) and holds its time
budget: each request gets at most the time left, retries (429, 5xx, timeouts, lost connections)
back off — by the server's ``Retry-After`` when it sends one — and stop before the budget runs out.
The SDK's own retries are off because they cannot be told a deadline. Every failure becomes an
:class:`LlmError` with a kind and a message for users; answered requests add to :attr:`usage`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from .._artifacts import AiUsage
from .._logging import get_logger
from .._settings import Settings
from .pricing import call_usage

if TYPE_CHECKING:
    from openai import OpenAI

__all__ = ["ChatReply", "LlmClient", "LlmError", "Message"]

Message = dict[str, Any]  # one chat message as the chat completions API takes it
ErrorKind = Literal["timeout", "rate_limited", "unavailable", "refused", "bad_answer", "busy"]
_MAX_WAIT_S = 30.0  # the longest pause between two attempts
_MIN_REQUEST_S = 1.0  # no request is started with less time than this left
log = get_logger(__name__)


class LlmError(Exception):
    """A model call that did not give a usable answer; ``message`` says why, for users."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ChatReply:
    """The text of an answer and what the request cost."""

    text: str
    usage: AiUsage


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None) if hasattr(exc, "response") else None


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return True
    status = _status(exc)
    return status is not None and (status in (408, 409, 429) or status >= 500)


def _retry_after(exc: BaseException | None) -> float | None:
    """The pause the server asked for (``Retry-After-Ms`` or ``Retry-After`` in seconds), if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers.get(name, "")) * scale)
        except ValueError:
            continue
    return None


def _describe(exc: BaseException, attempts: int, timeout_s: float) -> LlmError:
    import openai

    tried = f"（共尝试 {attempts} 次）"
    if isinstance(exc, openai.APITimeoutError):
        return LlmError("timeout", f"模型在 {timeout_s:g} 秒内没有回答{tried}")
    if isinstance(exc, openai.APIConnectionError):
        return LlmError("unavailable", f"连接不到模型服务{tried}：{exc}")
    status = _status(exc)
    detail = str(getattr(exc, "message", "") or exc)[:300]
    if status == 429:
        return LlmError("rate_limited", f"模型服务限流（HTTP 429）{tried}")
    if status is not None and status >= 500:
        return LlmError("unavailable", f"模型服务出错（HTTP {status}）{tried}：{detail}")
    if status in (401, 403):
        return LlmError("refused", f"模型服务拒绝了 API Key（HTTP {status}）：{detail}")
    return LlmError("refused", f"模型服务拒绝了请求（HTTP {status}）：{detail}")


class LlmClient:
    """Chat requests for one analysis, within ``settings.llm_budget_s`` from creation."""

    def __init__(self, settings: Settings, *, budget_s: float | None = None) -> None:
        self.settings = settings
        self.deadline = time.monotonic() + (settings.llm_budget_s if budget_s is None else budget_s)
        self.usage: AiUsage | None = None
        self._client: OpenAI | None = None

    @property
    def model(self) -> str:
        return self.settings.llm_model

    def remaining_s(self) -> float:
        """Seconds left of the budget."""
        return self.deadline - time.monotonic()

    def _sdk(self) -> OpenAI:
        if self._client is None:
            from openai import OpenAI  # ~1 s to import: only when a model is called

            key = self.settings.llm_api_key.reveal() or "none"  # a local server may need no key
            self._client = OpenAI(api_key=key, base_url=self.settings.llm_endpoint, max_retries=0)
        return self._client

    def _wait(self, state: RetryCallState) -> float:
        failed = state.outcome.exception() if state.outcome else None
        asked = _retry_after(failed)
        delay = asked if asked is not None else self.settings.llm_backoff_s * 2 ** (state.attempt_number - 1)
        return min(delay, _MAX_WAIT_S)

    def _request(self, messages: Sequence[Message], max_tokens: int, json_mode: bool) -> Any:
        left = self.remaining_s()
        if left < _MIN_REQUEST_S:
            raise LlmError("timeout", f"模型调用用完了 {self.settings.llm_budget_s:g} 秒的时间预算")
        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if json_mode else {}
        return self._sdk().chat.completions.create(
            model=self.model,
            messages=list(messages),  # type: ignore[arg-type]
            temperature=0.2,
            max_tokens=max_tokens,
            timeout=min(self.settings.llm_timeout_s, left),
            **extra,
        )

    def chat(self, messages: Sequence[Message], *, max_tokens: int = 1500) -> ChatReply:
        """One answer to ``messages`` (asked for as JSON when ``settings.llm_json_mode``).

        Raises:
            LlmError: no answer within the budget, or the endpoint refused the request.
        """
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.settings.llm_retries + 1) | stop_before_delay(self.remaining_s()),
            wait=self._wait,
            reraise=True,
            before_sleep=lambda s: log.warning(
                "llm.retry",
                attempt=s.attempt_number,
                delay_s=round(s.upcoming_sleep, 3),
                error=type(s.outcome.exception()).__name__ if s.outcome else None,
            ),
        )
        import openai

        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    response = self._request(messages, max_tokens, self.settings.llm_json_mode)
        except openai.APIError as exc:
            timeout_s = min(self.settings.llm_timeout_s, self.settings.llm_budget_s)
            raise _describe(exc, attempts, timeout_s) from exc
        return self._reply(response)

    def _reply(self, response: Any) -> ChatReply:
        usage = getattr(response, "usage", None)
        spent = call_usage(
            self.settings,
            self.model,
            getattr(usage, "prompt_tokens", None),
            getattr(usage, "completion_tokens", None),
        )
        self.usage = spent if self.usage is None else self.usage.plus(spent)
        choices = getattr(response, "choices", None) or []
        text = (choices[0].message.content or "") if choices else ""
        log.info(
            "llm.answered",
            model=spent.model,
            prompt_tokens=spent.prompt_tokens,
            tokens=spent.completion_tokens,
        )
        return ChatReply(text=text, usage=spent)
