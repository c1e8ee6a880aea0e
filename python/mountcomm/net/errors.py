"""Connection-loss errors that need asyncio (kept out of `mountcomm.exceptions`).

`mountcomm.exceptions` is imported by the sans-I/O protocol layer, which must not
import asyncio; the one exception that must also be an
`asyncio.IncompleteReadError` lives here instead.
"""

from __future__ import annotations

__all__ = ["IncompleteFrameError", "PeerClosedError"]

import asyncio

from ..exceptions import ConnectionClosedError


class PeerClosedError(ConnectionClosedError):
    """The peer closed the connection (it sent EOF).

    The cause recorded when a connection ends by the peer's choice (`Link.lost`,
    `ConnectionChange.cause`); errors raised because of that end are chained
    to it. A `ConnectionClosedError`, hence a `ConnectionResetError`.
    """


class IncompleteFrameError(ConnectionClosedError, asyncio.IncompleteReadError):
    """The peer closed the connection (EOF) before the end of a frame.

    Raised by `mountcomm.net.Communicator.read` when the peer closes, in the
    middle of a frame (``partial`` holds its bytes) or between frames
    (``partial`` is empty), as `asyncio.StreamReader.readuntil` reports EOF.
    It is a `ConnectionClosedError` (so also a `ConnectionResetError`) and an
    `asyncio.IncompleteReadError`: code written for the original classes,
    which catches ``(ConnectionResetError, asyncio.IncompleteReadError)`` (or
    only one of them) around a read, sees it. Catch `ConnectionClosedError` in
    new code.

    Parameters
    ----------
    message : `str`
        What happened.
    partial : `bytes`
        The bytes of the unfinished frame; empty if the peer closed between
        frames.

    Attributes
    ----------
    partial : `bytes`
        As given.
    expected : `None`
        As for `asyncio.IncompleteReadError` when no byte count was expected.
    """

    def __init__(self, message: str, partial: bytes) -> None:
        ConnectionClosedError.__init__(self, message)
        self.partial = partial
        self.expected = None

    def __reduce__(self) -> tuple[type[IncompleteFrameError], tuple[str, bytes]]:
        return type(self), (str(self), self.partial)
