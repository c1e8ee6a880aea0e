"""The client connection of a `ClientServerPair` as a state machine that drives (pure).

::

    IDLE ──CONNECT──▶ CONNECTING ──ADOPTED──▶ CONNECTED ──INTERRUPTED──▶ RECONNECTING
     ▲                  │                      │    ▲                      │
     │◀─GAVE_UP─────────┘                      │    └──────ADOPTED─────────┘
     │◀─────────────── LOST / STOP ────────────┘                           │
     │◀─────────────── GAVE_UP ────────────────────────────────────────────┘
    every state ──CLOSE──▶ CLOSED (terminal)

`TRANSITIONS` maps (state, event) to the next state; `ConnectorMachine.handle`
is the only writer of the state, and raises `RuntimeError` for an event that
cannot happen in the current state (a bug in the glue). The glue sends the
events it observes and acts on the state it gets back; which event a loss is
(``LOST`` or ``INTERRUPTED``) is decided by `mountcomm.net.pair_policy`.

A connection attempt that produced a link already lost (the peer accepted and
closed at once) is a failed attempt, not an event: the state stays CONNECTING
or RECONNECTING and the attempt is retried after the backoff delay.

The states are a `ConnectorState`. (Older releases called it ``ClientState``;
that name stays importable from this module as an alias, but `MountClient`'s
life cycle is `mountcomm.commanding.ClientState`, a different machine.)
"""

from __future__ import annotations

__all__ = [
    "TRANSITIONS",
    "ConnectorEvent",
    "ConnectorMachine",
    "ConnectorState",
    "check_transition",
    "next_state",
]

import enum
from collections.abc import Mapping
from types import MappingProxyType

from .._machine import StateMachine, transition


class ConnectorState(enum.Enum):
    """State of the client connection of a `ClientServerPair`."""

    IDLE = "idle"
    """No connection and no attempt under way (initial; after a loss without
    ``auto_reconnect``; after `close_client`)."""
    CONNECTING = "connecting"
    """`connect_client` is making a connection."""
    CONNECTED = "connected"
    """The client connection is up."""
    RECONNECTING = "reconnecting"
    """``reconnect_task`` is making a connection after a loss."""
    CLOSED = "closed"
    """`close` was called (terminal)."""


class ConnectorEvent(enum.Enum):
    """What the glue of a `ClientServerPair` observes about its client connection."""

    CONNECT = "connect"
    """`connect_client` starts making a connection."""
    ADOPTED = "adopted"
    """An attempt produced an open connection, now the client connection."""
    GAVE_UP = "gave_up"
    """The attempts ended without a connection (failed, or stopped by `close_client`)."""
    LOST = "lost"
    """The connection ended (by the peer or a failure) and nothing will reconnect it."""
    INTERRUPTED = "interrupted"
    """The connection ended and ``auto_reconnect`` will make it again."""
    STOP = "stop"
    """This side closed the connected client connection (`close_client`)."""
    CLOSE = "close"
    """`close` was called."""


ClientState = ConnectorState
"""Alias of `ConnectorState` under its old name (kept for older imports)."""

_S = ConnectorState
_E = ConnectorEvent

TRANSITIONS: Mapping[ConnectorState, Mapping[ConnectorEvent, ConnectorState]] = MappingProxyType(
    {
        _S.IDLE: MappingProxyType({_E.CONNECT: _S.CONNECTING, _E.CLOSE: _S.CLOSED}),
        _S.CONNECTING: MappingProxyType(
            {_E.ADOPTED: _S.CONNECTED, _E.GAVE_UP: _S.IDLE, _E.CLOSE: _S.CLOSED}
        ),
        _S.CONNECTED: MappingProxyType(
            {
                _E.LOST: _S.IDLE,
                _E.INTERRUPTED: _S.RECONNECTING,
                _E.STOP: _S.IDLE,
                _E.CLOSE: _S.CLOSED,
            }
        ),
        _S.RECONNECTING: MappingProxyType(
            {_E.ADOPTED: _S.CONNECTED, _E.GAVE_UP: _S.IDLE, _E.CLOSE: _S.CLOSED}
        ),
        _S.CLOSED: MappingProxyType({}),
    }
)
"""``TRANSITIONS[state][event]`` is the next state; a missing entry cannot happen."""


def next_state(state: ConnectorState, event: ConnectorEvent) -> ConnectorState:
    """Return the state after ``event`` in ``state`` (`RuntimeError` if it cannot happen)."""
    return transition(TRANSITIONS, state, event, "client connection")


def check_transition(old: ConnectorState, new: ConnectorState) -> None:
    """Raise `RuntimeError` unless some event of `TRANSITIONS` leads from ``old`` to ``new``."""
    if new not in TRANSITIONS[old].values():
        raise RuntimeError(f"invalid client state transition {old.name} -> {new.name}")


class ConnectorMachine(StateMachine[ConnectorState, ConnectorEvent]):
    """The current `ConnectorState` of one client connection (starts as ``IDLE``),
    changed only by `handle`."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(ConnectorState.IDLE)

    def next_state(self, state: ConnectorState, event: ConnectorEvent) -> ConnectorState:
        return next_state(state, event)

    @property
    def attempting(self) -> bool:
        """True in CONNECTING and RECONNECTING: an attempt task is making a connection."""
        return self.state is _S.CONNECTING or self.state is _S.RECONNECTING
