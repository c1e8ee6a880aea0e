"""The reconnection policy and memory of a `PortRegistry`.

`Resumer` remembers what the client registered (to register it again on a new
daemon), and makes the connection attempts of a reconnection, after the delays
of `reconnect_delays`. The backoff goes on across connections that die young
(a daemon that accepts and closes at once gets a few attempts a second, not
thousands) and starts again only after a connection lived `STABLE_AFTER`
seconds. It knows nothing of the client: it is handed what to call
(`connect`'s ``open``, `reregister`'s ``send``).
"""

from __future__ import annotations

__all__ = ["MAX_RECONNECT_DELAY", "STABLE_AFTER", "Record", "Resumer", "reconnect_delays"]

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from ..exceptions import RegistryError, SelfConnectionError
from ..net.retry import backoff
from . import native
from .connection import NativeConnection
from .watch import Send

STABLE_AFTER = 2.0
"""A connection that lived this long resets the reconnection backoff [s]."""

MAX_RECONNECT_DELAY = 0.4
"""Longest delay between two attempts to reconnect to the daemon [s]."""


def reconnect_delays() -> Iterator[float]:
    """Delays between the attempts of a `PortRegistry` to reconnect [s].

    50 ms, doubling up to `MAX_RECONNECT_DELAY`, each shortened by up to a
    quarter at random so that the clients of a restarted daemon do not all come
    back at once. The cap is short because the daemon is local: a restarted
    daemon is found again within half a second of its return.
    """
    return backoff(0.05, factor=2.0, maximum=MAX_RECONNECT_DELAY, jitter=0.25)


class Record:
    """What a client asked for, to ask the same of a new daemon."""

    __slots__ = ("host", "service", "user")

    def __init__(self, service: str, user: str | None, host: str | None = None) -> None:
        self.service = service
        self.user = user
        self.host = host


class Resumer:
    """The reconnection policy and memory of one `PortRegistry`.

    Parameters
    ----------
    log : structlog logger
        The client's logger.

    Attributes
    ----------
    records : `dict` [`int`, `Record`]
        Port -> what to register again.
    attempts : `int`
        Connection attempts made by reconnections so far.
    """

    def __init__(self, log: Any) -> None:
        self.log = log
        self.records: dict[int, Record] = {}
        self.attempts = 0
        self._delays = reconnect_delays()
        self._immediate = True
        self._self_connection_logged = False

    def connection_lost(self, conn: NativeConnection) -> None:
        """Account for the loss of ``conn``: reset the backoff only if it lived long."""
        lived = asyncio.get_running_loop().time() - conn.opened_at
        if lived >= STABLE_AFTER:
            self._delays = reconnect_delays()
            self._immediate = True
        else:
            self._immediate = False

    def self_connected(self, error: SelfConnectionError) -> None:
        """Log a self-connection: a warning the first time, then at debug level."""
        if self._self_connection_logged:
            self.log.debug("registry_self_connection", error=str(error))
        else:
            self._self_connection_logged = True
            self.log.warning("registry_self_connection", error=str(error), retrying=True)

    async def pause(self) -> None:
        """Wait for the next delay of the backoff (at once after a long-lived connection)."""
        if self._immediate:
            self._immediate = False
            return
        await asyncio.sleep(next(self._delays))

    async def connect(
        self, open_connection: Callable[[], Awaitable[NativeConnection]]
    ) -> NativeConnection:
        """Call ``open_connection`` after each delay of the backoff until it connects.

        A self-connection, a refusal or a timeout is logged and retried.
        Cancel-safe (the caller's cancellation propagates).
        """
        while True:
            await self.pause()
            self.attempts += 1
            try:
                return await open_connection()
            except SelfConnectionError as e:
                self.self_connected(e)
            except (OSError, TimeoutError) as e:
                self.log.debug("registry_reconnect_failed", attempt=self.attempts, error=repr(e))

    async def reregister(self, send: Send) -> None:
        """Register again, with ``send``, every entry the client holds.

        An entry the new daemon refuses is logged as ``reregister_failed``
        and forgotten. A lost connection propagates.
        """
        for port, record in list(self.records.items()):
            request = native.Register(record.service, port, record.user, host=record.host)
            try:
                reply = await send(request)
            except RegistryError as e:
                self.records.pop(port, None)
                self.log.warning(
                    "reregister_failed", port=port, service=record.service, error=str(e)
                )
            else:
                record.service = reply.entry.service
