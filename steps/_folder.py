"""Typed access to one video's artifacts: what analyzers (and later steps) read instead of file names."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from ._artifacts import (
    AnalysisRecord,
    ErrorInfo,
    FetchRecord,
    ProbeRecord,
    Screenshot,
    ScreenTextRecord,
    Shot,
    ShotsRecord,
    TranscriptRecord,
    load_artifact,
    save_artifact,
)
from ._workspace import TaskWorkspace, inside

__all__ = ["VideoFolder"]

M = TypeVar("M", bound=BaseModel)


class VideoFolder:
    """One video's folder in its task's workspace (``videos/<video_id>/``).

    Each accessor reads when called: a record is None (a list empty) until the step that writes it
    has run, or when what it wrote does not validate. Paths returned are absolute and inside the
    folder.
    """

    def __init__(self, path: Path, video_id: str | None = None) -> None:
        self.path = path
        self.video_id = video_id or path.name

    @classmethod
    def of(cls, ws: TaskWorkspace, video_id: str) -> VideoFolder:
        """The folder of ``video_id`` in ``ws``."""
        return cls(ws.video_dir(video_id), video_id)

    def __repr__(self) -> str:
        return f"VideoFolder({str(self.path)!r})"

    def read(self, model: type[M]) -> M | None:
        """The artifact of type ``model`` (e.g. ``ProbeRecord``), or None."""
        return load_artifact(self.path, model)

    def save(self, record: BaseModel) -> None:
        """Write ``record`` to its artifact file, atomically."""
        save_artifact(self.path, record)

    def file(self, rel: str) -> Path:
        """A path named inside an artifact, resolved; ``ValueError`` if it leaves the folder."""
        return inside(self.path, rel)

    def fetch(self) -> FetchRecord | None:
        return self.read(FetchRecord)

    def probe(self) -> ProbeRecord | None:
        return self.read(ProbeRecord)

    def transcript(self) -> TranscriptRecord | None:
        return self.read(TranscriptRecord)

    def shots(self) -> ShotsRecord | None:
        return self.read(ShotsRecord)

    def screen_text(self) -> ScreenTextRecord | None:
        """What the OCR step read on the pictures (None until it ran, or when it failed)."""
        return self.read(ScreenTextRecord)

    def analysis(self) -> AnalysisRecord | None:
        return self.read(AnalysisRecord)

    def failure(self) -> ErrorInfo | None:
        return self.read(ErrorInfo)

    def source(self) -> Path | None:
        """The stored video file."""
        fetched = self.fetch()
        return self.file(fetched.path) if fetched else None

    def audio(self) -> Path | None:
        """The extracted audio (WAV); None without an audio track."""
        probe = self.probe()
        return self.file(probe.audio_path) if probe and probe.audio_path else None

    def keyframes(self) -> list[tuple[Shot, Path]]:
        """Each shot with its keyframe image, in shot order."""
        shots = self.shots()
        return [(shot, self.file(shot.keyframe)) for shot in shots.shots] if shots else []

    def screenshots(self) -> list[tuple[Screenshot, Path]]:
        """The extra screenshots the request asked for, with their images."""
        shots = self.shots()
        return [(s, self.file(s.path)) for s in shots.screenshots] if shots else []

    def contact_sheet(self) -> Path | None:
        """The contact sheet image (a grid of frames over the whole video)."""
        shots = self.shots()
        return self.file(shots.contact_sheet) if shots and shots.contact_sheet else None
