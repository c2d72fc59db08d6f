"""Near-duplicate keyframes, found by perceptual hash (pHash) distance."""

from __future__ import annotations

from collections.abc import Sequence

import imagehash
import numpy as np
from PIL import Image

__all__ = ["MAX_DISTANCE", "duplicate_of"]

MAX_DISTANCE = 6  # of 64 bits: re-encodes and small moves stay within it, different shots do not


def duplicate_of(images: Sequence[np.ndarray], max_distance: int = MAX_DISTANCE) -> list[int | None]:
    """For each RGB image, the index of an earlier kept image it nearly duplicates, else None.

    Kept images are those that are not duplicates; a duplicate always points at a kept one.
    """
    kept: list[tuple[int, imagehash.ImageHash]] = []
    out: list[int | None] = []
    for i, image in enumerate(images):
        digest = imagehash.phash(Image.fromarray(image))
        match = next((j for j, h in kept if digest - h <= max_distance), None)
        out.append(match)
        if match is None:
            kept.append((i, digest))
    return out
