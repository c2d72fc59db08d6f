"""The artifacts each step leaves in ``videos/<video_id>/`` and the per-video result they add up to.

These models are the contract between steps, Publish and the reports, and the schema of
``results.json`` (field names are stable: scripts and reports read them). Paths inside a video's
artifacts are relative to that video's folder; paths in a :class:`VideoResult` are relative to the
output folder. Times are seconds (float, millisecond precision).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from ._workspace import atomic_write_json, read_json

__all__ = [
    "ARTIFACT_FILES",
    "AiStatus",
    "AiUsage",
    "AnalysisRecord",
    "ErrorInfo",
    "FetchRecord",
    "Metrics",
    "ProbeRecord",
    "ScreenText",
    "ScreenTextLine",
    "ScreenTextRecord",
    "Screenshot",
    "Segment",
    "Shot",
    "ShotScan",
    "ShotsRecord",
    "TranscriptRecord",
    "VideoResult",
    "Word",
    "load_artifact",
    "save_artifact",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorInfo(_Model):
    code: str
    message: str
    step: str | None = None


class FetchRecord(_Model):
    """``fetch.json``: where the video came from and what was stored."""

    source: str  # the URL or local path as given
    path: str  # stored file, relative to the video folder (e.g. "source.mp4")
    sha256: str
    bytes: int
    content_type: str | None = None
    resolved_url: str | None = None  # final URL after redirects / yt-dlp


class ProbeRecord(_Model):
    """``probe.json``: the container's facts and the extracted audio."""

    duration_s: float
    width: int
    height: int
    fps: float
    codec: str
    rotation: int = 0
    has_audio: bool
    audio_path: str | None = None  # WAV, relative to the video folder; None without audio
    audio_sample_rate: int | None = None
    audio_channels: int | None = None


class Word(_Model):
    """One recognised word (a character or a few for Chinese) with its time."""

    start_s: float
    end_s: float
    text: str


class Segment(_Model):
    start_s: float
    end_s: float
    text: str
    words: list[Word] = []  # in time order, inside the segment; empty when the engine gave none


class TranscriptRecord(_Model):
    """``transcript.json``: speech with timestamps (absent when the video has no audio).

    An empty transcript (no segments) says why in ``empty_reason``: ``no_speech`` (voice activity
    found none, or only music or noise) or ``unsupported_language`` (``language`` was detected
    but the engine cannot transcribe it). Chinese text is in simplified characters.
    """

    engine: str  # "funasr" | "whisper"
    model: str
    language: str | None
    language_probability: float | None = None  # of ``language``, when it was detected
    text: str
    segments: list[Segment]
    speech_s: float
    srt: str  # relative path of the .srt file
    vtt: str  # relative path of the .vtt file
    note: str | None = None  # e.g. "用 whisper tiny.en 转写：仅英文"
    empty_reason: Literal["no_speech", "unsupported_language"] | None = None


class ScreenTextLine(_Model):
    """One line of text read on a picture (a keyframe or a screenshot)."""

    text: str
    box: list[float]  # [left, top, right, bottom] as fractions of the picture's width and height
    confidence: float  # the recogniser's score, 0..1
    kind: Literal["subtitle", "overlay"]  # a caption line in the lower band, or a headline (花字)


class ScreenText(_Model):
    """A distinct line of on-screen text, where it first appeared."""

    time_s: float
    text: str
    kind: Literal["subtitle", "overlay"]


class Shot(_Model):
    index: int  # 1-based
    start_s: float
    end_s: float
    keyframe: str  # relative path of the JPEG
    keyframe_s: float | None = None  # where in the shot the keyframe was taken
    on_screen_text: list[ScreenTextLine] = []  # read on the keyframe (results.json; OCR step)


class Screenshot(_Model):
    time_s: float
    path: str
    on_screen_text: list[ScreenTextLine] = []  # read on the screenshot (results.json; OCR step)


class ShotScan(_Model):
    """How the Shots step measured the video's frames."""

    path: str  # "full": every frame; "coarse": only where a cut can be (same cuts)
    reason: str  # why that path ran
    frames_decoded: int
    frame_count: int


class ShotsRecord(_Model):
    """``shots.json``: shots with keyframes, extra screenshots and the contact sheet."""

    detector: str
    threshold: float | None = None
    shots: list[Shot]
    screenshots: list[Screenshot] = []
    contact_sheet: str | None = None
    dropped_duplicates: int = 0
    scan: ShotScan | None = None


