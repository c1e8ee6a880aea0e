"""The life of a `PortRegistry` as data: its states, the events it observes, a table.

As in h11's ``_state.py``: the states and events are enums and
``TRANSITIONS[state][event]`` is the next state. `PortRegistry` sends the events
it observes to its `Machine` (the package's one driver, `mountcomm._machine`),
the only writer of its state, and acts on the state it gets back; an event the
table does not list for a state is a bug (`RuntimeError`), so a window in which
the client is in no well-defined state cannot arise unnoticed. Pure: no I/O, no
event loop::

    IDLE ──CONNECT──▶ CONNECTING ──CONNECTED──▶ CONNECTED ──LOST──▶ RECONNECTING
      ▲                   │                        ▲                 │   ▲
      └──CONNECT_FAILED───┘                        │           RECONNECTED│LOST
                                                   └──CONNECTED── RESUMING ┘
    every state ──CLOSE──▶ CLOSED
"""

from __future__ import annotations

__all__ = ["ANY_USER", "TRANSITIONS", "Cause", "Event", "Machine", "State", "next_state", "trust"]

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .._machine import StateMachine, transition
from ..exceptions import ConnectionClosedError

ANY_USER = "*"
"""``trusted_users=ANY_USER``: a lookup that accepts entries of every owner."""


class State(enum.Enum):
    """Where a `PortRegistry` is in its life."""

    IDLE = "idle"
    """Never connected (or the first connection failed)."""
    CONNECTING = "connecting"
    """The first connection is being made."""
    CONNECTED = "connected"
    """Connected (and, after a reconnection, resumed)."""
    RECONNECTING = "reconnecting"
    """The connection was lost; ``reconnect_task`` is trying to connect again."""
    RESUMING = "resuming"
    """Connected again; registering again and resuming watches."""
    CLOSED = "closed"
    """Closed by `close`, or the connection was lost without ``reconnect``. Final."""


class Event(enum.Enum):
    """What a `PortRegistry` observes."""

    CONNECT = "connect"
    """`connect` starts the first connection."""
    CONNECT_FAILED = "connect_failed"
    """The first connection could not be made (`connect` may be called again)."""
    CONNECTED = "connected"
    """The first connection is made, or a new one is resumed."""
    LOST = "lost"
    """The connection was lost, and ``reconnect`` will make it again."""
    RECONNECTED = "reconnected"
    """A new connection is made: registering again and resuming watches."""
    CLOSE = "close"
    """`close` was called, or the connection was lost for good."""


_S = State
_E = Event

TRANSITIONS: Mapping[State, Mapping[Event, State]] = MappingProxyType(
    {
        _S.IDLE: MappingProxyType({_E.CONNECT: _S.CONNECTING, _E.CLOSE: _S.CLOSED}),
        _S.CONNECTING: MappingProxyType(
            {_E.CONNECT_FAILED: _S.IDLE, _E.CONNECTED: _S.CONNECTED, _E.CLOSE: _S.CLOSED}
        ),
        _S.CONNECTED: MappingProxyType({_E.LOST: _S.RECONNECTING, _E.CLOSE: _S.CLOSED}),
        _S.RECONNECTING: MappingProxyType(
            {_E.LOST: _S.RECONNECTING, _E.RECONNECTED: _S.RESUMING, _E.CLOSE: _S.CLOSED}
        ),
        _S.RESUMING: MappingProxyType(
            {_E.CONNECTED: _S.CONNECTED, _E.LOST: _S.RECONNECTING, _E.CLOSE: _S.CLOSED}
        ),
        _S.CLOSED: MappingProxyType({_E.CLOSE: _S.CLOSED}),
    }
)
"""``TRANSITIONS[state][event]`` is the next state; a missing entry is a bug."""


def next_state(state: State, event: Event) -> State:
    """Return the state after ``event`` in ``state`` (`RuntimeError` if it cannot happen)."""
    return transition(TRANSITIONS, state, event, "PortRegistry")


class Machine(StateMachine[State, Event]):
    """The `State` of one `PortRegistry` (``IDLE`` at first), changed only by `handle`."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(State.IDLE)

    def next_state(self, state: State, event: Event) -> State:
        return next_state(state, event)


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a connection ended: the error (`None`: `close`), a message, final or not."""

    error: BaseException | None
    message: str
    final: bool = False

    def exception(self, suffix: str = "") -> ConnectionClosedError:
        """A new `ConnectionClosedError` saying so, chained to the error."""
        e = ConnectionClosedError(self.message + suffix)
        e.__cause__ = self.error
        return e


def trust(users: Iterable[str] | str) -> tuple[str, ...] | None:
    """Normalise a ``trusted_users`` argument: a tuple of names, or `None` for anyone.

    Raises
    ------
    TypeError
        If ``users`` is a single string other than `ANY_USER`.
    """
    if users == ANY_USER:
        return None
    if isinstance(users, str):
        raise TypeError(
            f"trusted_users must be a collection of user names or ANY_USER, got {users!r}"
        )
    return tuple(users)
