"""Word and character error rates (Levenshtein distance over the reference length), for tests and bench/."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["cer", "wer"]


def _distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate, case and punctuation ignored."""
    ref = _words(reference)
    return _distance(ref, _words(hypothesis)) / max(1, len(ref))


def _chars(text: str) -> list[str]:
    return [ch for ch in text.lower() if ch.isalnum()]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate over letters, digits and CJK characters (punctuation and spaces ignored)."""
    ref = _chars(reference)
    return _distance(ref, _chars(hypothesis)) / max(1, len(ref))
