"""The transitions of a state: the one reading of ``Next``, Choice branches, ``Default`` and ``Catch``.

The validator (reachability), the compiler (unknown targets) and the graph (edges) all ask this
module, so a new way to move between states is taught in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Transition", "transitions"]

Kind = Literal["next", "choice", "default", "catch"]


@dataclass(frozen=True)
class Transition:
    """A move from one state to ``target`` in the same scope; ``label`` is its condition or errors."""

    target: str
    kind: Kind
    label: str = ""


def transitions(state: Mapping[str, Any]) -> list[Transition]:
    """Every move a raw (parsed YAML) state can make, in spec order; malformed entries are skipped."""
    out: list[Transition] = []
    if isinstance(state.get("Next"), str):
        out.append(Transition(state["Next"], "next"))
    if state.get("Type") == "Choice":
        for branch in _mappings(state.get("Branches")):
            if isinstance(branch.get("Next"), str):
                out.append(Transition(branch["Next"], "choice", str(branch.get("Condition", ""))))
        if isinstance(state.get("Default"), str):
            out.append(Transition(state["Default"], "default", "default"))
    for rule in _mappings(state.get("Catch")):
        if isinstance(rule.get("Next"), str):
            errors = rule.get("Errors")
            label = ", ".join(map(str, errors)) if isinstance(errors, list) else ""
            out.append(Transition(rule["Next"], "catch", label))
    return out


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
