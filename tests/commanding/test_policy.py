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


def test_repeated_problems_are_logged_sparingly() -> None:
    logged = [n for n in range(1, 5001) if policy.should_log_occurrence(n)]
    assert logged == [*range(1, 11), 1000, 2000, 3000, 4000, 5000]
    assert policy.should_log_occurrence(3, first=2, every=3)
    assert not policy.should_log_occurrence(4, first=2, every=3)


def test_connect_timeout_message_names_what_did_not_answer() -> None:
    message = policy.connect_timeout_message(
        "MountClient(CSC)", "mount", 50005, None, 50006, 10.0, command_connected=False
    )
    assert message == "MountClient(CSC): no connection to mount:50005 within connect_timeout=10.0 s"
    message = policy.connect_timeout_message(
        "MountClient(EUI)", "h", 0, "mount.eui.command", 40006, 2, command_connected=False
    )
    assert "no connection to h:? (service 'mount.eui.command')" in message
    message = policy.connect_timeout_message(
        "MountClient(CSC)", "mount", 50005, None, 50006, 10.0, command_connected=True
    )
    assert message == (
        "MountClient(CSC): connected to mount:50005, but the controller did not "
        "connect back to reply port 50006 within connect_timeout=10.0 s"
    )
