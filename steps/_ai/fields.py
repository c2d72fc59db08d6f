"""The analysis fields a user asks the model for: their schema, the default set, and answer checking.

A field has a name (the key in ``analysis`` and the column header in every report), a type (text,
single select, multi select, number), the allowed options of a select, and for text an optional
length cap. The default schema is the one the marketing teams use (人群, 功能, 痛点, 场景, 概述, 分析);
a request replaces it with ``options.analysis.fields``, and a Bitable source may bring its own
columns (:func:`fields_from_bitable`).

:func:`check_answer` holds a model's JSON answer to the schema: what cannot be used as is becomes a
*problem* (worth one repair request), what can be fixed is fixed and said in a *note* (a select
answer outside the list mapped to the closest option or dropped, a text cut to its cap). Nothing is
silently kept that the schema does not allow.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BITABLE_FIELD_TYPES",
    "DEFAULT_FIELDS",
    "FIELD_TYPE_LABELS",
    "CheckedAnswer",
    "FieldSpec",
    "FieldType",
    "check_answer",
    "closest_option",
    "default_fields",
    "fields_from_bitable",
]

FieldType = Literal["text", "single_select", "multi_select", "number"]
# How each type is named to users and in the prompt.
FIELD_TYPE_LABELS: dict[str, str] = {
    "text": "文本",
    "single_select": "单选",
    "multi_select": "多选",
    "number": "数字",
}
# Feishu Bitable field type codes → our types (1 text, 2 number, 3 single select, 4 multi select).
BITABLE_FIELD_TYPES: dict[int, FieldType] = {1: "text", 2: "number", 3: "single_select", 4: "multi_select"}
_MATCH_RATIO = 0.5  # an out-of-list answer this similar to exactly one option is mapped to it
_SPLIT = re.compile(r"[、,，;；/|\n]+")


class FieldSpec(BaseModel):
    """One output field of the AI analysis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=50)
    type: FieldType = "text"
    options: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = Field(
        default=(), max_length=100
    )
    max_chars: int | None = Field(default=None, ge=1, le=4000)  # a text answer's cap, in characters
    description: str = Field(default="", max_length=500)  # what the model should put there

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> FieldSpec:
        select = self.type in ("single_select", "multi_select")
        if select and not self.options:
            raise ValueError(f"field {self.name!r}: a {self.type} field needs its options")
        if not select and self.options:
            raise ValueError(f"field {self.name!r}: only select fields have options")
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"field {self.name!r}: an option is listed twice")
        if self.max_chars is not None and self.type != "text":
            raise ValueError(f"field {self.name!r}: max_chars applies to text fields only")
        return self

    @property
    def type_label(self) -> str:
        """The type in Chinese (文本 / 单选 / 多选 / 数字)."""
        return FIELD_TYPE_LABELS[self.type]


DEFAULT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        name="人群", description="这条视频主要说给谁听：具体的目标人群画像，如“通勤的上班族”“新手妈妈”。"
    ),
    FieldSpec(name="功能", description="视频主推的产品功能或卖点，一两个短语。"),
    FieldSpec(name="痛点", max_chars=15, description="视频点出的用户痛点，一句短话。"),
    FieldSpec(
        name="场景",
        type="single_select",
        options=("生活场景", "工作场景", "特殊场景"),
        description="视频内容发生在哪类场景。",
    ),
    FieldSpec(
        name="概述",
        max_chars=150,
        description="一段话概述视频：开头如何抓人、中段展示了什么、结尾如何号召行动。",
    ),
    FieldSpec(
        name="分析",
        max_chars=400,
        description=(
            "结合投放数据（CTR、CVR、CPA）与节奏、语速、开头 3 秒等指标，分析这条视频表现好或差的原因；"
            "没有投放数据时只评价内容本身的长处与不足，不要编造数据。"
        ),
    ),
)


def default_fields() -> list[FieldSpec]:
    """The default schema (a new list: requests may hold their own)."""
    return list(DEFAULT_FIELDS)


