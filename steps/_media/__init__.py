"""Media access for the steps: probing, audio extraction and frames, all through PyAV."""

from __future__ import annotations

from .audio import WavInfo, extract_audio, is_cut_off, read_pcm, read_wav_info, video_end_s
from .frames import DecodedFrame, VideoStream, grab_frames, open_video
from .probe import MediaInfo, map_av_errors, open_input, probe

__all__ = [
    "DecodedFrame",
    "MediaInfo",
    "VideoStream",
    "WavInfo",
    "extract_audio",
    "grab_frames",
    "is_cut_off",
    "map_av_errors",
    "open_input",
    "open_video",
    "probe",
    "read_pcm",
    "read_wav_info",
    "video_end_s",
]
