"""The client connection's state machine and the pair's decisions, pair by pair (pure)."""

from __future__ import annotations

import itertools

import pytest

from mountcomm.net import client_state
from mountcomm.net.client_state import (
    TRANSITIONS,
    ConnectorEvent,
    ConnectorMachine,
    ConnectorState,
    check_transition,
    next_state,
)
from mountcomm.net.pair_policy import ATTEMPT_LOG_EVERY, loss_event, should_log_attempt

S, E = ConnectorState, ConnectorEvent

EXPECTED = {
    (S.IDLE, E.CONNECT): S.CONNECTING,
    (S.IDLE, E.CLOSE): S.CLOSED,
    (S.CONNECTING, E.ADOPTED): S.CONNECTED,
    (S.CONNECTING, E.GAVE_UP): S.IDLE,
    (S.CONNECTING, E.CLOSE): S.CLOSED,
    (S.CONNECTED, E.LOST): S.IDLE,
    (S.CONNECTED, E.INTERRUPTED): S.RECONNECTING,
    (S.CONNECTED, E.STOP): S.IDLE,
    (S.CONNECTED, E.CLOSE): S.CLOSED,
    (S.RECONNECTING, E.ADOPTED): S.CONNECTED,
    (S.RECONNECTING, E.GAVE_UP): S.IDLE,
    (S.RECONNECTING, E.CLOSE): S.CLOSED,
}
"""Every allowed (state, event) and where it leads; every other pair is refused."""


@pytest.mark.parametrize(("state", "event"), list(itertools.product(S, E)))
def test_every_state_and_event(state: ConnectorState, event: ConnectorEvent) -> None:
    machine = ConnectorMachine()
    machine.state = state  # set up the pair under test
    expected = EXPECTED.get((state, event))
    if expected is None:
        with pytest.raises(
            RuntimeError, match=f"{event.name} is not allowed in state {state.name}"
        ):
            machine.handle(event)
        assert machine.state is state  # a refused event changes nothing
    else:
        assert machine.handle(event) is expected
        assert machine.state is expected
        assert next_state(state, event) is expected


def test_the_table_is_exactly_the_expected_one() -> None:
    table = {(s, e): n for s, row in TRANSITIONS.items() for e, n in row.items()}
    assert table == EXPECTED
    assert not TRANSITIONS[S.CLOSED]  # terminal


def test_a_life_with_a_reconnection() -> None:
    machine = ConnectorMachine()
    assert machine.state is S.IDLE and not machine.attempting
    for event, state, attempting in [
        (E.CONNECT, S.CONNECTING, True),
        (E.ADOPTED, S.CONNECTED, False),
        (E.INTERRUPTED, S.RECONNECTING, True),
        (E.ADOPTED, S.CONNECTED, False),
        (E.LOST, S.IDLE, False),
        (E.CLOSE, S.CLOSED, False),
    ]:
        assert machine.handle(event) is state
        assert machine.attempting is attempting
    assert repr(machine) == "ConnectorMachine(CLOSED)"


def test_check_transition_and_the_old_name() -> None:
    check_transition(S.IDLE, S.CONNECTING)
    with pytest.raises(RuntimeError, match="IDLE -> CONNECTED"):
        check_transition(S.IDLE, S.CONNECTED)
    assert client_state.ClientState is ConnectorState  # older imports keep working


def test_what_a_loss_means() -> None:
    assert loss_event(auto_reconnect=True) is E.INTERRUPTED
    assert loss_event(auto_reconnect=False) is E.LOST


def test_which_failed_attempts_are_logged() -> None:
    logged = [n for n in range(1, 3 * ATTEMPT_LOG_EVERY + 1) if should_log_attempt(n)]
    assert logged == [1, ATTEMPT_LOG_EVERY, 2 * ATTEMPT_LOG_EVERY, 3 * ATTEMPT_LOG_EVERY]


def test_the_states_each_state_may_lead_to() -> None:
    allowed = {s: frozenset(row.values()) for s, row in TRANSITIONS.items()}
    assert allowed == {
        S.IDLE: {S.CONNECTING, S.CLOSED},
        S.CONNECTING: {S.CONNECTED, S.IDLE, S.CLOSED},
        S.CONNECTED: {S.IDLE, S.RECONNECTING, S.CLOSED},
        S.RECONNECTING: {S.CONNECTED, S.IDLE, S.CLOSED},
        S.CLOSED: frozenset(),
    }
    for old, new in itertools.product(S, S):
        if new in allowed[old]:
            check_transition(old, new)
        else:
            with pytest.raises(RuntimeError, match="invalid client state transition"):
                check_transition(old, new)