def fields_from_bitable(columns: Iterable[Mapping[str, Any]]) -> list[FieldSpec]:
    """The schema a Bitable source table defines: one field per text, number or select column.

    ``columns`` are the table's fields as the Bitable API lists them (``field_name``, ``type``, and
    for selects ``property.options[].name``); columns of other types (links, attachments, dates …)
    are not analysis fields and are skipped. The Bitable front door (issue 11) calls this when a
    request says to take the fields from the source table.
    """
    out: list[FieldSpec] = []
    for column in columns:
        kind = BITABLE_FIELD_TYPES.get(int(column.get("type", 0)))
        name = str(column.get("field_name") or "").strip()
        if kind is None or not name:
            continue
        options: tuple[str, ...] = ()
        if kind in ("single_select", "multi_select"):
            listed = (column.get("property") or {}).get("options") or []
            options = tuple(dict.fromkeys(str(o["name"]) for o in listed if o.get("name")))
            if not options:  # a select column nobody filled in yet: let the model write text
                kind = "text"
        description = str(column.get("description") or "")[:500]
        out.append(FieldSpec(name=name, type=kind, options=options, description=description))
    return out


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def closest_option(answer: str, options: Sequence[str]) -> str | None:
    """The option ``answer`` means: equal up to width and case, the one option it contains or is
    contained in, or the one clearly most similar; None when no option (or more than one) fits."""
    said = _norm(answer)
    if not said:
        return None
    normed = [_norm(o) for o in options]
    if said in normed:
        return options[normed.index(said)]
    inside = [o for o, n in zip(options, normed, strict=True) if n and (n in said or said in n)]
    if len(inside) == 1:
        return inside[0]
    scores = [difflib.SequenceMatcher(None, said, n).ratio() for n in normed]
    best = max(scores)
    if best >= _MATCH_RATIO and scores.count(best) == 1:
        return options[scores.index(best)]
    return None


@dataclass
class CheckedAnswer:
    """A model answer held to the schema."""

    fields: dict[str, Any] = field(default_factory=dict)  # field name → the usable value (None if none)
    problems: list[str] = field(default_factory=list)  # what makes the answer unusable: worth a repair
    notes: list[str] = field(default_factory=list)  # what was fixed, for the reader

    @property
    def ok(self) -> bool:
        return not self.problems


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%").replace(",", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _select(spec: FieldSpec, said: str, out: CheckedAnswer) -> str | None:
    if said in spec.options:
        return said
    match = closest_option(said, spec.options)
    if match is not None:
        out.notes.append(f"{spec.name}：模型回答“{said}”不在选项中，已改为最接近的“{match}”")
    else:
        out.notes.append(f"{spec.name}：模型回答“{said}”不在选项中，也无法对应到任一选项，已留空")
    return match


def _check_field(spec: FieldSpec, value: Any, out: CheckedAnswer) -> Any:
    if spec.type == "number":
        number = _number(value)
        if number is None:
            out.problems.append(f"“{spec.name}”应为数字，收到 {value!r}")
        return number
    if spec.type == "multi_select":
        said = _SPLIT.split(value) if isinstance(value, str) else value
        if not isinstance(said, list) or not all(isinstance(v, str) for v in said):
            out.problems.append(f"“{spec.name}”应为字符串数组（从选项中选），收到 {value!r}")
            return None
        chosen = [_select(spec, v.strip(), out) for v in said if v.strip()]
        return list(dict.fromkeys(c for c in chosen if c is not None))
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and spec.type == "text":
        value = str(value)
    if not isinstance(value, str):
        out.problems.append(f"“{spec.name}”应为字符串，收到 {value!r}")
        return None
    text = value.strip()
    if spec.type == "single_select":
        return _select(spec, text, out)
    if spec.max_chars is not None and len(text) > spec.max_chars:
        out.notes.append(f"{spec.name}：回答超过 {spec.max_chars} 字，已截断")
        text = text[: spec.max_chars]
    return text


def check_answer(fields: Sequence[FieldSpec], answer: Any) -> CheckedAnswer:
    """``answer`` (parsed JSON) held to ``fields``; keys the schema does not name are ignored."""
    out = CheckedAnswer()
    if not isinstance(answer, dict):
        out.problems.append(f"回答应为一个 JSON 对象，收到的是 {type(answer).__name__}")
        return out
    for spec in fields:
        if spec.name not in answer or answer[spec.name] is None:
            out.problems.append(f"缺少字段“{spec.name}”")
            out.fields[spec.name] = None
            continue
        out.fields[spec.name] = _check_field(spec, answer[spec.name], out)
    return out
