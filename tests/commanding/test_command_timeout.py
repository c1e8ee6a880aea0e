"""`CommandTimeout.delivered`: whether the controller got the command."""

from __future__ import annotations

import pickle

import pytest

from mountcomm.exceptions import CommandError, CommandTimeout


def test_delivered_is_kept_and_checked() -> None:
    unknown = CommandTimeout("no ACK for Enable")
    assert unknown.delivered == "unknown"  # the safe default: no claim of delivery
    late = CommandTimeout("no DONE for Enable", delivered="yes")
    assert late.delivered == "yes"
    assert isinstance(late, TimeoutError)
    assert isinstance(late, CommandError)
    with pytest.raises(ValueError, match="delivered"):
        CommandTimeout("x", delivered="no")


def test_pickling_keeps_message_and_delivered() -> None:
    error = CommandTimeout("no DONE for Enable", delivered="yes")
    error.add_note("a note")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is CommandTimeout
    assert str(copy) == "no DONE for Enable"
    assert copy.delivered == "yes"
    assert copy.__notes__ == ["a note"]
