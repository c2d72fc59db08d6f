"""Batch requests: validation against the published JSON Schema, and sources → manifest entries.

A request reaches Prepare as ``tasks/<task_id>/request.json``. Whatever produced it (the CLI's
batch file today; Feishu uploads and Bitable rows later), it is turned into a list of
:class:`VideoSource` first, and :func:`assign_ids` gives every source a stable id and marks
duplicate links. A new front door only needs its own ``sources_from_<x>()``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jsonschema
from pydantic import ValidationError

from ._ai.fields import DEFAULT_FIELDS
from ._json import JsonInputError, check_strict, excerpt, json_path
from ._manifest import Attachment, FeishuFile, Options, VideoEntry
from ._publishers import PUBLISHERS, default_outputs
from ._text import printable
from .errors import InvalidRequest

__all__ = [
    "SCHEMA_FILE",
    "VideoSource",
    "assign_ids",
    "batch_schema",
    "generate_batch_schema",
    "normalize_source",
    "options_from_request",
    "outputs_schema",
    "sources_from_request",
    "validate_request",
]

_MAX_REPORTED = 5
SCHEMA_FILE = "batch.schema.json"  # in this package; examples/batch.schema.json is a copy


@dataclass(frozen=True)
class VideoSource:
    """One video as a front door delivers it: a name and a link, an absolute local path, or a file
    uploaded in Feishu (``{message_id, file_key}``)."""

    name: str
    url: str | None = None
    path: str | None = None
    performance: Mapping[str, float] | None = None
    feishu_file: Mapping[str, str] | None = None
    attachment: Mapping[str, Any] | None = None  # a file in a Bitable row: file_token, name, size, table_id
    rejected: str | None = None  # why this row cannot be a video (it is listed as failed)
    row: str = ""  # the source row's id (a Bitable record), for rows that have no link

    @property
    def key(self) -> str:
        """What identifies the video: equal keys are the same video (duplicates)."""
        if self.rejected is not None:
            return "row:" + self.row + ":" + self.name
        if self.attachment is not None:
            return "bitable:" + str(self.attachment["file_token"])
        if self.url is not None:
            return "url:" + normalize_source(self.url)
        if self.feishu_file is not None:
            return f"feishu:{self.feishu_file['message_id']}/{self.feishu_file['file_key']}"
        return "path:" + os.path.normpath(self.path or "")


def outputs_schema() -> dict[str, Any]:
    """The schema of ``options.outputs``, generated from the publisher registry."""
    listed = "; ".join(f"{name}: {p.description}" for name, p in PUBLISHERS.items())
    default = default_outputs()
    return {
        "description": f"Where the results go. {listed}. Default: {', '.join(default)}.",
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"enum": list(PUBLISHERS)},
        "default": default,
    }


def generate_batch_schema(committed: Mapping[str, Any]) -> dict[str, Any]:
    """``committed`` with its generated parts (the ``outputs`` option, the default analysis fields)
    made from the code."""
    schema: dict[str, Any] = json.loads(json.dumps(committed))
    options = schema["$defs"]["options"]["properties"]
    options["outputs"] = outputs_schema()
    options["analysis"]["properties"]["fields"]["default"] = [
        f.model_dump(mode="json") for f in DEFAULT_FIELDS
    ]
    return schema


@cache
def batch_schema() -> dict[str, Any]:
    """The batch JSON Schema shipped with the package (``examples/batch.schema.json`` is a copy).

    Its generated parts come from the code, so validation always follows the registries; a test
    holds the committed file equal to it (``python -m steps._request`` rewrites both copies).
    """
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return generate_batch_schema(json.loads(text))


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` with JSON Schema's (ECMA-262) meaning: ``$`` is the very end, Python's ``\\Z``.

    Python's ``$`` also matches before a final newline, so ``"abc\\n"`` would pass ``^[a-z]+$``.
    """
    out: list[str] = []
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "$" and not in_class:
            out.append(r"\Z")
            continue
        out.append(ch)
    return re.compile("".join(out))


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{excerpt(instance)} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})
_MAX_LINE = 200  # characters of one reported problem
_EXCERPT_CHARS = 40  # a value longer than this (as repr) is quoted as an excerpt


