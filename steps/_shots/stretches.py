"""Stretches of a video that separate decoders decode side by side, each from a keyframe.

One decoder with FFmpeg's frame threading keeps about 1.5 of 2 cores busy (a picture waits for
the rows of the pictures it is predicted from); two decoders over two stretches of the video,
each starting at a keyframe and each with its frame threads, keep both busy, and the one that
finishes first leaves its cores to the other (single-threaded decoders were slower wherever the
stretches' work was uneven, as where a coarse scan finds more to decode in one; bench/shots.py).
A picture decoded from a keyframe is the picture decoded from the start of the stream (the coarse
scan's re-decoding relies on it too), so every score is bit-equal. Each stretch runs ``SEAM``
frames into the next one: the next one cannot score its keyframe's change (the frame before is
not its own), and the lagged colours of the frames before the keyframe look ``LAG`` frames ahead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .._media.frames import usable_cores
from .._media.packets import PacketIndex
from .rules import LAG

__all__ = ["MAX_DECODERS", "MIN_PIXELS", "SEAM", "owned_by", "stretches", "threads_each", "worth_splitting"]

MAX_DECODERS = 4
# Pixels each stretch must decode before a second decoder pays (about 110 frames of 720p, 430 of
# 360p): a 250-frame 640x272 clip split in two took 10 % longer (a second container and thread,
# the seam decoded twice), a 30 s 1080p one a third less.
MIN_PIXELS = 100_000_000
SEAM = LAG + 2  # frames a stretch decodes past the start of the next one


def stretches(
    index: PacketIndex, decode: np.ndarray, decoders: int | None = None, *, frame_pixels: int = 0
) -> list[tuple[int, int]]:
    """Stretches ``(first, last)`` (inclusive) that cover every frame, each after the first
    starting at a keyframe, with about as many frames to ``decode`` each.

    ``decoders``: that many stretches where the keyframes allow; by default one per usable core,
    where each gets at least ``MIN_PIXELS`` to decode (frames of ``frame_pixels`` pixels).
    """
    n = index.frame_count
    least = 1 if decoders is not None else math.ceil(MIN_PIXELS / max(1, frame_pixels))
    decoders = min(usable_cores() if decoders is None else decoders, MAX_DECODERS)
    keys = np.flatnonzero(index.key[1:]) + 1
    if n == 0 or decoders < 2 or not len(keys):
        return [(0, max(0, n - 1))]
    cost = np.concatenate([[0], np.cumsum(decode[:n], dtype=np.int64)])  # cost[b] - cost[a]: [a, b)
    starts = [0]
    for part in range(1, decoders):
        target = cost[n] * part / decoders
        k = int(keys[np.argmin(np.abs(cost[keys] - target))])
        if k > starts[-1] and cost[k] - cost[starts[-1]] >= least and cost[n] - cost[k] >= least:
            starts.append(k)
    ends = [min(n - 1, k + SEAM) for k in starts[1:]] + [n - 1]
    return list(zip(starts, ends, strict=True))


def worth_splitting(frames: float, frame_pixels: int) -> bool:
    """Whether a video of about ``frames`` frames of ``frame_pixels`` pixels is long enough for
    two decoders."""
    return frames * frame_pixels >= 2 * MIN_PIXELS


def owned_by(
    renders: Mapping[int, int | None], parts: list[tuple[int, int]], frame_count: int
) -> list[dict[int, int | None]]:
    """``renders`` split among ``parts``: each frame goes to the stretch that starts at or before
    it last (frames past the end to the last stretch, which renders its last frame for them)."""
    starts = [first for first, _ in parts]
    out: list[dict[int, int | None]] = [{} for _ in parts]
    for i, width in renders.items():
        k = int(np.searchsorted(starts, min(i, frame_count - 1), side="right")) - 1
        out[max(0, k)][i] = width
    return out


def threads_each(cores: int, decoders: int) -> int:
    """Frame threads for each of ``decoders`` decoders side by side on ``cores`` cores: their
    share, and at least two (one decoder's threads take over the cores the other leaves idle)."""
    return max(2, -(-cores // max(1, decoders)))
