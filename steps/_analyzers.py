"""The built-in analyzers: what Analyze runs unless the step context names others."""

from __future__ import annotations

from ._ai.analyzer import AiAnalyzer
from ._analysis import AnalyzerRegistry
from ._plugins import Registry

__all__ = ["ANALYZERS"]

ANALYZERS: AnalyzerRegistry = Registry("analyzer", [AiAnalyzer()])
