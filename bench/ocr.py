"""On-screen text: speed and accuracy of the OCR step, beside the whole Shots step's time.

Run: ``.venv/bin/python -m bench.ocr`` (needs ffmpeg and fonts-wqy-microhei; the generated videos
are kept in the temp folder). Videos: the test set's ``vertical`` (720×1280, 8 s) and
``horizontal`` (1280×720, 5 s), and ``ad30`` (720×1280, 30 s: five shots on textured moving
backgrounds, a headline each and a new subtitle every 2 s). Per video, the median of ``--repeat``
rounds (wall time and process CPU; the machine may be shared):

- ``shots``: the whole Shots step (the reference the OCR step's cost is compared with).
- ``keyframes``: what the OCR step reads on still pictures: each shot's keyframe, the coarse scan
  first (detection alone on a 480 px picture), a full read only where it finds text.
- ``shots`` also times its band sampler's own work (in the decoding thread): what the subtitle
  track adds to the Shots pass.
- ``track``: the subtitle track from the band the Shots pass sampled (2 fps): unchanged bands
  skipped (pixels, or strokes inside the last text's boxes), text looked for only on strips where
  thin bright strokes stand still or the last text was, each box recognised once.
- ``own decode``: the same track when the Shots pass left no band (the OCR step decodes the video).
- ``naive``: the baseline of the track: every 2 fps sample read in full (whole frame, no skipping).

Accuracy: character error rate of the drawn lines (each drawn line against the best-matching
line read on a keyframe while it was on screen, or against the cue read while it was shown),
and how many cues start and end within one sample (0.5 s) of the drawn times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from unittest.mock import patch

import steps.shots as shots_step
from steps import FetchRecord, Settings, ShotsRecord, StepContext, load_artifact
from steps._media.frames import DecodedFrame, open_video
from steps._ocr import SubtitleTrack, clean_lines, read_pictures, read_subtitle_track, text_reader
from steps._ocr.bands import BANDS_FILE, SAMPLE_S, BandSampler, decode_bands, load_bands
from steps.shots import handler as shots_handler
from tests.error_rate import cer
from tests.steps._ws import make_task
from tests.text_media import TEXT_VIDEOS, Drawn, TextShot, TextVideo, make_text_video

CACHE = Path(tempfile.gettempdir()) / "video-insight-bench" / "ocr"
_SUBS = ("今天给大家推荐一款咖啡机", "第一杯现磨", "第二杯半价", "Order today", "全国包邮", "下单立减20元",
         "限时三天", "咖啡豆来自云南", "一键下单", "送货上门", "七天无理由退货", "Free shipping 99",
         "点击下方链接", "新品上市", "好评率98%")  # fmt: skip
_HEADS = ("限时优惠", "买一送一", "NEW ARRIVAL", "夏日特惠", "全国包邮 SALE 50%")
_STYLES = ("yellow", "outlined", "boxed", "white", "outlined")


def _ad30() -> tuple[tuple[int, int], tuple[TextShot, ...]]:
    shots = []
    for i in range(5):
        t0 = i * 6.0
        drawn = [Drawn(_HEADS[i], t0, t0 + 6, "overlay", 0.15, 0.1, _STYLES[i])]
        for k in range(3):
            text = _SUBS[i * 3 + k]
            drawn.append(
                Drawn(text, t0 + 2 * k, t0 + 2 * k + 2, "subtitle", 0.84, 0.05, _STYLES[(i + k) % 5])
            )
        shots.append(TextShot(6.0, tuple(drawn)))
    return (720, 1280), tuple(shots)


def _videos() -> list[TextVideo]:
    specs = {**TEXT_VIDEOS, "ad30": _ad30()}
    out = []
    for name, (size, shots) in specs.items():
        path = CACHE / f"{name}.mp4"
        video = make_text_video(path, size, shots) if not path.exists() else TextVideo(path, size, 25, shots)
        out.append(video)
    return out


@dataclass
class Timed:
    wall: float
    cpu: float
    value: Any


def _timed(fn: Callable[[], Any]) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return Timed(time.perf_counter() - wall, time.process_time() - cpu, value)


def _median(runs: list[Timed]) -> Timed:
    return Timed(
        statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs), runs[-1].value
    )


def _shots(video: TextVideo, root: Path) -> tuple[Path, ShotsRecord]:
    settings = Settings(workspace=root, allow_local_paths=True)
    ws, (vid,) = make_task(settings, [video.path], task_id=f"b{time.monotonic_ns()}")
    shots_handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
    record = load_artifact(ws.video_dir(vid), ShotsRecord)
    assert record is not None
    return ws.video_dir(vid), record


def _naive(video: TextVideo) -> list[tuple[float, str]]:
    """Every 2 fps sample read whole: ``(time_s, subtitle text)``."""
    reader = text_reader()
    out = []
    with open_video(video.path) as stream:
        due = 0.0
        for frame in stream.frames(width=320, fmt="gray", fast=True):
            if frame.time_s + 1e-6 < due:
                continue
            due = (int(frame.time_s / SAMPLE_S) + 1) * SAMPLE_S
            full = frame.render(None, "bgr24")
            lines = clean_lines(reader.read(full), full.shape[1], full.shape[0])
            out.append((frame.time_s, " ".join(x.text for x in lines if x.kind == "subtitle")))
    return out


def _keyframe_cer(video: TextVideo, shots: ShotsRecord, lines: list[list[Any]]) -> float:
    errors = chars = 0.0
    for shot, read in zip(shots.shots, lines, strict=True):
        t = shot.keyframe_s if shot.keyframe_s is not None else shot.start_s
        for d in video.drawn:
            if d.start_s <= t < d.end_s:
                n = sum(ch.isalnum() for ch in d.text)
                errors += n * min((cer(d.text, x.text) for x in read), default=1.0)
                chars += n
    return errors / max(1.0, chars)


def _cue_scores(video: TextVideo, cues: list[tuple[float, float, str]]) -> tuple[float, int, int]:
    """(CER of the drawn subtitles against the cue shown at their middle, cues on time, drawn)."""
    subs = [d for d in video.drawn if d.kind == "subtitle"]
    errors = chars = 0.0
    on_time = 0
    for d in subs:
        mid = (d.start_s + d.end_s) / 2
        cue = next((c for c in cues if c[0] <= mid < c[1]), None)
        n = sum(ch.isalnum() for ch in d.text)
        errors += n * (cer(d.text, cue[2]) if cue else 1.0)
        chars += n
        if cue and abs(cue[0] - d.start_s) <= SAMPLE_S + 0.05 and abs(cue[1] - d.end_s) <= SAMPLE_S + 0.05:
            on_time += 1
    return errors / max(1.0, chars), on_time, len(subs)


def _naive_cues(samples: list[tuple[float, str]], end_s: float) -> list[tuple[float, float, str]]:
    cues: list[list[Any]] = []
    for t, text in samples:
        if cues and cues[-1][2] == text:
            cues[-1][1] = t + SAMPLE_S
        elif text:
            cues.append([t, t + SAMPLE_S, text])
    return [(a, min(b, end_s), c) for a, b, c in cues]


class _TimedBands(BandSampler):
    """The Shots step's band sampler, timing its own work (done in the decoding thread)."""

    spent: ClassVar[list[float]] = []

    def offer(self, frame: DecodedFrame) -> None:
        started = time.perf_counter()
        super().offer(frame)
        _TimedBands.spent[-1] += time.perf_counter() - started


