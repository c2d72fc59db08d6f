"""Run a command with small tmpfs mounts, in a private user + mount namespace (no root, no trace).

A full or read-only disk is then real (``ENOSPC``, ``EROFS``) for that command only: the mounts
vanish with it and nobody else on the machine sees them. Tests skip where ``unshare`` is refused.
"""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

__all__ = ["needs_namespaces", "run_with_tmpfs"]


@functools.cache
def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(
    not _namespaces_work(),
    reason="needs unprivileged user namespaces (unshare -Urm) to mount a small tmpfs",
)


def run_with_tmpfs(
    mounts: Mapping[Path, str],
    script: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the shell ``script`` with a tmpfs mounted on each folder of ``mounts`` (folder → options).

    Options are tmpfs mount options such as ``size=64k`` or ``ro,size=64k``; folders are created.
    """
    setup: Sequence[str] = []
    for folder, options in mounts.items():
        folder.mkdir(parents=True, exist_ok=True)
        setup = [*setup, f"mount -t tmpfs -o {shlex.quote(options)} tmpfs {shlex.quote(str(folder))}"]
    full = " && ".join([*setup, f"( {script} )"])
    return subprocess.run(
        ["unshare", "-Urm", "sh", "-c", full],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        timeout=timeout,
    )
