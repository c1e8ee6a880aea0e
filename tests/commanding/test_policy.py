"""Tests of the pure commanding policies."""

from __future__ import annotations

import pytest

from mountcomm.commanding import policy
from mountcomm.exceptions import CommandRejected, CommandSuperseded


def test_done_timeout_adds_margin_to_ack_estimate() -> None:
    assert policy.done_timeout(0, 2.0) == 2.0
    assert policy.done_timeout(1500, 0.5) == pytest.approx(2.0)
    assert policy.done_timeout(-10, 1.0) == 1.0


@pytest.mark.parametrize(
    ("explanation", "superseded"),
    [
        ("Superseded", True),
        ("superseded by command 42", True),
        ("Command SUPERSEDED", True),
        ("Out of limits", False),
        ("", False),
    ],
)
def test_noack_exception_maps_superseded(explanation: str, superseded: bool) -> None:
    assert policy.is_superseded(explanation) is superseded
    error = policy.noack_exception(explanation)
    assert isinstance(error, CommandRejected)
    assert isinstance(error, CommandSuperseded) is superseded
    assert error.explanation == explanation
