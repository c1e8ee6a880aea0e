"""The life cycle of a `MountClient`, as data: states, events and a transition table.

Pure: no I/O, no event loop. `MountClient` feeds it the events it observes and
acts on the state it is told (see doc/commanding.md, "Life cycle")::

    CONNECTING ──CONNECTED──▶ CONNECTED ──INTERRUPTED──▶ RECONNECTING
        │                     │    ▲                        │
        │                     │    └───────CONNECTED────────┘
        │                     │
        └──LOST──▶ LOST ◀─────┴─(LOST; also from RECONNECTING)
    every state except CLOSED ──CLOSE──▶ CLOSED
"""

from __future__ import annotations

__all__ = ["TRANSITIONS", "ClientEvent", "ClientState", "Lifecycle", "next_state"]

import enum
from collections.abc import Mapping
from types import MappingProxyType

from .._machine import StateMachine, transition


class ClientState(enum.Enum):
    """Where a `MountClient` is in its life."""

    CONNECTING = "connecting"
    """`start` is under way; `send` raises `RuntimeError`."""
    CONNECTED = "connected"
    """Both connections are up; commands may be sent."""
    RECONNECTING = "reconnecting"
    """``auto_reconnect``: a connection was lost; `send` raises `ConnectionClosedError`."""
    LOST = "lost"
    """Ended for good by a failure (start failed, or lost without ``auto_reconnect``)."""
    CLOSED = "closed"
    """`close` was called. Final."""


class ClientEvent(enum.Enum):
    """What a `MountClient` observes."""

    CONNECTED = "connected"
    """Both connections are up."""
    INTERRUPTED = "interrupted"
    """A connection was lost (or reset after an ACK timeout) and will be made again."""
    LOST = "lost"
    """A connection was lost (or could not be made) for good."""
    CLOSE = "close"
    """`close` was called."""


_S = ClientState
_E = ClientEvent

TRANSITIONS: Mapping[ClientState, Mapping[ClientEvent, ClientState]] = MappingProxyType(
    {
        _S.CONNECTING: MappingProxyType(
            {_E.CONNECTED: _S.CONNECTED, _E.LOST: _S.LOST, _E.CLOSE: _S.CLOSED}
        ),
        _S.CONNECTED: MappingProxyType(
            {_E.INTERRUPTED: _S.RECONNECTING, _E.LOST: _S.LOST, _E.CLOSE: _S.CLOSED}
        ),
        _S.RECONNECTING: MappingProxyType(
            {_E.CONNECTED: _S.CONNECTED, _E.LOST: _S.LOST, _E.CLOSE: _S.CLOSED}
        ),
        _S.LOST: MappingProxyType({_E.CLOSE: _S.CLOSED}),
        _S.CLOSED: MappingProxyType({}),
    }
)
"""``TRANSITIONS[state][event]`` is the next state; a missing entry is a bug."""

ENDED = frozenset({ClientState.LOST, ClientState.CLOSED})
"""States from which the client never connects again."""


def next_state(state: ClientState, event: ClientEvent) -> ClientState:
    """Return the state after ``event`` in ``state`` (`RuntimeError` if it cannot happen)."""
    return transition(TRANSITIONS, state, event, "MountClient")


class Lifecycle(StateMachine[ClientState, ClientEvent]):
    """The current `ClientState` of one client (starts as ``CONNECTING``), changed only
    through `handle`."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(ClientState.CONNECTING)

    def next_state(self, state: ClientState, event: ClientEvent) -> ClientState:
        return next_state(state, event)

    @property
    def ended(self) -> bool:
        """True in ``LOST`` and ``CLOSED``: the client will not connect again."""
        return self.state in ENDED
