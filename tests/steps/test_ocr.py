"""The OCR step on generated videos with known burned-in text: lines per shot (character error
rate), their kind, the distinct lines, the subtitle track's cue times, and a shot without text."""

from __future__ import annotations

from pathlib import Path

import pytest

from steps import FetchRecord, ScreenTextRecord, Settings, ShotsRecord, StepContext, load_artifact
from steps._ocr.bands import BAND_BOTTOM, BAND_TOP, BANDS_FILE, load_bands
from steps.errors import InvalidStepInput
from steps.ocr import SRT_FILE
from steps.ocr import handler as ocr_handler
from steps.shots import handler as shots_handler
from tests.error_rate import cer
from tests.steps._ws import make_task
from tests.text_media import TEXT_VIDEOS, TextVideo, make_text_video

pytestmark = pytest.mark.slow

MAX_CER = 0.05  # over all lines of a video (bench/ocr.py measures it on the full-size videos)
LINE_CER = 0.34  # one line: a character in three may be misread (it is still that line)
SAMPLE_S = 0.5


@pytest.fixture(scope="session")
def text_videos(media_dir: Path) -> dict[str, TextVideo]:
    """The text videos at 3/4 of their size (bench/ocr.py reads them full size)."""
    return {
        name: make_text_video(media_dir / f"text_{name}.mp4", (w * 3 // 4, h * 3 // 4), shots)
        for name, ((w, h), shots) in TEXT_VIDEOS.items()
    }


@pytest.fixture(scope="session")
def read(text_videos: dict[str, TextVideo], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each text video through Shots and OCR once; name → its video folder."""
    settings = Settings(workspace=tmp_path_factory.mktemp("ocr_ws"), allow_local_paths=True)
    out = {}
    for name, video in text_videos.items():
        ws, (vid,) = make_task(settings, [video.path], task_id=f"ocr_{name}")
        ctx = StepContext(settings=settings)
        shots_handler({"task_id": ws.task_id, "video_id": vid}, ctx)
        assert ocr_handler({"task_id": ws.task_id, "video_id": vid}, ctx) == {
            "task_id": ws.task_id,
            "video_id": vid,
        }
        out[name] = ws.video_dir(vid)
    return out


def _total_cer(pairs: list[tuple[str, str]]) -> float:
    """Character error rate over every ``(drawn, read)`` pair together."""
    sizes = [sum(ch.isalnum() for ch in ref) for ref, _ in pairs]
    return sum(cer(ref, got) * n for (ref, got), n in zip(pairs, sizes, strict=True)) / max(1, sum(sizes))


def _records(video_dir: Path) -> tuple[ShotsRecord, ScreenTextRecord]:
    shots, text = load_artifact(video_dir, ShotsRecord), load_artifact(video_dir, ScreenTextRecord)
    assert shots is not None and text is not None
    return shots, text


@pytest.mark.parametrize("name", list(TEXT_VIDEOS))
def test_every_drawn_line_is_read_on_its_shot_with_its_kind(
    name: str, text_videos: dict[str, TextVideo], read: dict[str, Path]
) -> None:
    video = text_videos[name]
    shots, text = _records(read[name])
    assert len(shots.shots) == len(video.shots)
    assert len(text.shots) == len(shots.shots)
    pairs = []
    for shot, lines in zip(shots.shots, text.shots, strict=True):
        t = shot.keyframe_s if shot.keyframe_s is not None else shot.start_s
        drawn = [d for d in video.drawn if d.start_s <= t < d.end_s]
        assert len(lines) == len(drawn), (shot.index, [x.text for x in lines], drawn)
        for d in drawn:
            best = min(lines, key=lambda line, d=d: cer(d.text, line.text))
            assert cer(d.text, best.text) <= LINE_CER, (d.text, best.text)
            pairs.append((d.text, best.text))
            assert best.kind == d.kind, (d.text, best.kind)
            assert best.box[1] < d.y < best.box[3]
            assert 0.8 <= best.confidence <= 1.0
    assert _total_cer(pairs) <= MAX_CER, pairs


def test_a_shot_without_text_has_no_lines(read: dict[str, Path]) -> None:
    _, text = _records(read["vertical"])
    assert text.shots[2] == []
    assert text.frames_skipped >= 1  # the coarse scan found nothing there: it was not read


def test_distinct_lines_once_each_in_order_of_first_appearance(
    text_videos: dict[str, TextVideo], read: dict[str, Path]
) -> None:
    video = text_videos["vertical"]
    _, text = _records(read["vertical"])
    firsts: dict[str, float] = {}
    for d in video.drawn:
        firsts.setdefault(d.text, d.start_s)
    assert len(text.lines) == len(firsts), [x.text for x in text.lines]
    for got in text.lines:
        want = min(firsts, key=lambda s: cer(s, got.text))
        assert cer(want, got.text) <= LINE_CER, (want, got.text)
        shot_end = max(d.end_s for d in video.drawn if d.text == want)
        assert firsts[want] <= got.time_s < shot_end  # seen while it was on screen, first time read
    assert [t.time_s for t in text.lines] == sorted(t.time_s for t in text.lines)


@pytest.mark.parametrize("name", list(TEXT_VIDEOS))
def test_subtitle_track_cues_match_the_drawn_times(
    name: str, text_videos: dict[str, TextVideo], read: dict[str, Path]
) -> None:
    video = text_videos[name]
    _, text = _records(read[name])
    subtitles = [d for d in video.drawn if d.kind == "subtitle"]
    assert len(text.cues) == len(subtitles), [(c.start_s, c.end_s, c.text) for c in text.cues]
    for d, cue in zip(subtitles, text.cues, strict=True):
        assert cer(d.text, cue.text) <= LINE_CER, (d.text, cue.text)
        assert abs(cue.start_s - d.start_s) <= SAMPLE_S + 0.05, (d, cue)
        assert abs(cue.end_s - d.end_s) <= SAMPLE_S + 0.05, (d, cue)
    assert _total_cer([(d.text, c.text) for d, c in zip(subtitles, text.cues, strict=True)]) <= MAX_CER
    srt = (read[name] / SRT_FILE).read_text(encoding="utf-8")
    assert text.srt == SRT_FILE
    assert srt.count("-->") == len(subtitles)


def test_the_shots_pass_keeps_the_subtitle_band_twice_a_second(
    text_videos: dict[str, TextVideo], read: dict[str, Path]
) -> None:
    video, video_dir = text_videos["vertical"], read["vertical"]
    fetched = load_artifact(video_dir, FetchRecord)
    assert fetched is not None
    bands = load_bands(video_dir / BANDS_FILE, fetched.sha256)
    assert bands is not None
    w, h = video.size
    assert bands.frame_size == (w, h)
    assert len(bands) == round(video.duration_s / SAMPLE_S)
    for k, t in enumerate(bands.times_s):  # the first frame decoded at or after each half second
        assert k * SAMPLE_S <= t < k * SAMPLE_S + 4 / video.fps, (k, t)
    first = next(iter(bands))
    assert first.band.shape == (round(h * BAND_BOTTOM) - round(h * BAND_TOP), w)
    assert bands.end_s == pytest.approx(video.duration_s, abs=1 / video.fps)
    assert load_bands(video_dir / BANDS_FILE, "0" * 64) is None  # another video's band is not used


def test_without_the_band_the_ocr_step_decodes_the_video_and_reads_the_same_cues(
    text_videos: dict[str, TextVideo], read: dict[str, Path], settings: Settings
) -> None:
    ws, (vid,) = make_task(settings, [text_videos["horizontal"].path], task_id="ocr_own_decode")
    ctx = StepContext(settings=settings)
    shots_handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    (ws.video_dir(vid) / BANDS_FILE).unlink()
    ocr_handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    _, own = _records(ws.video_dir(vid))
    _, shared = _records(read["horizontal"])
    assert own.cues and [c.text for c in own.cues] == [c.text for c in shared.cues]
    assert [(c.start_s, c.end_s) for c in own.cues] == [(c.start_s, c.end_s) for c in shared.cues]


def test_options_turn_the_subtitle_track_or_all_reading_off(
    text_videos: dict[str, TextVideo], settings: Settings
) -> None:
    ctx = StepContext(settings=settings)
    ref = {"task_id": "ocr_keyframes", "video_id": "v1"}
    ws, _ = make_task(
        settings, [text_videos["horizontal"].path], {"ocr": {"subtitles": False}}, task_id=ref["task_id"]
    )
    shots_handler(ref, ctx)
    ocr_handler(ref, ctx)
    _, text = _records(ws.video_dir("v1"))
    assert text.shots and any(text.shots)  # the keyframes were read
    assert (text.cues, text.srt) == ([], None) and not (ws.video_dir("v1") / SRT_FILE).exists()
    assert not (ws.video_dir("v1") / BANDS_FILE).exists()  # the Shots pass did not sample it either
    # the same folder, asked again with no on-screen text: nothing from the run before is left
    ws, _ = make_task(
        settings, [text_videos["horizontal"].path], {"ocr": {"enabled": False}}, task_id=ref["task_id"]
    )
    ocr_handler(ref, ctx)
    assert load_artifact(ws.video_dir("v1"), ScreenTextRecord) is None


def test_a_rerun_reuses_the_record(read: dict[str, Path], tmp_path: Path) -> None:
    video_dir = read["horizontal"]
    before = (video_dir / "screen_text.json").stat().st_mtime_ns
    task_id = video_dir.parent.parent.name
    settings = Settings(workspace=video_dir.parents[3], allow_local_paths=True)
    ocr_handler({"task_id": task_id, "video_id": video_dir.name}, StepContext(settings=settings))
    assert (video_dir / "screen_text.json").stat().st_mtime_ns == before


def test_without_shots_the_step_says_which_step_did_not_finish(settings: Settings, tmp_path: Path) -> None:
    clip = tmp_path / "x.mp4"
    clip.write_bytes(b"\0" * 16)
    ws, (vid,) = make_task(settings, [clip])
    with pytest.raises(InvalidStepInput, match=r"shots\.json"):
        ocr_handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
