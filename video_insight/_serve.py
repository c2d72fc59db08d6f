"""``video-insight serve-step``: the process a Function Compute custom container runs.

One container image serves every step; which step an instance runs comes from ``--step`` (set in
s.yaml's ``customContainerConfig.command``) or, failing that, the function name FC exports as
``FC_FUNCTION_NAME`` (``video-insight-fetch`` → ``fetch``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import steps

from ._http import HttpLimits, HttpServer
from ._step_app import step_app

__all__ = ["pick_step", "serve_step"]

log = steps.get_logger(__name__)


def pick_step(step: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The step to serve: ``step`` if given, else ``FC_FUNCTION_NAME``; raises ``StepNotFound``."""
    env = os.environ if environ is None else environ
    name = step or env.get("FC_FUNCTION_NAME", "")
    if not name:
        raise steps.StepNotFound(
            "no step to serve: pass --step NAME or set FC_FUNCTION_NAME "
            f"(one of {', '.join(steps.serve_steps())})"
        )
    return name


def serve_step(
    settings: steps.Settings, step: str | None, host: str, port: int, limits: HttpLimits | None = None
) -> None:
    """Serve ``step`` on ``host:port`` until SIGTERM/SIGINT (FC stops instances with SIGTERM)."""
    fmt = "json" if settings.log_format == "auto" else settings.log_format
    steps.configure_logging(fmt, settings.log_level)
    fc = steps.FCStep(pick_step(step), settings)
    server = HttpServer(step_app(fc), host, port, limits)
    log.info("fc.listening", step=fc.step, host=host, port=server.port, workspace=str(settings.workspace))
    server.run()
    log.info("fc.stopped", step=fc.step)
