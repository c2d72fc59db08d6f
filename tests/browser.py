"""Headless Debian Chromium for tests that load a page the way a person would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["CHROMIUM", "chromium"]

CHROMIUM = shutil.which("chromium")

# No background traffic: the machine's closed network refuses it, many connections at a time.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a fresh profile folder; raises if it fails or hangs."""
    assert CHROMIUM is not None, "chromium is not installed (scripts/bootstrap --test installs it)"
    cmd = [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True)
