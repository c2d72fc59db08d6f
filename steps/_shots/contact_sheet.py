"""A 3×3 contact sheet: nine frames sampled evenly across the video, each stamped mm:ss."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["COLUMNS", "ROWS", "TILE_WIDTH", "render_contact_sheet", "sample_times", "timestamp"]

COLUMNS = 3
ROWS = 3
TILE_WIDTH = 426  # a 1280-px-wide sheet for landscape video
GAP = 4
BACKGROUND = (16, 16, 16)


def sample_times(duration_s: float, count: int = COLUMNS * ROWS) -> list[float]:
    """``count`` times spread evenly over ``duration_s``, each in the middle of its slice."""
    return [duration_s * (i + 0.5) / count for i in range(count)]


def timestamp(seconds: float) -> str:
    """``mm:ss`` (minutes keep counting past 59)."""
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _fit(image: np.ndarray, width: int, height: int) -> Image.Image:
    tile = Image.fromarray(image)
    if tile.size != (width, height):
        tile = tile.resize((width, height), Image.Resampling.BILINEAR)
    return tile


def render_contact_sheet(
    frames: Sequence[np.ndarray], times_s: Sequence[float], *, quality: int = 85
) -> bytes:
    """JPEG bytes of a ``COLUMNS``×``ROWS`` grid of RGB ``frames`` labelled with ``times_s``.

    All tiles take the first frame's aspect ratio; fewer frames leave empty cells.
    """
    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    h0, w0 = frames[0].shape[:2]
    tile_w = min(TILE_WIDTH, w0) if w0 >= h0 else min(TILE_WIDTH * 9 // 16, w0)
    tile_h = max(1, round(h0 * tile_w / w0))
    sheet = Image.new(
        "RGB", (COLUMNS * tile_w + (COLUMNS + 1) * GAP, ROWS * tile_h + (ROWS + 1) * GAP), BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(12, tile_h // 9))
    for i, (image, t) in enumerate(zip(frames[: COLUMNS * ROWS], times_s, strict=False)):
        x = GAP + (i % COLUMNS) * (tile_w + GAP)
        y = GAP + (i // COLUMNS) * (tile_h + GAP)
        sheet.paste(_fit(image, tile_w, tile_h), (x, y))
        label = timestamp(t)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        pad = max(2, (bottom - top) // 4)
        box = (x + pad, y + tile_h - (bottom - top) - 3 * pad, x + 3 * pad + right - left, y + tile_h - pad)
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((box[0] + pad - left, box[1] + pad - top), label, fill=(255, 255, 255), font=font)
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()
