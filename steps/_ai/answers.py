"""Getting a JSON answer that holds to a schema out of a model: parse, check, and repair once.

The model is asked for one JSON object. Its text is parsed (a Markdown code fence or words around
the object are tolerated); the parsed value is checked by the caller's ``check``. When the text is
not JSON, or the check finds problems, the model gets one repair request: a short text-only
message with its answer and what is wrong (no images, so a repair costs little). A second answer
that is still not JSON is an :class:`~.llm.LlmError` (``bad_answer``); one that parses but still has
problems is used, with the problems written as notes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from .llm import LlmClient, LlmError, Message
from .prompts import Prompt

__all__ = ["Checked", "ask_json", "parse_json"]

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```\s*$")
_MAX_ECHO = 4000  # characters of a bad answer sent back in the repair request


class Checked(Protocol):
    """What a check returns: the problems that make the answer unusable, and notes of what it fixed."""

    problems: list[str]
    notes: list[str]


C = TypeVar("C", bound=Checked)


def parse_json(text: str) -> Any:
    """The JSON value in a model's answer; ``ValueError`` when there is none."""
    body = _FENCE.sub("", text.strip())
    try:
        return json.loads(body)
    except ValueError as first:
        start, end = body.find("{"), body.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(body[start : end + 1])
            except ValueError:
                pass
        raise ValueError(f"不是合法的 JSON（{first}）") from first


def _attempt(text: str, check: Callable[[Any], C]) -> tuple[C | None, list[str]]:
    try:
        value = parse_json(text)
    except ValueError as exc:
        return None, [str(exc)]
    checked = check(value)
    return checked, list(checked.problems)


def ask_json(
    client: LlmClient,
    messages: Sequence[Message],
    check: Callable[[Any], C],
    repair: Prompt,
    *,
    max_tokens: int = 1500,
    **repair_vars: str,
) -> C:
    """The checked answer to ``messages``, after at most one repair request.

    Args:
        client: the client (its usage adds up both requests).
        messages: the request.
        check: holds a parsed answer to the schema.
        repair: the repair prompt; it gets ``$answer`` and ``$problems`` besides ``repair_vars``.
        max_tokens: the answer's cap.

    Raises:
        LlmError: a request failed, or the repaired answer is still not JSON.
    """
    text = client.chat(messages, max_tokens=max_tokens).text
    checked, problems = _attempt(text, check)
    if checked is not None and not problems:
        return checked
    problem_list = "\n".join(f"- {p}" for p in problems)
    request = repair.messages(answer=text[:_MAX_ECHO], problems=problem_list, **repair_vars)
    text = client.chat(request, max_tokens=max_tokens).text
    repaired, left = _attempt(text, check)
    if repaired is None:
        raise LlmError("bad_answer", "模型的回答不是合法的 JSON（已请它修复一次）：" + "；".join(left)[:300])
    repaired.notes.insert(0, "模型第一次的回答不合要求（" + "；".join(problems)[:200] + "），已请它修复一次")
    repaired.notes.extend(f"修复后仍有问题：{p}" for p in left)
    repaired.problems = []
    return repaired