def _describe(error: jsonschema.ValidationError) -> str:
    """``path: rule``, quoting at most a short excerpt of the offending value."""
    where = json_path(error.absolute_path)
    custom = error.schema.get("x-error") if isinstance(error.schema, Mapping) else None
    if custom and error.validator in ("oneOf", "anyOf"):
        return f"{where}: {custom}"
    instance, rule, message = error.instance, error.validator_value, error.message
    full = repr(instance)
    if len(full) <= _EXCERPT_CHARS:
        pass
    elif error.validator in ("maxItems", "minItems", "maxLength", "minLength"):
        unit = "items" if isinstance(instance, list) else "characters"
        bound = "at most" if error.validator.startswith("max") else "at least"
        message = f"{len(instance)} {unit}, {bound} {rule} allowed"
    else:
        message = message.replace(full, excerpt(instance))
    line = f"{where}: {printable(message)}"
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"


def validate_request(request: Any) -> None:
    """Check ``request`` against the batch schema; ``InvalidRequest`` lists what is wrong, by JSON path.

    Each problem names the path and the rule and quotes at most a short excerpt of the value.
    """
    try:
        check_strict(request)  # NaN, 1e400, lone surrogates, depth: what JSON Schema cannot see
    except JsonInputError as exc:
        raise InvalidRequest(f"invalid batch request: {exc}", errors=[str(exc)]) from None
    validator = _Validator(batch_schema())
    errors = sorted(validator.iter_errors(request), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    lines = [_describe(e) for e in errors[:_MAX_REPORTED]]
    more = len(errors) - len(lines)
    if more > 0:
        lines.append(f"… and {more} more")
    raise InvalidRequest("invalid batch request: " + "; ".join(lines), errors=lines)


def normalize_source(url: str) -> str:
    """A link in canonical form for duplicate detection: trimmed, scheme and host lowercased, no fragment."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo}@{hostport.lower()}"
    else:
        netloc = netloc.lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or ("/" if netloc else ""), parts.query, ""))


def sources_from_request(request: Mapping[str, Any], *, allow_paths: bool) -> list[VideoSource]:
    """The videos of a validated batch request; local paths must be absolute, and allowed.

    A request with a ``source`` (a Bitable) lists no videos: Prepare reads them from the source.
    """
    out: list[VideoSource] = []
    for i, item in enumerate(request.get("videos") or []):
        path = item.get("path")
        if path is not None and not allow_paths:
            raise InvalidRequest(
                f"videos[{i}].path: local files are accepted only by the command line; "
                "send a link or upload the video instead"
            )
        if path is not None and not os.path.isabs(path):
            raise InvalidRequest(
                f"videos[{i}].path: {path!r} is not an absolute path "
                "(the CLI resolves paths relative to the batch file)"
            )
        url = item.get("url")
        out.append(
            VideoSource(
                name=item["name"],
                url=url.strip() if url is not None else None,
                path=path,
                performance=item.get("performance"),
                feishu_file=item.get("feishu_file"),
            )
        )
    return out


def options_from_request(request: Mapping[str, Any]) -> Options:
    """The request's options with every default filled in."""
    try:
        return Options.model_validate(request.get("options") or {})
    except ValidationError as exc:  # the schema should have caught it; keep the message useful anyway
        first = exc.errors()[0]
        where = json_path(["options", *first["loc"]])
        raise InvalidRequest(f"invalid batch request: {where}: {first['msg']}") from exc


def _base_id(key: str, taken: Mapping[str, str]) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    short = "v" + digest[:10]
    # Two different sources sharing 40 bits of hash: give the later one a longer (still stable) id.
    return short if taken.get(short, key) == key else "v" + digest[:20]


def assign_ids(sources: Sequence[VideoSource]) -> list[VideoEntry]:
    """Manifest entries with stable ids (``v`` + 10 hex of the source's hash).

    A source whose key was seen before gets the id ``<first id>-<n>`` and ``duplicate_of`` set;
    it is listed but not processed again.
    """
    first: dict[str, str] = {}
    seen: dict[str, int] = {}
    taken: dict[str, str] = {}
    entries: list[VideoEntry] = []
    for src in sources:
        base = _base_id(src.key, taken)
        taken.setdefault(base, src.key)
        seen[src.key] = seen.get(src.key, 0) + 1
        n = seen[src.key]
        video_id = base if n == 1 else f"{base}-{n}"
        entries.append(
            VideoEntry(
                video_id=video_id,
                name=src.name,
                url=src.url,
                path=src.path,
                feishu_file=FeishuFile.model_validate(src.feishu_file) if src.feishu_file else None,
                attachment=Attachment.model_validate(src.attachment) if src.attachment else None,
                performance=dict(src.performance) if src.performance else None,
                duplicate_of=first.get(src.key),
                rejected=src.rejected,
            )
        )
        first.setdefault(src.key, video_id)
    return entries
