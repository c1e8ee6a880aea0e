"""Connection-loss errors that need asyncio (kept out of `mountcomm.exceptions`).

`mountcomm.exceptions` is imported by the sans-I/O protocol layer, which must not
import asyncio; the one exception that must also be an
`asyncio.IncompleteReadError` lives here instead.
"""

from __future__ import annotations

__all__ = ["IncompleteFrameError"]

import asyncio

from ..exceptions import ConnectionClosedError


class IncompleteFrameError(ConnectionClosedError, asyncio.IncompleteReadError):
    """The peer closed the connection in the middle of a frame.

    A `ConnectionClosedError` (so also a `ConnectionResetError`) that is also an
    `asyncio.IncompleteReadError`, as `asyncio.StreamReader.readuntil` raises on
    EOF: code written for the original classes catches
    ``(ConnectionResetError, asyncio.IncompleteReadError)`` around a read, and
    either clause catches this. Catch `ConnectionClosedError` in new code.

    Parameters
    ----------
    message : `str`
        What happened.
    partial : `bytes`
        The bytes of the unfinished frame (possibly truncated to their start).

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
