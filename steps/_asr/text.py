"""Chinese as mainland readers expect it: simplified characters (OpenCC) and full-width punctuation.

Whisper often writes Mandarin in traditional characters, with ASCII punctuation or a bare space
where a pause was. :func:`normalize_words` fixes all three on a segment's words without moving any
word in time: the character conversion keeps each word's own text, and a pause-space between two
Han characters becomes a ``，`` at the end of the word before it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from .._artifacts import Word

__all__ = ["is_chinese", "normalize_text", "normalize_words", "to_simplified"]

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHAR = re.compile(f"[{_HAN}]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_HALF_PUNCT = re.compile(f"(?<=[{_HAN}])[,!?;:]|[,!?;:](?=[{_HAN}])|(?<=[{_HAN}])\\.(?!\\d)")
_FULL = {",": "，", "!": "！", "?": "？", ";": "；", ":": "：", ".": "。"}
_QUOTES = str.maketrans({"「": "“", "」": "”", "『": "‘", "』": "’"})
_FULL_PUNCT = "，。！？；：、“”‘’（）《》…"
_CHINESE_LANGS = ("zh", "yue", "cmn")


@functools.lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc  # a compiled library and its dictionaries: loaded on first use

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """``text`` in simplified characters (OpenCC ``t2s``, phrase-aware)."""
    return str(_converter().convert(text)) if _HAN_CHAR.search(text) else text


def is_chinese(text: str, language: str | None) -> bool:
    """Chinese by the detected ``language``, or (unknown) Han text without kana or hangul."""
    lang = (language or "").lower()
    if lang:
        return lang.startswith(_CHINESE_LANGS)
    return bool(_HAN_CHAR.search(text)) and not _KANA_HANGUL.search(text)


def _same_length_fix(text: str) -> str:
    """Simplified characters, ``「」`` quotes and full-width punctuation next to Han characters."""
    out = to_simplified(text).translate(_QUOTES)
    return _HALF_PUNCT.sub(lambda m: _FULL[m.group(0)], out)


def _tight(ch: str) -> bool:
    return bool(_HAN_CHAR.match(ch)) or ch in _FULL_PUNCT


def normalize_text(text: str) -> str:
    """A Chinese text without word timings: converted, and spaces between Han characters made ``，``."""
    fixed = _same_length_fix(" ".join(text.split()))
    return re.sub(f"(?<=[{_HAN}]) (?=[{_HAN}])", "，", fixed).replace("， ", "，").replace(" ，", "，")


def normalize_words(words: list[Word]) -> list[Word]:
    """A Chinese segment's words, converted in place of one another (times unchanged)."""
    if not words:
        return []
    joined = "".join(w.text for w in words)
    fixed = _same_length_fix(joined)
    if len(fixed) == len(joined):  # t2s is almost always one character for one: keep the cut points
        texts, at = [], 0
        for w in words:
            texts.append(fixed[at : at + len(w.text)])
            at += len(w.text)
    else:
        texts = [_same_length_fix(w.text) for w in words]
    out: list[Word] = []
    for word, text in zip(words, texts, strict=True):
        body = text.strip()
        if out and body and text[:1].isspace():
            prev = out[-1].text
            if _HAN_CHAR.match(body[0]) and _HAN_CHAR.match(prev[-1:]):
                out[-1] = out[-1].model_copy(update={"text": prev + "，"})  # a pause between clauses
            elif not (_tight(body[0]) or _tight(prev[-1:])):
                body = " " + body  # keep the space before a Latin word
        out.append(word.model_copy(update={"text": body}))
    return [w for w in out if w.text]
