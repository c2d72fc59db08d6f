"""Text from users made safe to show: control characters escaped, not interpreted.

A video name like ``"clip\\x1b[2J"`` must not clear the terminal, and ``"\\u202e"`` must not reverse the
rest of a line: every character that is not printable (control, format, separators other than the
space, lone surrogates) is written as its Python escape, so what was sent stays visible.
"""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str) -> str:
    """``text`` with each non-printable character written as an escape (``\\x1b``, ``\\n``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
