"""The MountClient life cycle as a table (pure: no loop, no sockets)."""

from __future__ import annotations

import pytest

from mountcomm.commanding.lifecycle import (
    ENDED,
    TRANSITIONS,
    ClientEvent,
    ClientState,
    Lifecycle,
    next_state,
)

S, E = ClientState, ClientEvent

EXPECTED = {
    (S.CONNECTING, E.CONNECTED): S.CONNECTED,
    (S.CONNECTING, E.LOST): S.LOST,
    (S.CONNECTING, E.CLOSE): S.CLOSED,
    (S.CONNECTED, E.INTERRUPTED): S.RECONNECTING,
    (S.CONNECTED, E.LOST): S.LOST,
    (S.CONNECTED, E.CLOSE): S.CLOSED,
    (S.RECONNECTING, E.CONNECTED): S.CONNECTED,
    (S.RECONNECTING, E.LOST): S.LOST,
    (S.RECONNECTING, E.CLOSE): S.CLOSED,
    (S.LOST, E.CLOSE): S.CLOSED,
}


@pytest.mark.parametrize("state", list(ClientState))
@pytest.mark.parametrize("event", list(ClientEvent))
def test_every_pair_is_either_a_transition_or_refused(
    state: ClientState, event: ClientEvent
) -> None:
    expected = EXPECTED.get((state, event))
    if expected is None:
        with pytest.raises(RuntimeError, match=f"{event.name} is not allowed in state"):
            next_state(state, event)
    else:
        assert next_state(state, event) is expected


def test_table_is_complete_and_read_only() -> None:
    assert set(TRANSITIONS) == set(ClientState)
    assert {(s, e) for s, row in TRANSITIONS.items() for e in row} == set(EXPECTED)
    with pytest.raises(TypeError):
        TRANSITIONS[S.CLOSED][E.CONNECTED] = S.CONNECTED  # type: ignore[index]


def test_closed_is_final_and_close_is_reachable_from_every_other_state() -> None:
    assert TRANSITIONS[S.CLOSED] == {}
    for state in ClientState:
        if state is not S.CLOSED:
            assert TRANSITIONS[state][E.CLOSE] is S.CLOSED
    # Nothing leads out of the ended states except LOST -> CLOSED.
    for state in ENDED:
        assert set(TRANSITIONS[state].values()) <= {S.CLOSED}


def test_lifecycle_follows_a_reconnecting_life() -> None:
    life = Lifecycle()
    assert life.state is S.CONNECTING
    assert not life.ended
    for event, state in [
        (E.CONNECTED, S.CONNECTED),
        (E.INTERRUPTED, S.RECONNECTING),
        (E.CONNECTED, S.CONNECTED),
        (E.LOST, S.LOST),
    ]:
        assert life.handle(event) is state
    assert life.ended
    with pytest.raises(RuntimeError):
        life.handle(E.CONNECTED)
    assert life.state is S.LOST  # a refused event changes nothing
    assert life.handle(E.CLOSE) is S.CLOSED
    assert repr(life) == "Lifecycle(CLOSED)"