class ScreenTextRecord(_Model):
    """``screen_text.json``: the text on the pictures (the OCR step).

    ``shots`` and ``screenshots`` hold the lines read on each keyframe and screenshot, in the
    order of ``shots.json``; ``lines`` the video's distinct lines in order of first appearance
    (keyframes, screenshots and the subtitle track together); ``cues`` the burned-in subtitles
    read from the picture's lower band over the whole video, written as ``srt`` too.
    A picture without text has an empty list: nothing is invented.
    """

    engine: str  # "rapidocr"
    model: str  # e.g. "PP-OCRv4"
    shots: list[list[ScreenTextLine]]
    screenshots: list[list[ScreenTextLine]] = []
    lines: list[ScreenText] = []
    cues: list[Segment] = []
    srt: str | None = None  # relative path of subtitles_ocr.srt; None when the track was not read
    frames_read: int = 0  # pictures the recogniser read (keyframes, screenshots, track samples)
    frames_skipped: int = 0  # pictures the coarse scans showed to hold no new text
    seconds: float | None = None  # how long reading took


class Metrics(_Model):
    duration_s: float | None = None
    shot_count: int | None = None
    avg_shot_s: float | None = None
    median_shot_s: float | None = None
    cuts_per_min: float | None = None
    first_shot_s: float | None = None
    speech_ratio: float | None = None
    speech_rate: float | None = None
    speech_rate_unit: str | None = None  # "chars/min" | "words/min"
    hook_text: str | None = None
    hook_overlay_text: str | None = None  # overlay text (花字) on screen in the first 3 s: the visual hook
    impressions: float | None = None
    clicks: float | None = None
    spend: float | None = None
    conversions: float | None = None
    ctr: float | None = None
    cvr: float | None = None
    cpc: float | None = None
    cpa: float | None = None


class AiUsage(_Model):
    """What calls to a language model consumed: for one video, the batch summary, or a whole task."""

    model: str  # several models joined with ", " in a total
    calls: int = 0  # requests answered (a repair request counts; retries of a failed request do not)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # estimated from the price per 1,000 tokens; None when no price is known
    currency: str = "CNY"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def plus(self, other: AiUsage | None) -> AiUsage:
        """The sum of two usages (an unknown cost on either side makes the sum's cost unknown)."""
        if other is None:
            return self
        models = list(dict.fromkeys([*self.model.split(", "), *other.model.split(", ")]))
        known = self.cost is not None and other.cost is not None and self.currency == other.currency
        return AiUsage(
            model=", ".join(m for m in models if m),
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost=round((self.cost or 0.0) + (other.cost or 0.0), 6) if known else None,
            currency=self.currency,
        )


class AiStatus(_Model):
    """How an AI analysis went: ``ok``, ``not_configured`` (no model endpoint), or ``failed`` (why)."""

    state: Literal["ok", "not_configured", "failed", "skipped"]
    message: str | None = None  # why it is not ok, for users (Chinese first)
    notes: list[str] = []  # what was corrected in the answer: an option mapped, a text cut, a field missing
    prompt: str | None = None  # the prompt file the request used, e.g. "video.v1"


class AnalysisRecord(_Model):
    """``analysis.json``: metrics, and the fields of the analyzers (the AI analysis) with their usage."""

    metrics: Metrics
    ai: dict[str, Any] | None = None
    ai_usage: AiUsage | None = None
    ai_status: AiStatus | None = None


class VideoResult(_Model):
    """One entry of ``results.json``."""

    video_id: str
    name: str
    source: str
    status: Literal["ok", "failed"]
    error: ErrorInfo | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool | None = None
    sha256: str | None = None
    shots: list[Shot] = []
    screenshots: list[Screenshot] = []
    contact_sheet: str | None = None
    transcript: TranscriptRecord | None = None
    screen_text: list[ScreenText] = []  # distinct on-screen lines in order of first appearance (OCR)
    subtitles_ocr: str | None = None  # the burned-in subtitles read from the picture, as SRT
    metrics: Metrics | None = None
    analysis: dict[str, Any] | None = None  # field → value; every field says 未配置 / 分析失败 when not ok
    analysis_usage: AiUsage | None = None
    analysis_status: AiStatus | None = None
    performance: dict[str, float] | None = None


ARTIFACT_FILES: dict[type[BaseModel], str] = {
    FetchRecord: "fetch.json",
    ProbeRecord: "probe.json",
    TranscriptRecord: "transcript.json",
    ShotsRecord: "shots.json",
    AnalysisRecord: "analysis.json",
    ScreenTextRecord: "screen_text.json",
    ErrorInfo: "failure.json",
}

M = TypeVar("M", bound=BaseModel)


def save_artifact(video_dir: Path, record: BaseModel) -> None:
    """Write ``record`` to its file in ``video_dir`` atomically."""
    atomic_write_json(video_dir / ARTIFACT_FILES[type(record)], record.model_dump(mode="json"))


def load_artifact(video_dir: Path, model: type[M]) -> M | None:
    """Read an artifact, or None when the step did not write it (or wrote something else)."""
    path = video_dir / ARTIFACT_FILES[model]
    if not path.is_file():
        return None
    try:
        return model.model_validate(read_json(path))
    except (ValueError, OSError):
        return None
