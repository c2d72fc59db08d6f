"""A chat client for any OpenAI-compatible endpoint (DashScope by default), over the official ``openai`` SDK.

One :class:`LlmClient` serves one analysis (a video, or the batch summary) and holds its time
budget: each request gets at most the time left, retries (429, 5xx, timeouts, lost connections)
back off exponentially with jitter — longer when the server's ``Retry-After`` asks — and stop
before the budget runs out (tenacity, as the downloads do). The SDK's own retries are off because
they cannot be told a deadline. Every failure becomes an :class:`LlmError` with a kind and a
message for users; answered requests add to :attr:`usage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import tenacity

from .._artifacts import AiUsage
from .._guard import Deadline
from .._logging import get_logger
from .._retry import StopBeforeDeadline, retry_after_s
from .._settings import Settings
from .pricing import call_usage

if TYPE_CHECKING:
    from openai import OpenAI

__all__ = ["ChatReply", "LlmClient", "LlmError", "Message"]

Message = dict[str, Any]  # one chat message as the chat completions API takes it
ErrorKind = Literal["timeout", "rate_limited", "unavailable", "refused", "bad_answer"]
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
    import openai

    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return True
    status = _status(exc)
    return status is not None and (status in (408, 409, 429) or status >= 500)


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
    """Chat requests for one analysis, within ``settings.llm_budget_s`` from creation.

    Use it as a context manager: leaving the block closes its connections.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.deadline = Deadline.after(
            settings.llm_budget_s, f"模型调用的时间预算 {settings.llm_budget_s:g} 秒"
        )
        self.usage: AiUsage | None = None
        self._client: OpenAI | None = None

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (a client that never sent a request has none)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def model(self) -> str:
        return self.settings.llm_model

    def remaining_s(self) -> float:
        """Seconds left of the budget."""
        return self.deadline.remaining() or 0.0

    def _sdk(self) -> OpenAI:
        if self._client is None:
            from openai import OpenAI  # ~1 s to import: only when a model is called

            key = self.settings.llm_api_key.reveal() or "none"  # a local server may need no key
            self._client = OpenAI(api_key=key, base_url=self.settings.llm_endpoint, max_retries=0)
        return self._client

    def _retrying(self) -> tenacity.Retrying:
        backoff_s = self.settings.llm_backoff_s
        backoff = tenacity.wait_exponential_jitter(
            multiplier=backoff_s, max=_MAX_WAIT_S, jitter=backoff_s / 4
        )

        def wait(state: tenacity.RetryCallState) -> float:
            failed = state.outcome.exception() if state.outcome else None
            response = getattr(failed, "response", None)
            asked = retry_after_s(response.headers) if response is not None else 0.0
            return max(backoff(state), min(asked, _MAX_WAIT_S))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            failed = state.outcome.exception() if state.outcome else None
            delay = round(state.upcoming_sleep, 3)
            log.warning("llm.retry", attempt=state.attempt_number, delay_s=delay, error=type(failed).__name__)

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            stop=tenacity.stop_after_attempt(self.settings.llm_retries + 1)
            | StopBeforeDeadline(self.deadline),
            wait=wait,
            reraise=True,
            before_sleep=before_sleep,
        )

    def _request(self, messages: Sequence[Message], max_tokens: int, json_mode: bool) -> Any:
        left = self.remaining_s()
        if left < _MIN_REQUEST_S:
            raise LlmError("timeout", f"模型调用用完了{self.deadline.limit}")
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
        import openai

        attempts = 0
        try:
            for attempt in self._retrying():
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
