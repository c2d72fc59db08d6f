"""Media access for the steps: probing, audio extraction and frames, all through PyAV."""

from __future__ import annotations

from .audio import WavInfo, extract_audio, is_cut_off, read_pcm, read_wav_info, video_end_s
from .probe import MediaInfo, looks_like_media, map_av_errors, open_input, probe

__all__ = [
    "MediaInfo",
    "WavInfo",
    "extract_audio",
    "is_cut_off",
    "looks_like_media",
    "map_av_errors",
    "open_input",
    "probe",
    "read_pcm",
    "read_wav_info",
    "video_end_s",
]
