"""Typed errors shared by every step, the flow, the progress card and the reports.

Each leaf carries a stable string ``code``; codes are never renamed::

    VideoInsightError
    ├── TransientError              retried (inside the step, then by the flow's Retry)
    │   ├── NetworkError            Transient.Network
    │   └── RateLimited             Transient.RateLimited   (HTTP 429, Feishu 99991400 / 230020)
    └── PermanentError              caught by the Processor's Catch, recorded, batch goes on
        ├── InvalidStepInput        InvalidStepInput
        ├── InvalidRequest          InvalidRequest
        ├── UnsupportedLink         UnsupportedLink
        ├── BlockedAddress          BlockedAddress
        ├── SourceNotFound          SourceNotFound
        ├── DownloadFailed          DownloadFailed
        ├── TooLarge                TooLarge
        ├── TooLong                 TooLong
        ├── EmptyFile               EmptyFile
        ├── NotAVideo               NotAVideo
        ├── CorruptVideo            CorruptVideo
        ├── NoVideoStream           NoVideoStream
        ├── NoAudioTrack            NoAudioTrack
        ├── ModelUnavailable        ModelUnavailable
        ├── FeishuError             FeishuError      (a Feishu API refused the call: its code and msg)
        ├── NoVideoLink             NoVideoLink      (a Bitable row without a usable link or attachment)
        ├── OutputTooLarge          OutputTooLarge
        ├── InvalidStepOutput       InvalidStepOutput
        ├── DuplicateVideo          DuplicateVideo   (recorded by Publish, not raised)
        └── Incomplete              Incomplete       (recorded by Publish, not raised)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BlockedAddress",
    "CorruptVideo",
    "DownloadFailed",
    "DuplicateVideo",
    "EmptyFile",
    "FeishuError",
    "Incomplete",
    "InvalidRequest",
    "InvalidStepInput",
    "InvalidStepOutput",
    "ModelUnavailable",
    "NetworkError",
    "NoAudioTrack",
    "NoVideoLink",
    "NoVideoStream",
    "NotAVideo",
    "OutputTooLarge",
    "PermanentError",
    "RateLimited",
    "SourceNotFound",
    "TooLarge",
    "TooLong",
    "TransientError",
    "UnsupportedLink",
    "VideoInsightError",
    "error_from_code",
]


class VideoInsightError(Exception):
    """Base of every error this project raises on purpose."""

    code = "VideoInsight.Error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, str]:
        """The ``{code, message}`` pair recorded in results and shown to users."""
        return {"code": self.code, "message": self.message}


class TransientError(VideoInsightError):
    """A fault that may go away on its own: retry with backoff."""

    code = "Transient.Error"


class PermanentError(VideoInsightError):
    """A fault that a retry cannot fix: record it and move on."""

    code = "Permanent.Error"


class NetworkError(TransientError):
    """A connection failed, timed out, or the server answered 5xx."""

    code = "Transient.Network"


class RateLimited(TransientError):
    """A service asked us to slow down (HTTP 429, Feishu 99991400)."""

    code = "Transient.RateLimited"


class InvalidStepInput(PermanentError):
    """A step received an event that does not match its input model."""

    code = "InvalidStepInput"


class InvalidRequest(PermanentError):
    """The batch request is malformed or violates the published schema."""

    code = "InvalidRequest"


class UnsupportedLink(PermanentError):
    """The link is neither a direct media URL nor a page yt-dlp can resolve."""

    code = "UnsupportedLink"


class BlockedAddress(PermanentError):
    """The URL resolves to a private, loopback, link-local or metadata address."""

    code = "BlockedAddress"


class SourceNotFound(PermanentError):
    """The file or URL does not exist (404, 410, missing path)."""

    code = "SourceNotFound"


class DownloadFailed(PermanentError):
    """The download cannot finish for a reason a retry cannot fix (4xx, out of time, too slow)."""

    code = "DownloadFailed"


class TooLarge(PermanentError):
    """The video is larger than the configured size cap."""

    code = "TooLarge"


class TooLong(PermanentError):
    """The video is longer than the configured duration cap."""

    code = "TooLong"


class EmptyFile(PermanentError):
    """The file has zero bytes."""

    code = "EmptyFile"


class NotAVideo(PermanentError):
    """The content is not a video (an HTML page, an image, text)."""

    code = "NotAVideo"


class CorruptVideo(PermanentError):
    """The container or stream cannot be decoded (truncated, damaged)."""

    code = "CorruptVideo"


class NoVideoStream(PermanentError):
    """The file holds audio only."""

    code = "NoVideoStream"


class NoAudioTrack(PermanentError):
    """Audio was required but the video has none."""

    code = "NoAudioTrack"


class ModelUnavailable(PermanentError):
    """A speech or vision model is not available locally."""

    code = "ModelUnavailable"


class FeishuError(PermanentError):
    """A Feishu open-platform call was refused for a reason a retry cannot fix (``feishu_code``)."""

    code = "FeishuError"

    def __init__(self, message: str, feishu_code: int | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.feishu_code = feishu_code


class NoVideoLink(PermanentError):
    """A row of a source table has no usable video link or attachment."""

    code = "NoVideoLink"


class OutputTooLarge(PermanentError):
    """A step's output exceeds the 64 KiB state limit."""

    code = "OutputTooLarge"


class InvalidStepOutput(PermanentError):
    """A step's output cannot be sent as JSON (NaN or Infinity in it)."""

    code = "InvalidStepOutput"


class DuplicateVideo(PermanentError):
    """The same link appears earlier in the batch; it is analysed once."""

    code = "DuplicateVideo"


class Incomplete(PermanentError):
    """The flow ended before the video was analysed or its failure recorded."""

    code = "Incomplete"


def _leaves(cls: type[VideoInsightError]) -> list[type[VideoInsightError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_leaves(sub))
    return out


def error_from_code(code: str, message: str) -> VideoInsightError:
    """Rebuild a typed error from its recorded code (unknown codes become PermanentError)."""
    for cls in _leaves(VideoInsightError):
        if cls.code == code:
            return cls(message)
    err = PermanentError(message)
    err.code = code
    return err
