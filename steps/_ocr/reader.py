"""The text reader: RapidOCR's PP-OCRv4 detection and recognition models (Chinese and English, ONNX,
shipped inside the ``rapidocr-onnxruntime`` wheel) on the CPU through onnxruntime.

Nothing is downloaded: the models are files of the installed package. The reader loads once per
process, on first use (about 0.1–0.3 s). :meth:`TextReader.has_text` is the coarse scan: the
detector alone on a picture shrunk to :data:`COARSE_SIDE` pixels, a fraction of a full read, so a
picture without text costs little.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ..errors import ModelUnavailable

__all__ = ["COARSE_SIDE", "ENGINE", "MODEL", "RawLine", "TextReader", "text_reader"]

ENGINE = "rapidocr"
MODEL = "PP-OCRv4"
COARSE_SIDE = 480  # the long side of a picture for the coarse scan (detection only)
_LOCK = threading.Lock()
_READER: TextReader | None = None


@dataclass(frozen=True)
class RawLine:
    """A line as the recogniser gave it: text, axis-aligned box in pixels, score."""

    text: str
    box: tuple[float, float, float, float]  # left, top, right, bottom
    confidence: float


SPINNING = "session.intra_op.allow_spinning"  # onnxruntime's session option


@contextmanager
def _threads_that_sleep() -> Iterator[None]:
    """While RapidOCR builds its onnxruntime sessions, turn off their worker threads' spinning.

    By default onnxruntime's threads spin while they wait for work. On cores that other work shares
    (a batch runs several steps at once, two cores in all) that more than doubled the CPU time of
    the subtitle track and its wall time (bench/ocr.py: 2.3 → 0.9 CPU-s on the 30 s video, with
    another process busy). RapidOCR's config has no entry for it, so its session options are
    amended as they are made.
    """
    from rapidocr_onnxruntime.utils import infer_engine

    original = infer_engine.OrtInferSession._init_sess_opts

    def amended(config: dict[str, Any]) -> Any:
        options = original(config)
        options.add_session_config_entry(SPINNING, "0")
        return options

    infer_engine.OrtInferSession._init_sess_opts = staticmethod(amended)
    try:
        yield
    finally:
        infer_engine.OrtInferSession._init_sess_opts = staticmethod(original)


class TextReader:
    """Reads the text lines of BGR pictures (``numpy`` arrays ``H×W×3``)."""

    name = ENGINE
    model = MODEL

    def __init__(self) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise ModelUnavailable(
                "读取画面文字需要 rapidocr-onnxruntime（scripts/bootstrap 会安装）"
                f"（on-screen text needs the rapidocr-onnxruntime package: {exc}）"
            ) from exc
        with _threads_that_sleep():
            # text_score 0: every recognised line comes back; lines.py filters with a measured threshold
            self._ocr: Any = RapidOCR(text_score=0.0)
        # RapidOCR enlarges a picture's short side to 736 px for detection: right for a frame,
        # wasteful for a strip (a 1280×270 band would be detected at 3500×736). Its "max" rule never
        # shrinks a picture under 2000 px (nor enlarges one): a picture is detected at the size it is
        # given (boxes and detect shrink it first where they should).
        coarse = copy.copy(self._ocr.text_det)  # shares the ONNX session, not the resize rule
        coarse.limit_type = "max"
        self._coarse: Any = coarse

    def read(self, image: np.ndarray) -> list[RawLine]:
        """Every text line of ``image`` (a BGR picture), top to bottom; empty when it holds none."""
        found, _ = self._ocr(np.ascontiguousarray(image), use_cls=False)
        lines: list[RawLine] = []
        for points, text, score in found or ():
            xs = [float(p[0]) for p in points]
            ys = [float(p[1]) for p in points]
            lines.append(RawLine(str(text), (min(xs), min(ys), max(xs), max(ys)), float(score)))
        return lines

    def boxes(
        self, image: np.ndarray, side: int | None = COARSE_SIDE
    ) -> list[tuple[float, float, float, float]]:
        """The coarse scan: text boxes found on ``image`` shrunk to ``side`` pixels at most (None: at
        its own size), without reading them; as fractions of its width and height."""
        h, w = image.shape[:2]
        scale = (side or max(h, w)) / max(h, w)
        small = image
        if scale < 1:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = np.asarray(
                Image.fromarray(np.ascontiguousarray(image)).resize(size, Image.Resampling.BILINEAR)
            )
        found, _ = self._coarse(np.ascontiguousarray(small))
        if found is None or len(found) == 0:
            return []
        sh, sw = small.shape[:2]
        out = []
        for points in found:
            xs, ys = points[:, 0], points[:, 1]
            out.append(
                (float(xs.min()) / sw, float(ys.min()) / sh, float(xs.max()) / sw, float(ys.max()) / sh)
            )
        return sorted(out, key=lambda b: (b[1], b[0]))

    def detect(self, image: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Text boxes on ``image`` (grey or BGR), detected on it scaled by ``scale`` (at most 1), as
        quadrilaterals (``n×4×2``, corners clockwise from top left) in ``image``'s pixels, top to
        bottom. Detection costs about the square of the scale; recognition (:meth:`recognize`)
        then reads the boxes at full resolution."""
        h, w = image.shape[:2]
        small = image
        if scale < 1:
            size = (max(32, round(w * scale)), max(32, round(h * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if small.ndim == 2:
            small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
        sh, sw = small.shape[:2]
        # The detector works on sides that are multiples of 32 and resizes a picture to the nearest
        # ones: a 44-row strip would be squashed to 32 rows (its text with it). Pad it instead.
        padded = cv2.copyMakeBorder(small, 0, -sh % 32, 0, -sw % 32, cv2.BORDER_CONSTANT, value=0)
        found, _ = self._coarse(np.ascontiguousarray(padded))
        if found is None or len(found) == 0:
            return np.zeros((0, 4, 2), dtype=np.float32)
        quads = np.asarray(self._ocr.sorted_boxes(found), dtype=np.float32)
        quads[:, :, 0] = np.clip(quads[:, :, 0] * (w / sw), 0, w)
        quads[:, :, 1] = np.clip(quads[:, :, 1] * (h / sh), 0, h)
        return quads

    def recognize(self, image: np.ndarray, quads: np.ndarray) -> list[RawLine]:
        """The text in each box of ``quads`` (from :meth:`detect`) on ``image`` (grey or BGR)."""
        if len(quads) == 0:
            return []
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else np.ascontiguousarray(image)
        crops = self._ocr.get_crop_img_list(bgr, [np.ascontiguousarray(q) for q in quads])
        found, _ = self._ocr.text_rec(crops)
        lines = []
        for quad, (text, score) in zip(quads, found, strict=True):
            xs, ys = quad[:, 0], quad[:, 1]
            box = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
            lines.append(RawLine(str(text), box, float(score)))
        return lines

    def has_text(self, image: np.ndarray, side: int | None = COARSE_SIDE) -> bool:
        """Whether the coarse scan finds any text on ``image``."""
        return bool(self.boxes(image, side))


def text_reader() -> TextReader:
    """The process's reader, loaded on first call (``ModelUnavailable`` without the package)."""
    global _READER
    with _LOCK:
        if _READER is None:
            _READER = TextReader()
        return _READER
