"""The prompts: versioned Chinese text files in ``prompts/``, with the field schema rendered in.

A prompt file is named ``<name>.v<N>.md`` and never edited once released: a change of wording is
a new version, so an answer recorded with ``prompt: video.v1`` can always be traced to its words.
The file holds ``[system]`` and ``[user]`` sections; lines starting with ``#`` before the first
section are comments. ``$name`` placeholders are filled in with :class:`string.Template` (a
placeholder without a value is an error, never silently left in).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from .fields import FieldSpec
from .llm import Message

__all__ = [
    "REPAIR_PROMPT",
    "SUMMARY_PROMPT",
    "VIDEO_PROMPT",
    "Prompt",
    "fields_block",
    "json_example",
    "load_prompt",
]

VIDEO_PROMPT = "video.v1"
SUMMARY_PROMPT = "summary.v1"
REPAIR_PROMPT = "repair.v1"
_SECTION = re.compile(r"^\[(system|user)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Prompt:
    """One prompt file: its name (with version) and its sections."""

    name: str
    sections: dict[str, Template]

    def text(self, section: str, **values: str) -> str:
        """The section with every placeholder filled in (``KeyError`` for one without a value)."""
        return self.sections[section].substitute(values).strip()

    def messages(self, **values: str) -> list[Message]:
        """A text-only request: the system section, then the user section."""
        return [
            {"role": "system", "content": self.text("system", **values)},
            {"role": "user", "content": self.text("user", **values)},
        ]


@cache
def load_prompt(name: str) -> Prompt:
    """The prompt file ``prompts/<name>.md`` (e.g. ``video.v1``)."""
    text = resources.files(__package__).joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    sections = {parts[i]: Template(parts[i + 1]) for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise ValueError(f"prompt {name}: needs exactly a [system] and a [user] section")
    return Prompt(name=name, sections=sections)


def _field_line(spec: FieldSpec) -> str:
    rule = spec.type_label
    if spec.type == "single_select":
        rule += "，只能从这些选项中选一个：" + " / ".join(spec.options)
    elif spec.type == "multi_select":
        rule += "，从这些选项中选一个或多个，写成 JSON 数组：" + " / ".join(spec.options)
    elif spec.type == "number":
        rule += "，写一个数字"
    elif spec.max_chars is not None:
        rule += f"，不超过 {spec.max_chars} 字"
    line = f"- {json.dumps(spec.name, ensure_ascii=False)}（{rule}）"
    return f"{line}：{spec.description}" if spec.description else line


def fields_block(fields: Sequence[FieldSpec]) -> str:
    """The fields as the prompt lists them: name, type and rule, what to write."""
    return "\n".join(_field_line(spec) for spec in fields)


def json_example(fields: Sequence[FieldSpec]) -> str:
    """The shape of the expected answer (keys exactly the field names)."""
    shape = {
        "text": "……",
        "number": 0,
        "single_select": "（选项之一）",
        "multi_select": ["（选项）"],
    }
    return json.dumps({f.name: shape[f.type] for f in fields}, ensure_ascii=False, indent=2)
