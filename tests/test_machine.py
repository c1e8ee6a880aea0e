"""`StateMachine` and `transition`: the driver every life-cycle table shares."""

from __future__ import annotations

import enum

import pytest

from mountcomm._machine import StateMachine, transition


class Light(enum.Enum):
    OFF = "off"
    ON = "on"


class Press(enum.Enum):
    SWITCH = "switch"
    BREAK = "break"


TABLE = {Light.OFF: {Press.SWITCH: Light.ON}, Light.ON: {Press.SWITCH: Light.OFF}}


class Lamp(StateMachine[Light, Press]):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(Light.OFF)

    def next_state(self, state: Light, event: Press) -> Light:
        return transition(TABLE, state, event, "lamp")


def test_handle_is_the_only_writer_and_follows_the_table() -> None:
    lamp = Lamp()
    assert lamp.handle(Press.SWITCH) is Light.ON is lamp.state
    assert lamp.handle(Press.SWITCH) is Light.OFF is lamp.state
    assert repr(lamp) == "Lamp(OFF)"


def test_an_event_the_table_does_not_list_is_a_bug_named_by_its_owner() -> None:
    lamp = Lamp()
    with pytest.raises(RuntimeError, match="lamp: event BREAK is not allowed in state OFF"):
        lamp.handle(Press.BREAK)
    assert lamp.state is Light.OFF  # unchanged


def test_the_base_needs_a_table() -> None:
    with pytest.raises(NotImplementedError):
        StateMachine[Light, Press](Light.OFF).handle(Press.SWITCH)
