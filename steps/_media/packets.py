"""What a video stream says about its frames without decoding them: one demuxing pass.

:func:`read_packet_index` reads every packet's timestamp, size and keyframe flag (5-130 ms for a
minute of 720p, against seconds to decode it) and, for H.264 and HEVC, looks at the NAL unit
headers at the start of each packet: whether the picture is intra-coded (x264 puts an I-frame at
every scene cut it detects) and whether any later picture may reference it. A picture nothing
references can be left undecoded without changing a single pixel of the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .probe import map_av_errors, open_input, select_video_stream

__all__ = ["PacketIndex", "read_packet_index"]

# HEVC NAL unit types: IRAP pictures (BLA, IDR, CRA and reserved IRAP types), and the sub-layer
# non-reference VCL types (TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N, RSV_VCL_N10/12/14).
_HEVC_IRAP = range(16, 24)
_HEVC_NON_REF = frozenset({0, 2, 4, 6, 8, 10, 12, 14})
_H264_SLICE, _H264_IDR = 1, 5


@dataclass(frozen=True)
class PacketIndex:
    """Per-frame facts in presentation order (index ``i`` is the ``i``-th frame shown)."""

    pts: np.ndarray  # int64 presentation timestamps, ascending
    size: np.ndarray  # int64 packet size in bytes
    key: np.ndarray  # bool: the container's keyframe (random access) flag
    intra: np.ndarray  # bool: an intra-coded picture (keyframes, H.264 I slices, HEVC IRAP)
    ref: np.ndarray  # bool: other pictures may reference it (True when the codec does not say)
    kind: np.ndarray  # uint8 picture kind: b"I", b"P", b"B" (H.264 slice type), b"?" unknown
    refs_known: bool  # whether ``ref`` comes from the bitstream (H.264, HEVC)
    start: int  # the stream's start time (time base units)
    time_base: Fraction

    @property
    def frame_count(self) -> int:
        return len(self.pts)

    def index_of(self) -> dict[int, int]:
        """Presentation timestamp → frame index."""
        return {int(p): i for i, p in enumerate(self.pts)}

    def times_s(self) -> np.ndarray:
        """Presentation time of each frame, seconds from the stream start."""
        return np.asarray([float((int(p) - self.start) * self.time_base) for p in self.pts])

    def keyframe_at_or_before(self, index: int) -> int:
        """The last keyframe at or before frame ``index`` (0 when there is none)."""
        keys = np.flatnonzero(self.key[: index + 1])
        return int(keys[-1]) if len(keys) else 0


def _units(data: memoryview, length_size: int) -> list[memoryview]:
    """The NAL units of one packet: length-prefixed (MP4, MKV) or Annex B (start codes)."""
    if length_size == 0:
        parts = bytes(data).split(b"\x00\x00\x01")
        return [memoryview(u.lstrip(b"\x00")) for u in parts if u.strip(b"\x00")]
    units = []
    pos = 0
    while pos + length_size <= len(data):
        n = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        units.append(data[pos : pos + n])
        pos += n
    return units


def _exp_golomb(data: memoryview, count: int) -> list[int]:
    """The first ``count`` unsigned Exp-Golomb values of ``data`` (emulation bytes removed)."""
    raw = bytes(data[:12]).replace(b"\x00\x00\x03", b"\x00\x00")
    size = 8 * len(raw)
    bits = int.from_bytes(raw, "big")
    values, pos = [], 0
    for _ in range(count):
        rest = bits & ((1 << (size - pos)) - 1)  # the bits from pos on
        if rest == 0:
            break
        zeros = size - pos - rest.bit_length()
        width = 2 * zeros + 1
        if pos + width > size:
            break
        values.append((rest >> (size - pos - width)) - 1)
        pos += width
    return values


_SLICE_KINDS = {0: ord("P"), 1: ord("B"), 2: ord("I"), 3: ord("P"), 4: ord("I")}  # SP, SI alike


def _h264(units: list[memoryview]) -> tuple[int, bool] | None:
    """``(kind, ref)`` of an H.264 picture from its slice NAL units (None: no slice seen).

    The kind is the least intra of its slices (``B`` over ``P`` over ``I``)."""
    kind, ref, seen = ord("I"), False, False
    for unit in units:
        if not unit:
            continue
        nal, ref_idc = unit[0] & 0x1F, (unit[0] >> 5) & 3
        if nal not in (_H264_SLICE, _H264_IDR):
            continue
        seen = True
        ref = ref or ref_idc != 0
        if nal == _H264_SLICE:
            header = _exp_golomb(unit[1:], 2)  # first_mb_in_slice, slice_type
            slice_kind = (
                _SLICE_KINDS.get(header[1] % 5, ord("?")) if len(header) == 2 and header[1] <= 9 else ord("?")
            )
            kind = max(kind, slice_kind, key=b"IP?B".index)
    return (kind, ref) if seen else None


def _hevc(units: list[memoryview]) -> tuple[bool, bool, int] | None:
    """``(intra, non_ref_type, temporal_id)`` of an HEVC picture (None: no VCL unit seen)."""
    for unit in units:
        if len(unit) < 2:
            continue
        kind = (unit[0] >> 1) & 0x3F
        if kind < 32:  # VCL
            return kind in _HEVC_IRAP, kind in _HEVC_NON_REF, (unit[1] & 7) - 1
    return None


def _length_size(codec: str, extradata: bytes | None) -> int:
    """Bytes of each NAL length prefix from avcC/hvcC extradata; 0 for Annex B streams."""
    if not extradata or extradata[0] != 1:
        return 0
    if codec == "h264" and len(extradata) > 4:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) > 21:
        return (extradata[21] & 3) + 1
    return 0


def read_packet_index(path: Path) -> PacketIndex | None:
    """Demux the video stream of ``path`` (no decoding).

    Returns None when the stream's timestamps cannot number its frames (missing or repeated
    presentation timestamps), in which case only a full decoding pass can.
    """
    with open_input(path) as container, map_av_errors(path):
        stream = select_video_stream(container)
        codec = stream.codec_context.name
        length_size = _length_size(codec, stream.codec_context.extradata)
        rows: list[tuple[int, int, bool, bool, bool, int, int]] = []
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:  # discarded: decoded, never shown (edit lists)
                continue
            if packet.pts is None:
                return None
            key = bool(packet.is_keyframe)
            intra, ref, tid, kind = key, True, 0, ord("?")
            if codec == "h264":
                facts = _h264(_units(memoryview(packet), length_size))
                if facts is not None:
                    kind, ref = facts
                    intra = key or kind == ord("I")
            elif codec == "hevc":
                hevc = _hevc(_units(memoryview(packet), length_size))
                if hevc is not None:
                    intra, ref, tid = hevc[0] or key, not hevc[1], hevc[2]
            rows.append((int(packet.pts), int(packet.size), key, intra, ref, tid, kind))
        start = stream.start_time or 0
        base = stream.time_base or Fraction(1, 1)
    if not rows:
        return None
    rows.sort()
    pts = np.asarray([r[0] for r in rows], dtype=np.int64)
    if len(np.unique(pts)) != len(pts):
        return None
    refs = np.asarray([r[4] for r in rows], dtype=bool)
    if codec == "hevc":
        # A sub-layer non-reference picture may still be referenced from a higher temporal layer.
        tids = np.asarray([r[5] for r in rows])
        refs |= tids < tids.max()
    return PacketIndex(
        pts=pts,
        size=np.asarray([r[1] for r in rows], dtype=np.int64),
        key=np.asarray([r[2] for r in rows], dtype=bool),
        intra=np.asarray([r[3] for r in rows], dtype=bool),
        ref=refs,
        kind=np.asarray([r[6] for r in rows], dtype=np.uint8),
        refs_known=codec in ("h264", "hevc"),
        start=int(start),
        time_base=Fraction(base),
    )
