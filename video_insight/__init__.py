"""video-insight: analyse short videos in bulk — the command-line front door."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
