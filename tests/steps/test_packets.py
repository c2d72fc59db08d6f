"""The packet index: what a stream says about its frames without decoding them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from steps._media.frames import open_video
from steps._media.packets import _exp_golomb, read_packet_index
from tests.media import MadeVideo

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("bits", "values"),
    [("1" + "010", [0, 1]), ("011" + "00111", [2, 6]), ("0001000" + "1", [7, 0]), ("00000000", [])],
)
def test_exp_golomb_values(bits: str, values: list[int]) -> None:
    data = int(bits.ljust(32, "0"), 2).to_bytes(4, "big")
    assert _exp_golomb(memoryview(data), 2) == values


def test_index_of_an_x264_default_encode(shot_videos: dict[str, MadeVideo]) -> None:
    video = shot_videos["fast_cuts"]
    index = read_packet_index(video.path)
    assert index is not None and index.frame_count == video.n_frames and index.refs_known
    # x264 puts an intra picture at every scene cut it detects
    assert set(video.cut_frames) <= set(np.flatnonzero(index.intra))
    # ... and B-frames that nothing references
    assert 0.2 < 1 - index.ref.mean() < 0.7
    assert set(np.unique(index.kind)) <= {ord("I"), ord("P"), ord("B")}
    assert not (index.ref & (index.kind == ord("B"))).all()
    # the presentation order and keyframes are the decoder's
    with open_video(video.path) as stream:
        decoded = [(f.time_s, f.key) for f in stream.frames()]
    assert np.allclose(index.times_s(), [t for t, _ in decoded])
    assert index.key.tolist() == [k for _, k in decoded]


def test_index_of_a_stream_without_b_frames(shot_videos: dict[str, MadeVideo]) -> None:
    index = read_packet_index(shot_videos["motion_ultrafast"].path)
    assert index is not None and index.ref.all()
    assert np.flatnonzero(index.key).tolist() == [0, 250]  # a keyframe every 250 frames, none at cuts


def test_hevc_reference_flags(shot_videos: dict[str, MadeVideo], tmp_path: Path) -> None:
    hevc = tmp_path / "hevc.mp4"
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-i", str(shot_videos["fast_cuts"].path), "-c:v", "libx265"]
    subprocess.run([*cmd, "-x265-params", "log-level=error", str(hevc)], check=True)
    index = read_packet_index(hevc)
    assert index is not None and index.refs_known
    assert index.intra[0] and (~index.ref).any()