def _timed_shots(video: TextVideo, root: Path) -> tuple[Path, ShotsRecord]:
    """The Shots step, with the time its band sampler took appended to ``_TimedBands.spent``."""
    _TimedBands.spent.append(0.0)
    with patch.object(shots_step, "BandSampler", _TimedBands):
        return _shots(video, root)


def _track(folder: Path, sha256: str) -> SubtitleTrack:
    bands = load_bands(folder / BANDS_FILE, sha256)
    assert bands is not None
    return read_subtitle_track(bands, text_reader())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-naive", action="store_true", help="skip the slow baseline")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores; median of {args.repeat} rounds; wall s (cpu s)")
    reader = _timed(text_reader)
    print(f"text reader load: {reader.wall:.2f} s")
    root = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    for video in _videos():
        dur = video.duration_s
        names = ("shots", "keyframes", "track", "own_decode")
        runs: dict[str, list[Timed]] = {k: [] for k in names}
        folder, shots = _shots(video, root)
        fetched = load_artifact(folder, FetchRecord)
        assert fetched is not None
        pictures = [folder / s.keyframe for s in shots.shots]
        for _ in range(args.repeat):  # interleaved: every variant once per round
            runs["shots"].append(_timed(lambda v=video: _timed_shots(v, root)))
            runs["keyframes"].append(_timed(lambda p=pictures: read_pictures(p, reader.value)))
            runs["track"].append(_timed(lambda f=folder, h=fetched.sha256: _track(f, h)))
            runs["own_decode"].append(
                _timed(lambda v=video: read_subtitle_track(decode_bands(v.path), reader.value))
            )
        res = {k: _median(v) for k, v in runs.items()}
        pics, track = res["keyframes"].value, res["track"].value
        k_cer = _keyframe_cer(video, shots, pics.lines)
        cues = [(c.start_s, c.end_s, c.text) for c in track.cues]
        t_cer, on_time, n_subs = _cue_scores(video, cues)
        size = (folder / BANDS_FILE).stat().st_size
        print(f"\n{video.path.stem}: {video.size[0]}×{video.size[1]}, {dur:.0f} s, {len(shots.shots)} shots")
        sh = res["shots"]
        sampling = statistics.median(_TimedBands.spent[-args.repeat :])
        print(
            f"  shots      {sh.wall:6.2f} ({sh.cpu:5.2f})  {sh.wall / dur:.3f}× duration, of which sampling "
            f"the band {sampling:.3f} s ({sampling / dur:.4f}× duration; {size / 1e6:.1f} MB)"
        )
        kf = res["keyframes"]
        print(
            f"  keyframes  {kf.wall:6.2f} ({kf.cpu:5.2f})  {kf.wall / dur:.3f}× duration  "
            f"{len(pictures) / kf.wall:5.2f} pictures/s  read {pics.read}, skipped {pics.skipped}  "
            f"CER {k_cer:.3f}  {kf.wall / sh.wall:.2f}× shots"
        )
        tr = res["track"]
        print(
            f"  track      {tr.wall:6.2f} ({tr.cpu:5.2f})  {tr.wall / dur:.3f}× duration  "
            f"{track.samples / tr.wall:5.2f} samples/s  read {track.read} of {track.samples}  "
            f"CER {t_cer:.3f}  cues on time {on_time}/{n_subs}  {tr.wall / sh.wall:.2f}× shots"
        )
        print(f"  => subtitle track with its sampling in Shots: {(tr.wall + sampling) / dur:.3f}× duration")
        od = res["own_decode"]
        print(
            f"  own decode {od.wall:6.2f} ({od.cpu:5.2f})  {od.wall / dur:.3f}× duration  "
            f"(the track when Shots left no band: decoding it again)"
        )
        if not args.no_naive:
            nv = _timed(lambda v=video: _naive(v))
            n_cer, n_on, _ = _cue_scores(video, _naive_cues(nv.value, dur))
            print(
                f"  naive      {nv.wall:6.2f} ({nv.cpu:5.2f})  {nv.wall / dur:.3f}× duration  "
                f"{len(nv.value) / nv.wall:5.2f} samples/s  CER {n_cer:.3f}  cues on time {n_on}/{n_subs}"
                f"  track is {nv.wall / tr.wall:.1f}× faster"
            )


if __name__ == "__main__":
    main()
