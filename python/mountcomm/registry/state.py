"""The life of a `PortRegistry` as data: its states and the changes allowed.

As in h11's ``_state.py``: the states are an enum and the transitions a table;
`check_transition` refuses any other change, so a window in which the client
is in no well-defined state cannot arise unnoticed.
"""

from __future__ import annotations

__all__ = ["ANY_USER", "TRANSITIONS", "Cause", "State", "check_transition", "trust"]

import enum
from collections.abc import Iterable
from dataclasses import dataclass

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


TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.CONNECTING, State.CLOSED}),
    State.CONNECTING: frozenset({State.IDLE, State.CONNECTED, State.CLOSED}),
    State.CONNECTED: frozenset({State.RECONNECTING, State.CLOSED}),
    State.RECONNECTING: frozenset({State.RESUMING, State.CLOSED}),
    State.RESUMING: frozenset({State.CONNECTED, State.RECONNECTING, State.CLOSED}),
    State.CLOSED: frozenset(),
}
"""The state changes a `PortRegistry` may make; any other is a bug (`RuntimeError`)."""


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


def check_transition(old: State, new: State) -> None:
    """Raise `RuntimeError` unless ``TRANSITIONS`` allows going from ``old`` to ``new``."""
    if new is not old and new not in TRANSITIONS[old]:
        raise RuntimeError(f"PortRegistry cannot go from {old.value} to {new.value}")
