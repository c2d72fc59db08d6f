"""Text on still pictures (keyframes, screenshots): the coarse scan first, a full read only where it
finds text. The same picture file (a keyframe that near-duplicates an earlier one) is read once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .._artifacts import ScreenTextLine
from .._logging import get_logger
from .lines import clean_lines
from .reader import TextReader

__all__ = ["PictureTexts", "read_pictures"]

log = get_logger(__name__)


@dataclass
class PictureTexts:
    """The lines read on each picture, in the order given, and what the reading cost."""

    lines: list[list[ScreenTextLine]] = field(default_factory=list)
    read: int = 0  # pictures read in full
    skipped: int = 0  # pictures the coarse scan found no text on, or read already


def _bgr(path: Path) -> np.ndarray | None:
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        log.warning("ocr.picture_unreadable", path=path.name, error=str(exc))
        return None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def read_pictures(paths: Sequence[Path], reader: TextReader) -> PictureTexts:
    """Read every picture of ``paths``; an unreadable picture has no lines (and is logged)."""
    out = PictureTexts()
    done: dict[Path, list[ScreenTextLine]] = {}
    for path in paths:
        if path in done:
            out.skipped += 1
            out.lines.append(done[path])
            continue
        image = _bgr(path)
        lines: list[ScreenTextLine] = []
        if image is None or not reader.has_text(image):
            out.skipped += 1
        else:
            out.read += 1
            h, w = image.shape[:2]
            lines = clean_lines(reader.read(image), w, h)
        done[path] = lines
        out.lines.append(lines)
    return out
