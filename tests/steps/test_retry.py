"""What the retry loops share: the pause a server asks for."""

from __future__ import annotations

import pytest

from steps._retry import retry_after_s


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, 0.0),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "soon"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "3"}, 0.25),  # OpenAI-style milliseconds win
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
    ],
)
def test_the_pause_a_server_asks_for(headers: dict[str, str], seconds: float) -> None:
    assert retry_after_s(headers) == seconds
