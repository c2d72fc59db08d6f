"""Each package lists its public names once, sorted, and every listed name exists."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "flows",
    "steps",
    "steps.errors",
    "steps._feishu",
    "steps._bitable",
    "bot_gateway",
    "video_insight",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_unique_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), n))
    assert len(set(exported)) == len(exported)
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing


def test_every_error_code_is_unique_and_stable() -> None:
    from steps import errors

    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    # codes are part of the public contract (results.json, Bitable, the flow's Retry): never renamed
    for code in ("NotAVideo", "SourceNotFound", "CorruptVideo", "Transient.Network", "DuplicateVideo"):
        assert code in codes
    assert errors.error_from_code("TooLarge", "x").__class__ is errors.TooLarge
