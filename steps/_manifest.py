"""The task manifest Prepare writes: validated options with defaults, and the videos with stable ids."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ._ai.fields import FieldSpec, default_fields
from ._publishers import PUBLISHERS, default_outputs
from ._workspace import TaskWorkspace, read_json
from .errors import InvalidStepInput

__all__ = [
    "AnalysisOptions",
    "AsrOptions",
    "Attachment",
    "AudioOptions",
    "FeishuFile",
    "LimitOptions",
    "Manifest",
    "OcrOptions",
    "Options",
    "OutputFormat",
    "ShotOptions",
    "VideoEntry",
    "load_manifest",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AsrOptions(_Model):
    engine: Literal["auto", "funasr", "whisper", "none"] = "auto"
    model: str | None = None  # model id or local directory; engine default when None
    language: str = "auto"


class ShotOptions(_Model):
    detector: Literal["hybrid", "adaptive", "content", "transnet"] = "hybrid"
    threshold: float | None = None  # detector default when None
    min_shot_s: float = 0.5
    screenshot_times_s: list[float] = Field(default_factory=list)


class OcrOptions(_Model):
    """On-screen text: on the keyframes and screenshots (``enabled``), and the subtitle track."""

    enabled: bool = True
    subtitles: bool = True


class AudioOptions(_Model):
    sample_rate: int = 16000
    channels: int = 1


class LimitOptions(_Model):
    max_video_mb: float = 500
    max_duration_s: float = 1800


def _unique_names(fields: list[FieldSpec]) -> list[FieldSpec]:
    names = [f.name for f in fields]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"analysis field names must be unique: {', '.join(twice)} listed twice")
    return fields


class AnalysisOptions(_Model):
    """The AI analysis: which fields the model fills in, and how many keyframes it sees."""

    fields: Annotated[list[FieldSpec], AfterValidator(_unique_names)] = Field(
        default_factory=default_fields, min_length=1, max_length=30
    )
    keyframes: int = Field(default=4, ge=0, le=12)  # besides the contact sheet


def _known_output(name: str) -> str:
    if name not in PUBLISHERS:
        raise ValueError(f"unknown output {name!r}: expected one of {', '.join(PUBLISHERS)}")
    return name


# An output's name: one of the publisher registry's (json, xlsx, html …).
OutputFormat = Annotated[str, AfterValidator(_known_output)]


class Options(_Model):
    asr: AsrOptions = Field(default_factory=AsrOptions)
    shots: ShotOptions = Field(default_factory=ShotOptions)
    ocr: OcrOptions = Field(default_factory=OcrOptions)
    audio: AudioOptions = Field(default_factory=AudioOptions)
    limits: LimitOptions = Field(default_factory=LimitOptions)
    analysis: AnalysisOptions = Field(default_factory=AnalysisOptions)
    max_concurrency: int = 4
    outputs: list[OutputFormat] = Field(default_factory=default_outputs)


class FeishuFile(_Model):
    """A video uploaded in a Feishu chat: its message and file key."""

    message_id: str
    file_key: str


class Attachment(_Model):
    """A video file attached to a Bitable row, downloaded through the drive media API."""

    file_token: str
    name: str
    size: int = 0
    table_id: str = ""  # the source table (the download's permission context)


class VideoEntry(_Model):
    video_id: str
    name: str
    url: str | None = None
    path: str | None = None  # absolute local path (CLI only)
    feishu_file: FeishuFile | None = None  # uploaded in a chat (the gateway)
    attachment: Attachment | None = None  # a file in a Bitable row
    performance: dict[str, float] | None = None
    duplicate_of: str | None = None  # video_id of the first entry with the same link
    rejected: str | None = None  # why the row cannot be analysed (a Bitable row without a usable link)

    @property
    def source(self) -> str:
        if self.feishu_file is not None:
            return f"feishu-file:{self.feishu_file.message_id}/{self.feishu_file.file_key}"
        if self.attachment is not None and not (self.url or self.path):
            return f"附件：{self.attachment.name}"
        return self.url or self.path or ""


class Manifest(_Model):
    task_id: str
    title: str | None = None
    requester: str | None = None  # the Feishu open_id of who asked: the Bitable output is theirs
    created_at: float
    options: Options
    videos: list[VideoEntry]

    def video(self, video_id: str) -> VideoEntry:
        """The entry of ``video_id``; ``InvalidStepInput`` when the task has no such video."""
        for entry in self.videos:
            if entry.video_id == video_id:
                return entry
        raise InvalidStepInput(f"video {video_id} is not in the manifest of task {self.task_id}")


def load_manifest(ws: TaskWorkspace) -> Manifest:
    """The manifest of the task in ``ws``; ``InvalidStepInput`` when Prepare has not written it."""
    if not ws.manifest.is_file():
        raise InvalidStepInput(f"task {ws.task_id} has no manifest (Prepare has not run)")
    return Manifest.model_validate(read_json(ws.manifest))
