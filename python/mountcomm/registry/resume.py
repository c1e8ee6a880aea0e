"""The reconnection policy and memory of a `PortRegistry`.

`Resumer` remembers what the client registered (to register it again on a new
daemon), and makes the connection attempts after the delays of
`RECONNECT_POLICY` (the package's one retry policy, `mountcomm.net.retry`).
The backoff goes on across connections that die young (a daemon that accepts
and closes at once gets a few attempts a second, not thousands) and starts
again only after a connection lived `STABLE_AFTER` seconds. It knows nothing
of the client: it is handed what to call.
"""

from __future__ import annotations

__all__ = [
    "MAX_RECONNECT_DELAY",
    "RECONNECT_POLICY",
    "STABLE_AFTER",
    "Record",
    "Resumer",
    "reconnect_delays",
]

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..exceptions import RegistryError, SelfConnectionError
from ..net.retry import RetryPolicy
from ..sockets import SelfConnectionLog
from . import native
from .connection import NativeConnection
from .watch import Send

STABLE_AFTER = 2.0
"""A connection that lived this long resets the reconnection backoff [s]."""

MAX_RECONNECT_DELAY = 0.4
"""Longest delay between two attempts to reconnect to the daemon [s]."""


RECONNECT_POLICY = RetryPolicy(
    0.05, factor=2.0, maximum=MAX_RECONNECT_DELAY, jitter=0.25, stable_time=STABLE_AFTER
)
"""How the registry's clients retry (`PortRegistry`, its reconnection, `PortManager`).

50 ms, doubling up to `MAX_RECONNECT_DELAY`, each shortened by up to a
quarter at random so that the clients of a restarted daemon do not all come
back at once. The cap is short because the daemon is local: a restarted
daemon is found again within half a second of its return.
"""


reconnect_delays = RECONNECT_POLICY.delays
"""Delays between the attempts of a `PortRegistry` to reconnect [s] (a fresh iterator)."""


@dataclass(slots=True)
class Record:
    """What a client asked for, to ask the same of a new daemon."""

    service: str
    user: str | None
    host: str | None = None


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
        Connection attempts made so far.
    delays : `mountcomm.net.retry.RetryDelays`
        The delays owed before the next attempt (`RECONNECT_POLICY`).
    self_connected : `mountcomm.sockets.SelfConnectionLog`
        Logs a refused self-connection (the package's one policy).
    """

    ADDRESS: ClassVar[str] = "daemon"
    """The key of the address in `delays` (a `Resumer` always reconnects to the same)."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.records: dict[int, Record] = {}
        self.attempts = 0
        self.delays = RECONNECT_POLICY.tracker()
        self.self_connected = SelfConnectionLog(log, "registry_self_connection")

    def connection_lost(self, conn: NativeConnection) -> None:
        """Account for the loss of ``conn``: reset the backoff only if it lived long."""
        lived = asyncio.get_running_loop().time() - conn.opened_at
        self.delays.connection_ended(self.ADDRESS, lived)

    async def connect(
        self,
        open_connection: Callable[[], Awaitable[NativeConnection]],
        retry: tuple[type[Exception], ...] = (OSError, TimeoutError),
    ) -> NativeConnection:
        """Call ``open_connection`` after each delay of the backoff until it connects.

        A self-connection is logged (by `self_connected`) and retried, and so
        is an error of ``retry`` (default: a refusal or a timeout; ``()``: the
        first connection of a client, which retries only a self-connection).
        Cancel-safe (the caller's cancellation propagates).
        """
        while True:
            await asyncio.sleep(self.delays.next_delay(self.ADDRESS))  # 0 if none is owed
            self.attempts += 1
            try:
                conn = await open_connection()
            except SelfConnectionError as e:
                self.self_connected(e)
            except retry as e:
                self.log.debug("registry_reconnect_failed", attempt=self.attempts, error=repr(e))
            else:
                self.delays.connected()
                return conn
            self.delays.attempt_failed(self.ADDRESS)

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
