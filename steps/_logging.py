"""Structured logging, configured once per process (JSON when stderr is not a TTY)."""

from __future__ import annotations

import logging
import sys

import structlog

from ._settings import Secret

__all__ = ["configure_logging", "get_logger"]

_configured = False


def _mask_secrets(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """Replace every :class:`Secret` field by ``***``: a JSON renderer would write a str's value."""
    for key, value in event.items():
        if isinstance(value, Secret):
            event[key] = str(value)
    return event


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing (test runners and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """Configure structlog; ``fmt`` is ``json``, ``console`` or ``auto`` (JSON unless a TTY)."""
    global _configured
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _mask_secrets,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger bound to ``logger_name=name``; configures defaults on first use."""
    if not _configured:
        configure_logging()
    return structlog.get_logger(logger_name=name)  # type: ignore[no-any-return]
