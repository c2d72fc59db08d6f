"""The one reading of a state's transitions that the validator, the compiler and the graph share."""

from __future__ import annotations

from typing import Any

import pytest

from flows._transitions import Transition, transitions


def test_every_way_out_of_a_choice_in_spec_order() -> None:
    state = {
        "Type": "Choice",
        "Name": "C",
        "Branches": [{"Condition": "$Input.n > 1", "Next": "Big"}, {"Next": "NoCondition"}],
        "Default": "Small",
    }
    assert transitions(state) == [
        Transition("Big", "choice", "$Input.n > 1"),
        Transition("NoCondition", "choice", ""),
        Transition("Small", "default", "default"),
    ]


def test_next_and_catch_with_their_errors() -> None:
    state = {
        "Type": "Task",
        "Name": "T",
        "Next": "After",
        "Catch": [
            {"Errors": ["FnF.ALL", "Other"], "Next": "Failed"},
            {"Errors": "not a list", "Next": "Odd"},
            {"Next": "NoErrors"},
        ],
    }
    assert transitions(state) == [
        Transition("After", "next"),
        Transition("Failed", "catch", "FnF.ALL, Other"),
        Transition("Odd", "catch", ""),
        Transition("NoErrors", "catch", ""),
    ]


@pytest.mark.parametrize(
    "state",
    [
        {"Type": "Task", "Next": 3},
        {"Type": "Task", "Branches": [{"Next": "X"}], "Default": "Y"},  # only a Choice has those
        {"Type": "Choice", "Branches": "nope", "Default": 4},
        {"Type": "Choice", "Branches": [None, {"Condition": "x"}]},
        {"Type": "Task", "Catch": [None, {"Errors": ["A"]}, {"Next": 5}]},
        {"Type": "Task", "Catch": {"Next": "X"}},
    ],
)
def test_malformed_entries_lead_nowhere(state: dict[str, Any]) -> None:
    assert transitions(state) == []
