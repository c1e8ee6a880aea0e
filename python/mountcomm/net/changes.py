"""Typed connection changes, each carrying its cause (pure: no I/O, no event loop).

Every class of `mountcomm.net` that owns connections (`OneClientServer`,
`ClientServerPair`, `Communicator`) reports what happened to them as a
`ConnectionChange`: which side went up or was lost, or that the owner closed,
and *why* (the first error recorded when the connection ended). Consumers act
on the change they are given instead of comparing ``client_connected`` and
``server_connected`` with what they saw before, and chain the errors they raise
to the cause (``raise ... from change.cause``).

``connect_callback(pair)``, the callback of the original classes, is an adapter
on top: it is called for the changes `ConnectionChange.calls_back` selects.
"""

from __future__ import annotations

__all__ = ["Change", "ChangeListener", "ChangeListeners", "ConnectionChange", "describe_cause"]

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Change(enum.Enum):
    """What happened to a connection."""

    CLIENT_UP = "client_up"
    """The outbound (client) connection is up."""
    CLIENT_LOST = "client_lost"
    """The outbound (client) connection ended."""
    SERVER_UP = "server_up"
    """A peer connected to the server."""
    SERVER_LOST = "server_lost"
    """The peer's connection to the server ended."""
    CLOSED = "closed"
    """The owner was closed (final; sent once)."""


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """One change of a connection-owning object.

    Attributes
    ----------
    kind : `Change`
        What happened.
    cause : `BaseException` or `None`
        For a loss: the first error recorded when the connection ended (an
        `OSError` of the transport, `PeerClosedError` for the peer's EOF, the
        reason given to an abort); `None` when this side closed it. For
        ``CLOSED``: the cause of the last loss before the close, if any. `None`
        for the ``*_UP`` changes.
    local : `bool`
        True when this side ended the connection (``close_client``, ``close``).
    """

    kind: Change
    cause: BaseException | None = None
    local: bool = False

    @property
    def is_loss(self) -> bool:
        """True for ``CLIENT_LOST`` and ``SERVER_LOST``."""
        return self.kind in _LOSSES

    @property
    def calls_back(self) -> bool:
        """Whether ``connect_callback`` is called for this change (the old contract).

        It is called whenever ``client_connected`` or ``server_connected``
        changes, except when this side closes the client connection
        (``close_client`` does not call the callback) and for ``CLOSED``.
        """
        kind = self.kind
        if kind is Change.CLOSED:
            return False
        return not (kind is Change.CLIENT_LOST and self.local)


_LOSSES = frozenset({Change.CLIENT_LOST, Change.SERVER_LOST})

ChangeListener = Callable[[ConnectionChange], Any]
"""``listener(change)``: a plain function, called synchronously; exceptions are logged."""


class ChangeListeners:
    """An ordered set of `ChangeListener`; `emit` calls each and never raises.

    The listeners are a tuple, replaced when one is added or removed: most
    owners have none or one, and `emit` iterates over the tuple it finds
    (a listener added or removed meanwhile takes effect from the next change).

    Parameters
    ----------
    log : structlog logger
        Where a failing listener is logged.
    """

    __slots__ = ("_listeners", "_log")

    def __init__(self, log: Any) -> None:
        self._listeners: tuple[ChangeListener, ...] = ()
        self._log = log

    def add(self, listener: ChangeListener) -> None:
        """Call ``listener`` for every later change (in the order added)."""
        self._listeners = (*self._listeners, listener)

    def remove(self, listener: ChangeListener) -> None:
        """Stop calling ``listener``; nothing happens if it is not registered."""
        listeners = list(self._listeners)
        if listener in listeners:
            listeners.remove(listener)
            self._listeners = tuple(listeners)

    def emit(self, change: ConnectionChange) -> None:
        """Call every listener with ``change``; exceptions are logged, never raised."""
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                self._log.exception("change_listener_failed", change=change.kind.value)


def describe_cause(cause: BaseException | None) -> str:
    """A short text for logs: ``"closed here"`` or ``"Type: message"``."""
    return "closed here" if cause is None else f"{type(cause).__name__}: {cause}"
