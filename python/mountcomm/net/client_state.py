"""The client side of a `ClientServerPair` as an explicit state machine (pure).

::

    IDLE ──connect_client()──▶ CONNECTING ──adopted──▶ CONNECTED
     ▲                           │   ▲                   │    │
     │◀── failed / close_client ─┘   │                   │    │ lost, auto_reconnect
     │                               │                   │    ▼
     │◀────────── lost / close_client ───────────────────┘  RECONNECTING ──adopted──▶ CONNECTED
     │◀────────── reconnect failed / close_client ────────────┘
    any ──close()──▶ CLOSED (terminal)

A connection attempt that produced a link already lost (the peer accepted and
closed at once) is a failed attempt: the state stays CONNECTING or
RECONNECTING and the attempt is retried after the backoff delay.
"""

from __future__ import annotations

__all__ = ["TRANSITIONS", "ClientState", "check_transition"]

import enum


class ClientState(enum.Enum):
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


_S = ClientState

TRANSITIONS: dict[ClientState, frozenset[ClientState]] = {
    _S.IDLE: frozenset({_S.CONNECTING, _S.CLOSED}),
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.IDLE, _S.CLOSED}),
    _S.CONNECTED: frozenset({_S.IDLE, _S.RECONNECTING, _S.CLOSED}),
    _S.RECONNECTING: frozenset({_S.CONNECTED, _S.IDLE, _S.CLOSED}),
    _S.CLOSED: frozenset(),
}
"""The allowed transitions: state -> states it may go to."""


def check_transition(old: ClientState, new: ClientState) -> None:
    """Raise `RuntimeError` unless ``old -> new`` is in `TRANSITIONS`."""
    if new not in TRANSITIONS[old]:
        raise RuntimeError(f"invalid client state transition {old.name} -> {new.name}")
