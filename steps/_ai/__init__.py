"""The AI analysis: per-video fields from a vision-language model, and the batch summary.

- :mod:`.fields`: the field schema a request controls, and answers held to it;
- :mod:`.prompts`: the versioned Chinese prompt files, with the schema rendered in;
- :mod:`.llm`: the OpenAI-compatible client (timeouts, retries, a time budget, usage and cost);
- :mod:`.answers`: a JSON answer, parsed and checked, with one repair request;
- :mod:`.video` and :mod:`.analyzer`: the request about one video, and the registered analyzer.

The manifest imports the field schema, so this package's root stays light: it exports only
:mod:`.fields`; the other modules are imported where they are used (nothing imports ``openai``
until a model is called).
"""

from __future__ import annotations

from .fields import (
    BITABLE_FIELD_TYPES,
    DEFAULT_FIELDS,
    FIELD_TYPE_LABELS,
    CheckedAnswer,
    FieldSpec,
    FieldType,
    check_answer,
    closest_option,
    default_fields,
    fields_from_bitable,
)

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
