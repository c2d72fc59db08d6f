"""What a chat message asks for: video links (also buried in pasted share texts), options, or help.

    parse_text("7.94 复制打开抖音，看看【作品】… https://v.douyin.com/iRNBho6u/ 复制此链接 asr=none")
    → Ask(links=["https://v.douyin.com/iRNBho6u/"], options={"asr": {"engine": "none"}}, title=None)

A link ends at white space or at full-width punctuation, and trailing ASCII punctuation is not part
of it (``https://x.com/a.mp4).`` → ``https://x.com/a.mp4``), unless it closes a bracket opened inside.
Options are ``key=value`` words outside links; an unknown key or value is an error shown to the user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Ask", "BadOptions", "is_help", "message_text", "parse_text"]

# Stops at white space, quotes, angle brackets and CJK / full-width punctuation.
_LINK = re.compile(
    r"https?://[^\s<>\"'`\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2018-\u201f\u2026]+",
    re.I,
)
_TRAILING = ".,;:!?'\")]}>*_~"
_PAIRS = {")": "(", "]": "[", "}": "{"}
_OPTION = re.compile(r"(?<![\w/])([A-Za-z_]+)\s*[=＝]\s*([^\s，。；、]+)")
_MENTION = re.compile(r"@_user_\d+")
_HELP_WORDS = {"帮助", "help", "/help", "?", "？", "菜单", "使用说明"}

_ENGINES = {"auto", "none", "whisper", "funasr"}
_DETECTORS = {"content", "hybrid", "transnet", "adaptive"}
_OCR = {  # ocr=… → the request's options.ocr
    "on": {"enabled": True, "subtitles": True},
    "keyframes": {"enabled": True, "subtitles": False},
    "off": {"enabled": False, "subtitles": False},
}


class BadOptions(ValueError):
    """An option in the message cannot be used; the message says which (in Chinese)."""


@dataclass(frozen=True)
class Ask:
    """The videos a message asks about and the options that go with them."""

    links: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    title: str | None = None


def _trim(link: str) -> str:
    while link and link[-1] in _TRAILING:
        last = link[-1]
        opener = _PAIRS.get(last)
        if opener and link.count(opener) >= link.count(last):
            break  # closes a bracket opened inside the link (a Wikipedia-style path)
        link = link[:-1]
    return link


def _option(key: str, value: str, options: dict[str, Any]) -> str | None:
    key = key.lower()
    if key == "asr":
        if value.lower() not in _ENGINES:
            raise BadOptions(f"asr 只能是 {' / '.join(sorted(_ENGINES))}，收到 “{value}”")
        options.setdefault("asr", {})["engine"] = value.lower()
    elif key in ("lang", "language"):
        if not re.fullmatch(r"[A-Za-z]{2,3}|auto", value):
            raise BadOptions(f"lang 应是 zh、en 这样的语言代码或 auto，收到 “{value}”")
        options.setdefault("asr", {})["language"] = value.lower()
    elif key == "shots":
        if value.lower() not in _DETECTORS:
            raise BadOptions(f"shots 只能是 {' / '.join(sorted(_DETECTORS))}，收到 “{value}”")
        options.setdefault("shots", {})["detector"] = value.lower()
    elif key == "ocr":
        if value.lower() not in _OCR:
            raise BadOptions(f"ocr 只能是 {' / '.join(_OCR)}，收到 “{value}”")
        options["ocr"] = _OCR[value.lower()]
    elif key == "title":
        return value[:100]
    else:
        raise BadOptions(f"不认识的选项 “{key}”：可用 asr、lang、shots、ocr、title（发送“帮助”查看说明）")
    return None


def parse_text(text: str) -> Ask:
    """The links and options in ``text`` (links deduplicated, in order). Raises :class:`BadOptions`."""
    text = _MENTION.sub(" ", text)
    links: list[str] = []
    for match in _LINK.finditer(text):
        link = _trim(match.group(0))
        if len(link) > len("https://") and link not in links:
            links.append(link)
    rest = _LINK.sub(" ", text)
    options: dict[str, Any] = {}
    title = None
    for key, value in _OPTION.findall(rest):
        named = _option(key, value, options)
        title = named if named is not None else title
    return Ask(links, options, title)


def is_help(text: str) -> bool:
    """Whether ``text`` (mentions removed) asks for help."""
    return _MENTION.sub("", text).strip().lower() in _HELP_WORDS


def message_text(message_type: str, content: str | Mapping[str, Any]) -> str:
    """The plain text of a ``text`` or ``post`` message, links of ``a`` tags included."""
    try:
        data = json.loads(content) if isinstance(content, str) else dict(content)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    if message_type == "text":
        return str(data.get("text", ""))
    if message_type != "post":
        return ""
    body = data
    if "content" not in body:  # a post may be keyed by language: {"zh_cn": {"title", "content"}}
        body = next((v for v in data.values() if isinstance(v, dict) and "content" in v), {})
    parts = [str(body.get("title") or "")]
    for line in body.get("content") or []:
        words = []
        for node in line if isinstance(line, list) else []:
            if not isinstance(node, dict):
                continue
            if node.get("tag") == "a" and node.get("href"):
                words.append(f" {node['href']} ")
            elif node.get("tag") in ("text", "a", "md"):
                words.append(str(node.get("text", "")))
        parts.append("".join(words))
    return "\n".join(parts)
